"""Build a week's analyst pages and exports from the working database (no Dagster)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from wmp_pipeline.hotspot.config import HotspotMapConfig
from wmp_pipeline.maps import data, exports, page
from wmp_pipeline.privacy.file_permissions import write_private_bytes

#: under the artifacts folder, beside the GeoJSON and PNG of the hotspot asset
MAPS_SUBDIR = "maps"


def map_page_path(artifacts_dir: Path, week: date) -> Path:
    return Path(artifacts_dir) / MAPS_SUBDIR / f"hotspot_map_{week.isoformat()}.html"


def iom_page_path(artifacts_dir: Path, week: date) -> Path:
    return Path(artifacts_dir) / MAPS_SUBDIR / f"iom_list_{week.isoformat()}.html"


def geopackage_path(artifacts_dir: Path, week: date) -> Path:
    return Path(artifacts_dir) / MAPS_SUBDIR / f"hotspot_predictions_{week.isoformat()}.gpkg"


def iom_csv_path(artifacts_dir: Path, week: date) -> Path:
    return Path(artifacts_dir) / MAPS_SUBDIR / f"iom_list_{week.isoformat()}.csv"


def links_from(week: date) -> list[tuple[str, str]]:
    """Relative links to the week's pages and exports from a sibling folder under artifacts/ (the briefing's)."""
    up = f"../{MAPS_SUBDIR}"
    return [
        ("interactive hotspot map", f"{up}/hotspot_map_{week.isoformat()}.html"),
        ("IOM list (sort and filter)", f"{up}/iom_list_{week.isoformat()}.html"),
        ("GeoPackage for GIS (EPSG:27700)", f"{up}/hotspot_predictions_{week.isoformat()}.gpkg"),
        ("IOM list as CSV", f"{up}/iom_list_{week.isoformat()}.csv"),
    ]


@dataclass
class WeekOutputs:
    paths: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def build_week(
    con: duckdb.DuckDBPyConnection,
    forecast_date: date,
    artifacts_dir: Path,
    boundary_file: Path | None,
    map_cfg: HotspotMapConfig,
    iom_list_size: int,
) -> WeekOutputs:
    """Write the map page, the IOM page, the GeoPackage and the IOM CSV of ``forecast_date``.

    A week without predictions gets a map page saying so (and no GeoPackage);
    a week without IOM scores an IOM page saying so (and no CSV)."""
    out = WeekOutputs()
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        out.seconds[name] = round(now - clock, 2)
        clock = now

    predictions = data.week_predictions(con, forecast_date)
    trend = data.backtest_trend(con, forecast_date)
    scores, iom_week = data.iom_week(con, forecast_date)
    lap("read_tables")
    boundaries = data.load_boundaries(boundary_file)
    areas = data.local_areas(con, scores["offender_key"].astype(str).tolist(), boundaries) if iom_week else {}
    lap("read_boundaries")

    map_path, iom_path = map_page_path(artifacts_dir, forecast_date), iom_page_path(artifacts_dir, forecast_date)
    html = page.render_map_page(forecast_date, predictions, boundaries, trend, map_cfg, links={"IOM list": iom_path.name})
    write_private_bytes(map_path, html.encode("utf-8"))  # owner-only, as the briefing it is linked from
    out.paths["map_page"] = map_path
    lap("map_page")
    html = page.render_iom_page(forecast_date, iom_week, scores, areas, iom_list_size, links={"Hotspot map": map_path.name})
    write_private_bytes(iom_path, html.encode("utf-8"))
    out.paths["iom_page"] = iom_path
    lap("iom_page")

    if predictions.empty:
        out.notes.append(f"no hotspot predictions for {forecast_date}: no GeoPackage")
    else:
        out.paths["geopackage"] = exports.write_hotspot_geopackage(predictions, geopackage_path(artifacts_dir, forecast_date))
    lap("geopackage")
    if iom_week is None:
        out.notes.append(f"no IOM scores on or before {forecast_date}: no IOM CSV")
    else:
        out.paths["iom_csv"] = exports.write_iom_csv(scores, iom_csv_path(artifacts_dir, forecast_date))
    lap("iom_csv")
    out.counts = {
        "hotspot_rows": len(predictions),
        "trend_weeks": int(trend["forecast_date"].nunique()) if len(trend) else 0,
        "iom_rows": len(scores),
        "iom_listed": min(iom_list_size, int(scores["rank"].notna().sum())) if iom_week else 0,
        "local_areas_known": len(areas),
        "map_page_bytes": map_path.stat().st_size,
        "iom_page_bytes": iom_path.stat().st_size,
    }
    if boundaries is None:
        out.notes.append("no boundary file: the map has no LSOA or force boundaries")
    return out
