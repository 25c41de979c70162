"""The IOM section: harm bands and the ranked low-medium harm offenders."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd

from wmp_pipeline.harm.bands import BANDS
from wmp_pipeline.reports import charts
from wmp_pipeline.reports.briefing.formatting import _band_label, harm_trend_cell
from wmp_pipeline.reports.briefing.model import HARM_TREND_DAYS, IOM_WEEKS, KEYS, RISK, Cell, Section, Table
from wmp_pipeline.reports.formatting import fmt_int, fmt_pct
from wmp_pipeline.reports.tables import query, require, table_columns


def _risk_week(con: duckdb.DuckDBPyConnection, forecast_date: date) -> date | None:
    row = con.execute(f"select max(cast(week as date)) from {RISK} where cast(week as date) <= ?", [forecast_date]).fetchall()[0]
    return row[0] if row and row[0] else None


def harm_scores_before(
    con: duckdb.DuckDBPyConnection, week: date, offender_keys: list[str], days: int = HARM_TREND_DAYS
) -> dict[str, float] | None:
    """Harm score of each offender ``days`` before ``week`` (``None``: no source holds that week).

    Read from ``iom_risk_scores`` when it keeps that week, else from
    ``iom_offender_week`` through the restricted key table (inside the
    working database; only the pseudonym leaves this function). A person with
    no row that week had no charge in the lookback: harm 0.
    """
    then = week - timedelta(days=days)
    if require(con, RISK, ["offender_key", "week", "harm_score"]) is None:
        rows = con.execute(
            f"select offender_key, harm_score from {RISK} where cast(week as date) = ?", [then]
        ).fetchall()
        if rows:
            known = {k: float(v) for k, v in rows}
            return {k: known.get(k, 0.0) for k in offender_keys}
    if require(con, IOM_WEEKS, ["person_id", "week", "harm_score"]) is None and require(con, KEYS, ["offender_key", "person_id"]) is None:
        any_rows = con.execute(f"select count(*) from {IOM_WEEKS} where cast(week as date) = ?", [then]).fetchall()[0][0]
        if any_rows:
            con.register("_briefing_keys", pd.DataFrame({"offender_key": offender_keys}))
            try:
                rows = con.execute(
                    f"""select k.offender_key, w.harm_score
                        from _briefing_keys b join {KEYS} k using (offender_key)
                        join {IOM_WEEKS} w on w.person_id = k.person_id and cast(w.week as date) = ?""",
                    [then],
                ).fetchall()
            finally:
                con.unregister("_briefing_keys")
            known = {k: float(v) for k, v in rows}
            return {k: known.get(k, 0.0) for k in offender_keys}
    return None


def band_distribution(con: duckdb.DuckDBPyConnection, week: date) -> tuple[pd.DataFrame, str]:
    """Offenders per band on ``week``: everyone charged in the lookback (from the dbt
    model) when available, else the scored offenders."""
    if require(con, IOM_WEEKS, ["week", "band"]) is None:
        df = query(con, f"select band, count(*) as n from {IOM_WEEKS} where cast(week as date) = ? group by band", [week])
        if len(df):
            source = "everyone charged within the lookback (iom_offender_week)"
            return _order_bands(df), source
    df = query(con, f"select band, count(*) as n from {RISK} where cast(week as date) = ? group by band", [week])
    return _order_bands(df), "offenders scored by the model (iom_risk_scores)"


def _order_bands(df: pd.DataFrame) -> pd.DataFrame:
    order = {b: i for i, b in enumerate(BANDS)}
    df = df.assign(order=df["band"].map(lambda b: order.get(str(b), len(order))), label=df["band"].map(_band_label))
    full = pd.DataFrame({"band": list(BANDS), "label": [_band_label(b) for b in BANDS], "order": range(len(BANDS))})
    df = full.merge(df[["band", "n"]], on="band", how="left").fillna({"n": 0})
    return df.sort_values("order").reset_index(drop=True)


def iom_section(con: duckdb.DuckDBPyConnection, forecast_date: date, list_size: int = 50) -> Section:
    section = Section(anchor="iom", title="IOM: low-medium harm offenders most likely to become high harm")
    missing = require(con, RISK, ["offender_key", "week", "probability", "band"])
    if missing:
        section.unavailable = str(missing)
        return section
    week = _risk_week(con, forecast_date)
    if week is None:
        section.unavailable = f"Not available this week: no IOM scores dated on or before {forecast_date}."
        return section
    if week != forecast_date:
        section.notes.append(f"The newest IOM scores are of {week:%d %b %Y}, not this week's {forecast_date:%d %b %Y}.")
    cols = table_columns(con, RISK)
    reasons = [c for c in ("reason_1", "reason_2", "reason_3") if c in cols]
    extra = [c for c in ("rank", "harm_score", "model_version") if c in cols]
    scored = query(
        con,
        f"select offender_key, band, probability{''.join(', ' + c for c in extra + reasons)} from {RISK} "
        "where cast(week as date) = ? order by probability desc, offender_key",
        [week],
    )
    # high and super high harm offenders are listed without a probability: the model is about reaching high harm
    scored = scored[scored["probability"].notna()].reset_index(drop=True)
    low_medium = scored[scored["band"] == "low_medium"]
    if "rank" in low_medium and low_medium["rank"].notna().all():
        low_medium = low_medium.sort_values(["rank", "offender_key"])  # the model's review order
    else:
        low_medium = low_medium.sort_values(["probability", "offender_key"], ascending=[False, True])
    section.intro = (
        "The model estimates, for each charged offender who is not yet high harm, the probability of reaching high "
        "(or super high) harm within 12 months. This list ranks the low-medium harm offenders by that probability, "
        "as the Local Offender Management Units use it: a prompt to research and cross-reference each person with "
        "other sources and local officers' knowledge before any decision about offender management. Offenders are "
        "shown by their pseudonymised key only."
    )
    counts, source = band_distribution(con, week)
    png = charts.band_bars(counts, title=f"Harm bands on {week:%d %b %Y}")
    section.images.append({"src": charts.data_uri(png), "alt": "Offenders per harm band", "css": "half", "role": "bands",
                           "caption": f"Counted over {source}."})
    section.facts += [
        ("Offenders scored", fmt_int(len(scored))),
        ("Of them low-medium harm", fmt_int(len(low_medium))),
        ("Mean probability (low-medium)", fmt_pct(low_medium["probability"].mean(), 1) if len(low_medium) else "–"),
    ]
    if "model_version" in scored and len(scored):
        versions = sorted(scored["model_version"].dropna().astype(str).unique())
        section.facts.append(("Model version", ", ".join(versions) or "–"))
    shown = low_medium.head(list_size)
    before = harm_scores_before(con, week, list(shown["offender_key"])) if len(shown) and "harm_score" in shown else None
    columns = ["#", "Offender key", "Probability", "Band", "Harm score 13 wks ago → now", "Top reasons"]
    rows = []
    for i, r in enumerate(shown.itertuples(index=False), start=1):
        why = [str(getattr(r, c)) for c in reasons if getattr(r, c) is not None and str(getattr(r, c)) not in ("", "nan", "None")]
        now = float(r.harm_score) if "harm_score" in shown else None
        trend = harm_trend_cell(now, before.get(r.offender_key) if before is not None else None)
        rows.append([Cell(str(i)), Cell(r.offender_key, "mono"), Cell(fmt_pct(r.probability, 1)), Cell(_band_label(r.band)),
                     trend, Cell("; ".join(why) or "–", "reasons")])
    caption = (
        f"The {len(shown)} low-medium harm offenders with the highest probability (of {len(low_medium)})."
        " Harm score: days of imprisonment of the offences charged in the last 12 months (Cambridge Crime Harm Index style)."
    )
    if before is None:
        caption += " The harm score 13 weeks ago is not available this week."
    section.headline = (
        f"IOM: {len(scored):,} offenders scored; the top low-medium harm offender's probability of becoming high harm "
        f"is {fmt_pct(low_medium['probability'].max(), 1) if len(low_medium) else '–'}."
    )
    if not len(low_medium):
        section.notes.append("No low-medium harm offender was scored this week.")
    else:
        section.tables.append(Table(columns, rows, numeric={0, 2}, caption=caption))
    return section
