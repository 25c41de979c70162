"""Reading and writing the hotspot tables of the working DuckDB file.

Tables (schema ``main``):

``hotspot_cells``            the units (see :mod:`wmp_pipeline.hotspot.grid`)
``hotspot_panel``            unit x period features and targets (working table, large, not published)
``hotspot_panel_events``     placed target events of the panel (``cell_id, ep, kp`` + targets)
``hotspot_panel_info``       one row: the panel's forecast date, periods, config and counts (JSON)
``hotspot_backtest_metrics`` per-origin and pooled hit rate / PAI of every model and baseline
``hotspot_predictions``      the analyst table for the latest forecast week
"""

from __future__ import annotations

import dataclasses
import json

import duckdb
import geopandas as gpd
import pandas as pd
import shapely

from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.grid import CELL_COLUMNS, CRS_BNG
from wmp_pipeline.hotspot.panel import PanelInfo

CELLS_TABLE = "hotspot_cells"
PANEL_TABLE = "hotspot_panel"
PANEL_INFO_TABLE = "hotspot_panel_info"
BACKTEST_TABLE = "hotspot_backtest_metrics"
PREDICTIONS_TABLE = "hotspot_predictions"


def write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Replace ``table`` with ``frame``."""
    con.register("_hs_write", frame)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _hs_write")
    con.unregister("_hs_write")


def write_cells(con: duckdb.DuckDBPyConnection, cells: gpd.GeoDataFrame) -> None:
    write_frame(con, CELLS_TABLE, pd.DataFrame(cells[CELL_COLUMNS]))


def read_cells(con: duckdb.DuckDBPyConnection) -> gpd.GeoDataFrame:
    df = con.execute(f"SELECT {', '.join(CELL_COLUMNS)} FROM {CELLS_TABLE}").df()
    return gpd.GeoDataFrame(df, geometry=shapely.from_wkt(df["geometry_wkt"].to_numpy()), crs=CRS_BNG)


def write_panel_info(con: duckdb.DuckDBPyConnection, info: PanelInfo, cfg: HotspotConfig) -> None:
    row = pd.DataFrame(
        [
            {
                "table_name": info.table,
                "as_of_period": info.as_of_period,
                "info_json": json.dumps(dataclasses.asdict(info)),
                "config_json": cfg.to_json(),
                "config_fingerprint": cfg.fingerprint(),
            }
        ]
    )
    write_frame(con, PANEL_INFO_TABLE, row)


def read_panel_info(con: duckdb.DuckDBPyConnection) -> tuple[PanelInfo, HotspotConfig]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [PANEL_INFO_TABLE]
    ).fetchall()[0][0]
    if not exists:
        raise LookupError("no hotspot panel has been built yet: materialise hotspot_panel first")
    row = con.execute(f"SELECT info_json, config_json FROM {PANEL_INFO_TABLE}").fetchall()[0]
    return PanelInfo(**json.loads(row[0])), HotspotConfig.from_json(row[1])


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, where: str, params: list) -> None:
    """Delete the rows matching ``where`` and append ``frame`` (creating the table on first use)."""
    con.register("_hs_rows", frame)
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchall()[0][0]
    if not exists:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM _hs_rows")
    else:
        con.execute(f"DELETE FROM {table} WHERE {where}", params)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _hs_rows")
    con.unregister("_hs_rows")
