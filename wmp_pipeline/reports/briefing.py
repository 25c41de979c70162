"""The weekly briefing: one self-contained HTML file in place of the Qlik dashboards.

Today the force's hotspot and IOM tools show their output in Qlik
dashboards. This briefing gives each user what they need as one HTML file
that opens in any browser with no BI licence and no network: every picture is
an embedded PNG, the CSS is inline, there are no scripts and no web fonts.

Sections (each one says "not available this week" instead of failing when a
table it reads is missing):

1. **Hotspots**, one per target (knife crime used causing injury; serious
   violence): a map of the top cells over the force area, a table of the top
   20 cells with the predicted count, the count of the last 4 weeks and the
   change in rank since last week, and a 12-month weekly trend.
2. **IOM**, for offender managers: the distribution of harm bands and the
   ranked low-medium harm offenders (pseudonymised ``offender_key`` only)
   with their probability of becoming high harm, harm trend and top reasons.
3. **Model performance** against the baselines, from the backtests.
4. **Data quality**: this week's drops and their counts, open quarantine by
   broken rule (values removed), unknown offence codes and the check results.

:func:`build_briefing` is pure apart from reading the database and the
previous week's rank file; :func:`write_briefing` writes the HTML and this
week's ranks (the hotspot table holds only the latest week, so the ranks are
kept beside the briefing for next week's "change in rank").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import shapely
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

import wmp_pipeline
from wmp_pipeline.harm.bands import BAND_LABELS, BANDS
from wmp_pipeline.iom.briefing_text import latest_selection, served_model_text
from wmp_pipeline.quality.summary import reason_rules
from wmp_pipeline.reports import charts, metrics
from wmp_pipeline.reports.tables import Unavailable, query, require, table_columns, table_exists
from wmp_pipeline.settings import Settings

HORIZON_DAYS = 28
TREND_DAYS = 364
#: weeks at the end of the trend still filling up (crimes are recorded after they happen)
RECORDING_LAG_WEEKS = 2
HARM_TREND_DAYS = 91
PREDICTIONS = "hotspot_predictions"
CELLS = "hotspot_cells"
CRIMES = "int_crimes__classified"
RISK = "iom_risk_scores"
IOM_WEEKS = "iom_offender_week"
KEYS = "restricted_person_keys"
DROP_LOG = "raw.connect_drop_log"
QUARANTINE = "raw.connect_quarantine"
UNKNOWN_CODES = "mart_unknown_offence_codes"
EXPECTATIONS = "dq_expectation_results"
BRIEFINGS_SUBDIR = "briefings"
_GRID_ID = re.compile(r"^(\d+)m_(-?\d+)_(-?\d+)$")


@dataclass(frozen=True)
class Target:
    code: str
    title: str
    crime_flag: str


TARGETS: tuple[Target, ...] = (
    Target("knife_injury", "Knife crime used causing injury", "is_knife_injury"),
    Target("serious_violence", "Serious violence", "is_serious_violence"),
)


# --------------------------------------------------------------------------- view model


@dataclass
class Cell:
    text: str
    css: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    numeric: set[int] = field(default_factory=set)
    caption: str = ""


@dataclass
class Section:
    anchor: str
    title: str
    intro: str = ""
    unavailable: str = ""
    images: list[dict] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    #: one line for the "this week at a glance" box at the top
    headline: str = ""


@dataclass(frozen=True)
class CheckResult:
    """One asset check result, as read from the Dagster instance."""

    asset: str
    check: str
    passed: bool
    severity: str = "ERROR"
    description: str = ""


@dataclass
class Briefing:
    forecast_date: date
    html: str
    #: small counts for Dagster metadata (never person identifiers)
    summary: dict
    #: ``target, cell_id, rank`` of this week, stored for next week's change in rank
    ranks: pd.DataFrame
    sections_unavailable: list[str]
    #: the first hotspot map, for a preview in the Dagster UI
    preview_png: bytes | None = None


# --------------------------------------------------------------------------- formatting


def fmt_int(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(v):,}"


def fmt_num(v, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):,.{digits}f}"


def fmt_value(v) -> str:
    """Any table value as text: dates as YYYY-MM-DD, whole floats without decimals."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return "–"
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat(sep=" ", timespec="minutes")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return fmt_int(v) if v.is_integer() else fmt_num(v, 3)
    if isinstance(v, int):
        return fmt_int(v)
    return str(v)


def fmt_pct(v, digits: int = 0) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * float(v):.{digits}f}%"


def rank_change_cell(rank: int, previous: float | None, have_previous: bool) -> Cell:
    """The change in rank since last week, as a table cell ("▲ 3" = moved up 3 places)."""
    if not have_previous:
        return Cell("–", "muted")
    if previous is None or (isinstance(previous, float) and math.isnan(previous)):
        return Cell("new", "new")
    delta = int(previous) - int(rank)
    if delta > 0:
        return Cell(f"▲ {delta}", "up")
    if delta < 0:
        return Cell(f"▼ {-delta}", "down")
    return Cell("=", "muted")


def harm_trend_cell(now: float | None, before: float | None) -> Cell:
    """Harm score 13 weeks ago → now, with an arrow (rising harm is what managers look for)."""
    if now is None or (isinstance(now, float) and math.isnan(now)):
        return Cell("–", "muted")
    if before is None or (isinstance(before, float) and math.isnan(before)):
        return Cell(f"{now:,.0f} (no earlier score)", "muted")
    if now > before:
        return Cell(f"▲ {before:,.0f} → {now:,.0f}", "down")
    if now < before:
        return Cell(f"▼ {before:,.0f} → {now:,.0f}", "up")
    return Cell(f"= {now:,.0f}", "muted")


def _band_label(code) -> str:
    return BAND_LABELS.get(str(code), str(code))


# --------------------------------------------------------------------------- hotspots


def force_outline(con: duckdb.DuckDBPyConnection, settings: Settings):
    """The force area: the boundary file when configured, else the union of the hotspot cells."""
    if settings.boundary_file and Path(settings.boundary_file).exists():
        import geopandas as gpd

        boundary = gpd.read_file(settings.boundary_file)
        if boundary.crs is None:
            boundary = boundary.set_crs("EPSG:4326")
        return shapely.union_all(boundary.to_crs("EPSG:27700").geometry.values)
    if require(con, CELLS, ["geometry_wkt"]) is not None:
        return None
    where = "where in_force_area" if "in_force_area" in table_columns(con, CELLS) else ""
    wkt = con.execute(f"select geometry_wkt from {CELLS} {where}").fetchall()
    if not wkt:
        return None
    geoms = shapely.from_wkt([w[0] for w in wkt])
    return shapely.union_all(geoms)


def cell_counts_last_weeks(
    con: duckdb.DuckDBPyConnection, target: Target, forecast_date: date, cell_ids: list[str], days: int = HORIZON_DAYS
) -> dict[str, int] | Unavailable:
    """Crimes of ``target`` committed in the ``days`` before the forecast date and
    recorded before it, per cell (square grid ids) or per LSOA unit."""
    missing = require(con, CRIMES, [target.crime_flag, "committed_date", "recorded_at", "easting", "northing", "lsoa_code"])
    if missing:
        return missing
    if not cell_ids:
        return {}
    start = forecast_date - timedelta(days=days)
    grid = _GRID_ID.match(cell_ids[0])
    base = (
        f"from {CRIMES} where {target.crime_flag} and committed_date >= ? and committed_date < ? and recorded_at < ?"
    )
    params = [start, forecast_date, datetime.combine(forecast_date, datetime.min.time())]
    if grid:
        size = int(grid.group(1))
        rows = con.execute(
            f"""select '{size}m_' || cast(floor(easting / {size}) * {size} as bigint)
                       || '_' || cast(floor(northing / {size}) * {size} as bigint) as cell_id, count(*)
                {base} and easting is not null and northing is not null group by 1""",
            params,
        ).fetchall()
    else:
        rows = con.execute(f"select lsoa_code, count(*) {base} and lsoa_code is not null group by 1", params).fetchall()
    wanted = set(cell_ids)
    return {cid: int(n) for cid, n in rows if cid in wanted}


def weekly_counts(con: duckdb.DuckDBPyConnection, target: Target, forecast_date: date) -> pd.DataFrame | Unavailable:
    """Crimes of ``target`` per week (Monday) of committed date over the last 12 months, zeros filled."""
    missing = require(con, CRIMES, [target.crime_flag, "committed_date", "recorded_at"])
    if missing:
        return missing
    start = forecast_date - timedelta(days=TREND_DAYS)
    found = query(
        con,
        f"""select cast(date_trunc('week', committed_date) as date) as week_start, count(*) as n
            from {CRIMES}
            where {target.crime_flag} and committed_date >= ? and committed_date < ? and recorded_at < ?
            group by 1""",
        [start, forecast_date, datetime.combine(forecast_date, datetime.min.time())],
    )
    weeks = pd.DataFrame({"week_start": [start + timedelta(days=7 * i) for i in range(TREND_DAYS // 7)]})
    if len(found):
        found["week_start"] = pd.to_datetime(found["week_start"]).dt.date
    out = weeks.merge(found, on="week_start", how="left")
    out["n"] = out["n"].fillna(0).astype("int64")
    return out


def previous_ranks(con: duckdb.DuckDBPyConnection, settings: Settings, forecast_date: date) -> pd.DataFrame | None:
    """Last week's ranks (``target, cell_id, rank``): from ``hotspot_predictions`` when it
    keeps that week, else from the rank file the previous briefing wrote; ``None`` if neither."""
    last_week = forecast_date - timedelta(days=7)
    if require(con, PREDICTIONS, ["target", "forecast_week", "cell_id", "rank"]) is None:
        prev = query(
            con, f"select target, cell_id, rank from {PREDICTIONS} where cast(forecast_week as date) = ?", [last_week]
        )
        if len(prev):
            return prev
    path = ranks_path(settings, last_week)
    if path.exists():
        return pd.read_csv(path, dtype={"target": str, "cell_id": str, "rank": "int64"})
    return None


def hotspot_section(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    forecast_date: date,
    outline,
    prev: pd.DataFrame | None,
    table_rows: int = 20,
) -> tuple[Section, pd.DataFrame]:
    """One target's map, top-cells table and trend; also returns this week's ranks."""
    section = Section(anchor=f"hotspot-{target.code}", title=f"{target.title}: where to look in the next 4 weeks")
    empty = pd.DataFrame(columns=["target", "cell_id", "rank"])
    needed = ["target", "forecast_week", "cell_id", "geometry_wkt", "predicted_count", "rank"]
    missing = require(con, PREDICTIONS, needed)
    if missing:
        section.unavailable = str(missing)
        return section, empty
    cols = table_columns(con, PREDICTIONS)
    extra = [c for c in ("lsoa_code", "prob_at_least_one", "in_top_n", "model_version") if c in cols]
    preds = query(
        con,
        f"select {', '.join(needed + extra)} from {PREDICTIONS} where target = ? and cast(forecast_week as date) = ? order by rank",
        [target.code, forecast_date],
    )
    if preds.empty:
        weeks = con.execute(f"select distinct cast(forecast_week as date) from {PREDICTIONS} order by 1 desc limit 1").fetchall()
        held = f" (the table holds the forecast of {weeks[0][0]})" if weeks else ""
        section.unavailable = f"Not available this week: no {target.title.lower()} predictions for {forecast_date}{held}."
        return section, empty
    preds["cell_id"] = preds["cell_id"].astype(str)
    top = preds[preds["in_top_n"].astype(bool)] if "in_top_n" in preds else preds.head(max(1, math.ceil(0.01 * len(preds))))
    end = forecast_date + timedelta(days=HORIZON_DAYS - 1)
    expected_top = float(top["predicted_count"].sum())
    expected_all = float(preds["predicted_count"].sum())
    section.intro = (
        f"The {len(top)} cells most likely to see {target.title.lower()} between {forecast_date:%d %b %Y} and "
        f"{end:%d %b %Y} ({len(top) / len(preds):.0%} of the force area). The model expects "
        f"{expected_top:.1f} such crimes in them, {expected_top / expected_all:.0%} of the {expected_all:.1f} "
        "expected force-wide. Numbers on the map are the ranks in the table."
    )
    png = charts.hotspot_map(
        outline, top, title=f"{target.title}: top {len(top)} cells", legend_label="expected crimes in the cell, next 4 weeks"
    )
    section.images.append({"src": charts.data_uri(png), "alt": f"Map of the top {len(top)} cells for {target.title.lower()}",
                           "css": "map", "role": "map", "png": png})

    head = preds.head(table_rows)
    counts = cell_counts_last_weeks(con, target, forecast_date, list(head["cell_id"]))
    have_prev = prev is not None
    prev_rank = {}
    if have_prev:
        p = prev[prev["target"] == target.code]
        prev_rank = dict(zip(p["cell_id"].astype(str), p["rank"], strict=True))
    columns = ["Rank", "Cell", "LSOA", "Expected", "P(≥1)", "Last 4 wks", "Change"]
    rows = []
    for r in head.itertuples(index=False):
        last4 = "n/a" if isinstance(counts, Unavailable) else fmt_int(counts.get(r.cell_id, 0))
        rows.append(
            [
                Cell(str(int(r.rank))),
                Cell(r.cell_id, "mono"),
                Cell(str(getattr(r, "lsoa_code", "") or "–")),
                Cell(fmt_num(r.predicted_count, 2 if r.predicted_count >= 0.095 else 3)),
                Cell(fmt_pct(getattr(r, "prob_at_least_one", float("nan")))),
                Cell(last4),
                rank_change_cell(int(r.rank), prev_rank.get(r.cell_id), have_prev),
            ]
        )
    caption = (
        f"Top {len(head)} cells. Expected: crimes the model expects in the next 4 weeks; P(≥1): probability of at "
        f"least one. Last 4 wks: crimes committed in the 28 days before {forecast_date:%d %b %Y} "
        "and recorded before it. Change: places moved since last week's forecast (▲ up, ▼ down, new = not ranked last week)."
    )
    if not have_prev:
        caption += " No ranking from last week is available, so no change is shown."
    if isinstance(counts, Unavailable):
        section.notes.append(f"Last 4 weeks' counts: {counts}")
    section.tables.append(Table(columns, rows, numeric={0, 3, 4, 5}, caption=caption))

    trend = weekly_counts(con, target, forecast_date)
    if isinstance(trend, Unavailable):
        section.notes.append(f"12-month trend: {trend}")
    else:
        lag_from = forecast_date - timedelta(days=7 * RECORDING_LAG_WEEKS)
        png = charts.weekly_trend(
            trend, title=f"{target.title}: crimes per week, last 12 months (by committed date)",
            ylabel="crimes", incomplete_from=lag_from,
        )
        section.images.append({"src": charts.data_uri(png), "alt": f"Weekly {target.title.lower()} over 12 months",
                               "css": "wide", "role": "trend",
                               "caption": f"Total {int(trend['n'].sum()):,} in 12 months. The last {RECORDING_LAG_WEEKS} weeks "
                               "(lighter bars) are still being recorded and will rise."})
    section.headline = (
        f"{target.title}: {expected_top:.1f} crimes expected in the top {len(top)} cells "
        f"({expected_top / expected_all:.0%} of the force-wide {expected_all:.1f}); top cell {head['cell_id'].iloc[0]}."
    )
    if "model_version" in preds:
        section.facts.append(("Model version", ", ".join(sorted(preds["model_version"].astype(str).unique()))))
    ranks = preds[["cell_id", "rank"]].assign(target=target.code)[["target", "cell_id", "rank"]]
    return section, ranks


# --------------------------------------------------------------------------- IOM


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
    served = served_model_text(latest_selection(con, forecast_date))
    if served.warning:
        section.notes.append(served.warning)
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
        f"(or super high) harm within {served.horizon}. This list ranks the low-medium harm offenders by that probability, "
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


# --------------------------------------------------------------------------- performance


def hotspot_performance(con: duckdb.DuckDBPyConnection, forecast_date: date) -> Section:
    section = Section(anchor="performance-hotspot", title="Hotspot maps: backtest against the baselines")
    bt = metrics.hotspot_backtest(con, forecast_date)
    if isinstance(bt, Unavailable):
        section.unavailable = str(bt)
        return section
    span = (
        f" over {bt.n_origins} past forecast dates ({fmt_value(bt.first_origin)} to {fmt_value(bt.last_origin)})"
        if bt.n_origins else ""
    )
    section.intro = (
        "Each past week's map is judged on the crimes that then happened: the hit rate is the share of them that fell "
        "in the flagged cells, the PAI (Predictive Accuracy Index) is that share divided by the share of area flagged "
        f"(1 = no better than chance). Baselines are what an analyst's map of recent crime would have shown{span}."
    )
    columns = ["Target", "Model"] + [f"{h} @ {share_label(s)} area" for s in bt.shares for h in ("Hit rate", "PAI")]
    rows, headlines = [], []
    for target in TARGETS:
        t = bt.overall[bt.overall["target"] == target.code]
        if t.empty:
            continue
        for model in sorted(t["model"].unique(), key=model_order):
            m = t[t["model"] == model]
            row = [Cell(target.title), Cell(model_label(model), "strong" if metrics.is_model(model) else "")]
            for s in bt.shares:
                hit = metrics.at_share(m, s)
                row += [Cell(fmt_pct(hit["hit_rate"].iloc[0], 1) if len(hit) else "–"),
                        Cell(fmt_num(hit["pai"].iloc[0], 1) if len(hit) else "–")]
            rows.append(row)
        sentence, short = verdict(t, target, bt.shares[0])
        if sentence:
            section.notes.append(sentence)
            headlines.append(short)
    if headlines:
        section.headline = f"Backtest, share of crimes in the top {share_label(bt.shares[0])} of the area: " + "; ".join(headlines) + "."
    section.tables.append(Table(columns, rows, numeric=set(range(2, len(columns))),
                                caption="Pooled over the backtest's forecast dates. 'ceiling' uses the synthetic generator's "
                                "true intensities (evaluation only) and shows the best any map could do."))
    if "forecast_date" in bt.per_origin and len(bt.per_origin):
        share = bt.shares[0]
        for target in TARGETS:
            p = metrics.at_share(bt.per_origin[bt.per_origin["target"] == target.code], share)
            if p.empty:
                continue
            lines = rolling_hit_rate(p)
            lines = lines.sort_values("model", key=lambda c: c.map(model_order), kind="stable")
            lines = lines.assign(model=lines["model"].map(model_label))
            png = charts.backtest_lines(
                lines, title=f"{target.title}: hit rate @ {share_label(share)} of area", ylabel="hit rate, pooled over 8 weeks"
            )
            section.images.append({"src": charts.data_uri(png), "alt": f"Backtest hit rate, {target.title.lower()}",
                                   "css": "half", "role": "backtest"})
    return section


def rolling_hit_rate(per_origin: pd.DataFrame, weeks: int = 8) -> pd.DataFrame:
    """Hit rate per model pooled over the last ``weeks`` forecast dates (``forecast_date, model, value``).

    Pooling hits over crimes (rather than averaging weekly rates) gives weeks
    with more crimes more weight and stays defined when a week had none."""
    frames = []
    for model, g in per_origin.groupby("model", sort=False):
        g = g.sort_values("forecast_date")
        if {"hits", "n_crimes"} <= set(g.columns):
            hits = g["hits"].astype(float).rolling(weeks, min_periods=1).sum()
            crimes = g["n_crimes"].astype(float).rolling(weeks, min_periods=1).sum()
            value = (hits / crimes.where(crimes > 0)).to_numpy()
        else:
            value = g["hit_rate"].astype(float).rolling(weeks, min_periods=1).mean().to_numpy()
        frames.append(pd.DataFrame({"forecast_date": g["forecast_date"].to_numpy(), "model": model, "value": value}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["forecast_date", "model", "value"])


def share_label(share: float) -> str:
    return f"{100 * share:g}%"


def model_order(model: str) -> tuple[int, str]:
    return (0 if metrics.is_model(model) else 2 if metrics.is_ceiling(model) else 1, model)


def model_label(model: str) -> str:
    if metrics.is_model(model):
        return f"model ({model})"
    if metrics.is_ceiling(model):
        return "ceiling (synthetic truth)"
    return f"baseline: {model.replace('_', ' ')}"


def verdict(t: pd.DataFrame, target: Target, share: float) -> tuple[str, str]:
    """(sentence, short form) comparing the model with the best baseline at ``share``."""
    at = metrics.at_share(t, share)
    model = at[at["model"].map(metrics.is_model)]
    base = at[~at["model"].map(metrics.is_model) & ~at["model"].map(metrics.is_ceiling)]
    if model.empty or base.empty:
        return "", ""
    best = base.sort_values("hit_rate", ascending=False).iloc[0]
    mine = float(model["hit_rate"].iloc[0])
    word = "better than" if mine > best["hit_rate"] + 1e-9 else "no better than"
    sentence = (
        f"{target.title}: the model's top {share_label(share)} of the area held {fmt_pct(mine, 1)} of the crimes, "
        f"{word} the best baseline ({best['model'].replace('_', ' ')}, {fmt_pct(best['hit_rate'], 1)})."
    )
    short = f"{target.title.lower()} model {fmt_pct(mine)} vs best baseline {fmt_pct(best['hit_rate'])}"
    return sentence, short


def iom_performance(con: duckdb.DuckDBPyConnection, forecast_date: date) -> Section:
    section = Section(anchor="performance-iom", title="IOM model: backtest against the baselines")
    im = metrics.iom_metrics(con, forecast_date)
    if isinstance(im, Unavailable):
        section.unavailable = str(im)
        return section
    served = served_model_text(latest_selection(con, forecast_date))
    section.facts += served.facts
    section.notes += ([served.warning] if served.warning else []) + served.sentences
    span = (
        f"mean over {im.n_weeks} test weeks ({fmt_value(im.first_week)} to {fmt_value(im.last_week)})"
        if im.n_weeks else "the latest evaluation"
    )
    section.intro = (
        "The model is trained only on snapshots before each test week and judged on who then became high harm "
        f"within {served.horizon}; baselines rank offenders by simple rules. Values are the {span}."
    )
    names = list(im.wide.columns)
    rows = [[Cell(m, "strong" if metrics.is_model(m) or "xgb" in m else "")] + [Cell(fmt_num(im.wide.loc[m, k], 3)) for k in names]
            for m in im.wide.index]
    section.tables.append(Table(["Model"] + [k.replace("_", " ") for k in names], rows, numeric=set(range(1, len(names) + 1))))
    return section


# --------------------------------------------------------------------------- data quality


def check_summary_table(checks: list[CheckResult]) -> Table:
    """One row per asset: checks run, passed, and the failed ones by name (assets with failures first)."""
    by_asset: dict[str, list[CheckResult]] = {}
    for c in checks:
        by_asset.setdefault(c.asset, []).append(c)
    order = sorted(by_asset, key=lambda a: (all(c.passed for c in by_asset[a]), a))
    rows = []
    for asset in order:
        group = by_asset[asset]
        failed = sorted((c for c in group if not c.passed), key=lambda c: c.check)
        text = "; ".join(f"{c.check} ({c.severity.lower()})" for c in failed) or "–"
        rows.append([Cell(asset, "mono"), Cell(fmt_int(len(group))), Cell(fmt_int(len(group) - len(failed))),
                     Cell(text, ("bad" if any(c.severity.upper() == "ERROR" for c in failed) else "warn") + " wrap" if failed else "muted")])
    return Table(["Asset", "Checks", "Passed", "Failed checks (severity)"], rows, numeric={1, 2},
                 caption="From this run's asset check evaluations in the Dagster instance.")


def quality_section(con: duckdb.DuckDBPyConnection, forecast_date: date, checks: list[CheckResult] | None) -> Section:
    section = Section(anchor="quality", title="Data quality this week")
    section.intro = (
        "What arrived from CONNECT and how clean it was. Quarantined rows broke the extract contract and are held "
        "back until a later drop corrects them; reasons are shown without the values they quote."
    )
    glance: list[str] = []
    drops = Section(anchor="quality-drops", title="Drops applied")
    missing = require(con, DROP_LOG, ["drop_id", "extract_date", "extract_type", "rows_delivered", "rows_loaded", "rows_quarantined"])
    if missing:
        drops.unavailable = str(missing)
    else:
        week_start = forecast_date - timedelta(days=6)
        log = query(
            con,
            f"""select drop_id, extract_type, extract_date, rows_delivered, rows_loaded, rows_quarantined
                from {DROP_LOG} where cast(extract_date as date) between ? and ? order by extract_date""",
            [week_start, forecast_date],
        )
        glance.append(f"{len(log)} drop{'s' if len(log) != 1 else ''} applied this week")
        if log.empty:
            drops.notes.append(f"No CONNECT drop dated {week_start:%d %b} to {forecast_date:%d %b %Y} has been applied.")
            log = query(
                con,
                f"""select drop_id, extract_type, extract_date, rows_delivered, rows_loaded, rows_quarantined
                    from {DROP_LOG} order by extract_date desc limit 1""",
            )
            if len(log):
                drops.notes.append("The newest drop applied is shown instead.")
        total = con.execute(f"select count(*) from {DROP_LOG}").fetchall()[0][0]
        drops.facts.append(("Drops applied to date", fmt_int(total)))
        rows = []
        for r in log.itertuples(index=False):
            balanced = int(r.rows_delivered) == int(r.rows_loaded) + int(r.rows_quarantined)
            rows.append([Cell(str(r.drop_id), "mono"), Cell(str(r.extract_type)), Cell(fmt_int(r.rows_delivered)),
                         Cell(fmt_int(r.rows_loaded)), Cell(fmt_int(r.rows_quarantined)),
                         Cell("yes" if balanced else "NO", "" if balanced else "bad")])
        if rows:
            drops.tables.append(Table(["Drop", "Type", "Delivered", "Loaded", "Quarantined", "Balanced"], rows, numeric={2, 3, 4}))
    section.children.append(drops)

    quarantine = Section(anchor="quality-quarantine", title="Open quarantine by broken rule")
    missing = require(con, QUARANTINE, ["table_name", "reason", "resolved_by_drop_id"])
    if missing:
        quarantine.unavailable = str(missing)
    else:
        grouped = con.execute(
            f"select table_name, reason, count(*) from {QUARANTINE} where resolved_by_drop_id is null group by all"
        ).fetchall()
        counts: dict[tuple[str, str], int] = {}
        for table_name, reason, n in grouped:
            for rule in dict.fromkeys(reason_rules(reason)):
                counts[(table_name, rule)] = counts.get((table_name, rule), 0) + int(n)
        open_rows = con.execute(f"select count(*) from {QUARANTINE} where resolved_by_drop_id is null").fetchall()[0][0]
        quarantine.facts.append(("Open quarantined rows", fmt_int(open_rows)))
        glance.append(f"{open_rows:,} quarantined rows open")
        if counts:
            rows = [[Cell(t), Cell(rule), Cell(fmt_int(n))] for (t, rule), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
            quarantine.tables.append(Table(["Table", "Broken rule", "Open rows"], rows, numeric={2},
                                           caption="A row that breaks two rules counts under both."))
        else:
            quarantine.notes.append("No quarantined row is open.")
    section.children.append(quarantine)

    unknown = Section(anchor="quality-unknown-codes", title="Unknown offence codes")
    missing = require(con, UNKNOWN_CODES, ["offence_code"])
    if missing:
        unknown.unavailable = str(missing)
    else:
        df = query(con, f"select * from {UNKNOWN_CODES} order by 1")
        glance.append(f"{len(df)} unknown offence code{'s' if len(df) != 1 else ''}")
        if df.empty:
            unknown.notes.append("Every offence code in the data is in the offence reference.")
        else:
            unknown.notes.append("These codes are not in the offence reference: their crimes count as 'unknown' and their "
                                 "charges weigh 0 harm until the reference (dbt seed ref_offence_codes) gains them.")
            cols = [c for c in ("offence_code", "seen_in", "n_records", "first_seen", "last_seen") if c in df]
            rows = [[Cell(fmt_value(v), "mono" if c == "offence_code" else "")
                     for c, v in zip(cols, r, strict=True)] for r in df[cols].itertuples(index=False)]
            unknown.tables.append(Table([c.replace("_", " ") for c in cols], rows, numeric={cols.index("n_records")} if "n_records" in cols else set()))
    section.children.append(unknown)

    checks_section = Section(anchor="quality-checks", title="Checks")
    if checks:
        failed = [c for c in checks if not c.passed]
        checks_section.facts += [("Checks run in this run", fmt_int(len(checks))), ("Failed", fmt_int(len(failed)))]
        glance.append(f"{len(failed)} of {len(checks)} checks failed")
        checks_section.tables.append(check_summary_table(checks))
    elif require(con, EXPECTATIONS, ["table_name", "expectation", "severity", "success"]) is None:
        df = query(con, f"select * from {EXPECTATIONS} order by success, table_name, expectation")
        failed = int((~df["success"].astype(bool)).sum())
        checks_section.facts += [("Expectations checked", fmt_int(len(df))), ("Failed", fmt_int(failed))]
        glance.append(f"{failed} of {len(df)} expectations failed")
        rows = [[Cell(str(r.table_name), "mono"), Cell(str(r.expectation)), Cell(str(r.severity)),
                 Cell("passed" if r.success else "FAILED", "good" if r.success else "bad"),
                 Cell(fmt_int(getattr(r, "unexpected_count", None)))] for r in df.itertuples(index=False)]
        checks_section.tables.append(Table(["Table", "Expectation", "Severity", "Result", "Unexpected rows"], rows, numeric={4},
                                           caption="Great Expectations results for the latest drop (dq_expectation_results)."))
    else:
        checks_section.unavailable = "Not available this week: no check results were found in the Dagster instance or in dq_expectation_results."
    section.children.append(checks_section)
    if glance:
        section.headline = "Data quality: " + "; ".join(glance) + "."
    return section


# --------------------------------------------------------------------------- assembly


def _latest_drop(con: duckdb.DuckDBPyConnection) -> str:
    if table_exists(con, DROP_LOG):
        row = con.execute(f"select max(extract_date) from {DROP_LOG}").fetchall()[0]
        if row and row[0]:
            return str(row[0])
    return "–"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("wmp_pipeline.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _all_sections(sections: list[Section]) -> list[Section]:
    out = []
    for s in sections:
        out.append(s)
        out += _all_sections(s.children)
    return out


def build_briefing(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    forecast_date: date,
    checks: list[CheckResult] | None = None,
    top_cells: int = 20,
    iom_list_size: int = 50,
    progress=None,
    generated_at: datetime | None = None,
) -> Briefing:
    """Build this week's briefing from the working database (nothing is written).

    ``checks``: this run's asset check results (from the Dagster instance);
    without them the data-quality section reads ``dq_expectation_results``.
    ``progress``: a :class:`wmp_pipeline.progress.Progress` with 6 steps.
    """

    def step(note: str) -> None:
        if progress is not None:
            progress.update(1, note=note)

    outline = force_outline(con, settings)
    prev = previous_ranks(con, settings, forecast_date)
    step("force outline")
    hotspots, ranks = [], []
    for target in TARGETS:
        section, r = hotspot_section(con, target, forecast_date, outline, prev, table_rows=top_cells)
        hotspots.append(section)
        ranks.append(r)
        step(target.code)
    iom = iom_section(con, forecast_date, list_size=iom_list_size)
    step("iom")
    performance = Section(anchor="performance", title="How well the models have done",
                          children=[hotspot_performance(con, forecast_date), iom_performance(con, forecast_date)])
    step("performance")
    quality = quality_section(con, forecast_date, checks)
    step("quality")
    sections = [*hotspots, iom, performance, quality]
    unavailable = [s.title for s in _all_sections(sections) if s.unavailable]
    generated_at = generated_at or datetime.now().replace(microsecond=0)
    end = forecast_date + timedelta(days=HORIZON_DAYS - 1)
    page = _environment().get_template("briefing.html.j2").render(
        title=f"Weekly briefing, {forecast_date:%d %B %Y}",
        forecast_date=forecast_date,
        window=f"{forecast_date:%d %b %Y} to {end:%d %b %Y}",
        sections=sections,
        latest_drop=_latest_drop(con),
        generated_at=generated_at,
        version=wmp_pipeline.__version__,
        mode=settings.mode,
    )
    all_ranks = pd.concat(ranks, ignore_index=True) if ranks else pd.DataFrame(columns=["target", "cell_id", "rank"])
    summary = {
        "sections": len(_all_sections(sections)),
        "sections_unavailable": len(unavailable),
        "images": sum(len(s.images) for s in _all_sections(sections)),
        "table_rows": sum(len(t.rows) for s in _all_sections(sections) for t in s.tables),
        "bytes": len(page.encode("utf-8")),
    }
    maps = [img["png"] for s in hotspots for img in s.images if img["role"] == "map"]
    return Briefing(forecast_date=forecast_date, html=page, summary=summary, ranks=all_ranks,
                    sections_unavailable=unavailable, preview_png=maps[0] if maps else None)


def briefing_path(settings: Settings, forecast_date: date) -> Path:
    return Path(settings.artifacts_dir) / BRIEFINGS_SUBDIR / f"briefing_{forecast_date.isoformat()}.html"


def ranks_path(settings: Settings, forecast_date: date) -> Path:
    return Path(settings.artifacts_dir) / BRIEFINGS_SUBDIR / f"hotspot_ranks_{forecast_date.isoformat()}.csv"


def write_briefing(briefing: Briefing, settings: Settings) -> Path:
    """Write the HTML (owner-only: it lists pseudonymised offenders) and this week's ranks."""
    from wmp_pipeline.privacy.file_permissions import write_private_bytes

    path = briefing_path(settings, briefing.forecast_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_bytes(path, briefing.html.encode("utf-8"))
    if len(briefing.ranks):
        rp = ranks_path(settings, briefing.forecast_date)
        tmp = rp.with_name(rp.name + ".tmp")
        briefing.ranks.to_csv(tmp, index=False)
        tmp.replace(rp)
    return path
