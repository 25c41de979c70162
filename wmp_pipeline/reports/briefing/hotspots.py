"""Hotspot sections: the map, top-cells table and trend of each target."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import shapely

from wmp_pipeline.reports import charts
from wmp_pipeline.reports.briefing.formatting import rank_change_cell
from wmp_pipeline.reports.briefing.model import (
    _GRID_ID,
    CELLS,
    CRIMES,
    HORIZON_DAYS,
    PREDICTIONS,
    RECORDING_LAG_WEEKS,
    TREND_DAYS,
    Cell,
    Section,
    Table,
    Target,
    ranks_path,
)
from wmp_pipeline.reports.formatting import fmt_int, fmt_num, fmt_pct
from wmp_pipeline.reports.tables import Unavailable, query, require, table_columns
from wmp_pipeline.settings import Settings


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
