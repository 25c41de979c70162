"""What the pages and exports show, read from the working database and the boundary file.

Every reader returns an empty frame (never raises) when its table is missing
or holds nothing for the week, so a first week without predictions still
gives a page that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from wmp_pipeline.hotspot.grid import CRS_BNG, CRS_WGS84
from wmp_pipeline.hotspot.predictions import PREDICTION_COLUMNS
from wmp_pipeline.iom.scoring import RISK_SCORE_COLUMNS

PREDICTIONS = "hotspot_predictions"
BACKTEST = "hotspot_backtest_metrics"
RISK = "iom_risk_scores"
KEYS = "restricted_person_keys"
PERSONS = "stg_connect__persons"
MODEL = "xgboost_poisson"

#: the targets the pages know by name, in page order
TARGET_TITLES = {
    "knife_injury": "Knife crime used causing injury",
    "serious_violence": "Serious violence",
}


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [table]
    ).fetchall()[0][0])


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_name = ?", [table]
    ).fetchall()}


def week_predictions(con: duckdb.DuckDBPyConnection, forecast_date: date) -> pd.DataFrame:
    """The analyst table's rows of ``forecast_date`` (every column of it), empty if none."""
    if not _exists(con, PREDICTIONS):
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    cols = [c for c in PREDICTION_COLUMNS if c in _columns(con, PREDICTIONS)]
    df = con.execute(
        f"select {', '.join(cols)} from {PREDICTIONS} where cast(forecast_week as date) = ? order by target, rank",
        [forecast_date],
    ).df()
    return df.reindex(columns=PREDICTION_COLUMNS)


def backtest_trend(con: duckdb.DuckDBPyConnection, forecast_date: date, weeks: int = 52) -> pd.DataFrame:
    """``target, forecast_date, recorded, forecast`` over the last ``weeks`` backtest origins.

    From the newest backtest run made on or before ``forecast_date``: for each
    origin (a forecast week), the target's crimes recorded in the force area in
    the 4 weeks from it, and the model's expected count for those 4 weeks,
    made at the origin with a model fitted before it (rolling origin)."""
    empty = pd.DataFrame(columns=["target", "forecast_date", "recorded", "forecast"])
    if not _exists(con, BACKTEST) or "expected_total" not in _columns(con, BACKTEST):
        return empty
    run = con.execute(
        f"select run_id from {BACKTEST} where as_of_date <= ? order by as_of_date desc, created_at desc limit 1",
        [forecast_date],
    ).fetchall()
    if not run:
        return empty
    df = con.execute(
        f"""select target, cast(forecast_date as date) as forecast_date,
                   max(n_crimes) as recorded, max(expected_total) as forecast
            from {BACKTEST}
            where run_id = ? and scope = 'origin' and model = '{MODEL}'
            group by 1, 2 order by 1, 2""",
        [run[0][0]],
    ).df()
    if df.empty:
        return empty
    df["forecast_date"] = pd.to_datetime(df["forecast_date"]).dt.date
    return df.groupby("target", group_keys=False).tail(weeks).reset_index(drop=True)


@dataclass
class Boundaries:
    """LSOA polygons (EPSG:27700) with ``lsoa_code, lsoa_name, area_name, district``."""

    lsoas: gpd.GeoDataFrame
    outline: shapely.Geometry

    def names(self) -> dict[str, str]:
        return dict(zip(self.lsoas["lsoa_code"], self.lsoas["lsoa_name"], strict=True))


def load_boundaries(path: Path | None) -> Boundaries | None:
    """The boundary file's LSOAs with their names, or None without a file.

    Names: the file's ``lsoa21nm``/``lsoa11nm`` (``Birmingham 067A``);
    ``area_name`` drops the final letter (``Birmingham 067``, the MSOA-sized
    neighbourhood) and ``district`` the number too (``Birmingham``). A file
    without a name column gives the codes as names."""
    if path is None or not Path(path).exists():
        return None
    gdf = gpd.read_file(path)
    if gdf.crs is None:
        gdf = gdf.set_crs(CRS_WGS84)
    lower = {c.lower(): c for c in gdf.columns}
    code = next((lower[c] for c in ("lsoa21cd", "lsoa11cd", "lsoa_code", "lsoa") if c in lower), None)
    if code is None:
        raise ValueError(f"{path}: no LSOA code column (looked for lsoa21cd, lsoa11cd, lsoa_code)")
    name = next((lower[c] for c in ("lsoa21nm", "lsoa11nm", "lsoa_name") if c in lower), None)
    out = gpd.GeoDataFrame(
        {"lsoa_code": gdf[code].astype(str), "lsoa_name": (gdf[name] if name else gdf[code]).astype(str)},
        geometry=shapely.make_valid(gdf.to_crs(CRS_BNG).geometry.values),
        crs=CRS_BNG,
    )
    out["area_name"] = out["lsoa_name"].str.replace(r"[A-Z]$", "", regex=True).str.strip()
    out["district"] = out["area_name"].str.replace(r"\s*\d+$", "", regex=True).str.strip()
    return Boundaries(out, shapely.union_all(out.geometry.values))


def iom_week(con: duckdb.DuckDBPyConnection, forecast_date: date) -> tuple[pd.DataFrame, date | None]:
    """The newest IOM scores on or before ``forecast_date`` (the analyst table's columns) and their week."""
    if not _exists(con, RISK):
        return pd.DataFrame(columns=RISK_SCORE_COLUMNS), None
    week = con.execute(f"select max(cast(week as date)) from {RISK} where cast(week as date) <= ?", [forecast_date]).fetchall()[0][0]
    if week is None:
        return pd.DataFrame(columns=RISK_SCORE_COLUMNS), None
    cols = [c for c in RISK_SCORE_COLUMNS if c in _columns(con, RISK)]
    df = con.execute(
        f"select {', '.join(cols)} from {RISK} where cast(week as date) = ? order by rank nulls last, offender_key", [week]
    ).df()
    return df.reindex(columns=RISK_SCORE_COLUMNS), week


def local_areas(con: duckdb.DuckDBPyConnection, offender_keys: list[str], boundaries: Boundaries | None) -> dict[str, str]:
    """Offender key -> the neighbourhood of the last known home address (``area_name`` of the
    home LSOA), looked up inside the working database through the restricted key table.
    Only the area's name leaves this function, never a person id or an LSOA code."""
    if boundaries is None or not offender_keys or not (_exists(con, KEYS) and _exists(con, PERSONS)):
        return {}
    if "home_lsoa_code" not in _columns(con, PERSONS):
        return {}
    con.register("_map_keys", pd.DataFrame({"offender_key": offender_keys}))
    try:
        rows = con.execute(
            f"""select k.offender_key, any_value(p.home_lsoa_code)
                from _map_keys m join {KEYS} k using (offender_key)
                join {PERSONS} p on p.person_id = k.person_id
                where p.home_lsoa_code is not null group by 1"""
        ).fetchall()
    finally:
        con.unregister("_map_keys")
    area = dict(zip(boundaries.lsoas["lsoa_code"], boundaries.lsoas["area_name"], strict=True))
    return {key: area[lsoa] for key, lsoa in rows if lsoa in area}


def lattice_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BNG metres to longitude/latitude (EPSG:4326)."""
    pts = gpd.GeoSeries(shapely.points(np.asarray(x, float), np.asarray(y, float)), crs=CRS_BNG).to_crs(CRS_WGS84)
    return pts.x.to_numpy(), pts.y.to_numpy()
