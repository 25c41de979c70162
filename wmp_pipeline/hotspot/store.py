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

from wmp_pipeline import tables, warehouse
from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.grid import CELL_COLUMNS, CRS_BNG
from wmp_pipeline.hotspot.panel import PanelInfo

CELLS_TABLE = tables.HOTSPOT_CELLS
PANEL_TABLE = tables.HOTSPOT_PANEL
PANEL_INFO_TABLE = tables.HOTSPOT_PANEL_INFO
BACKTEST_TABLE = tables.HOTSPOT_BACKTEST_METRICS
PREDICTIONS_TABLE = tables.HOTSPOT_PREDICTIONS


def write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Replace ``table`` with ``frame``."""
    warehouse.write_frame(con, table, frame)


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
    if not warehouse.table_exists(con, PANEL_INFO_TABLE):
        raise LookupError("no hotspot panel has been built yet: materialise hotspot_panel first")
    row = con.execute(f"SELECT info_json, config_json FROM {PANEL_INFO_TABLE}").fetchall()[0]
    return PanelInfo(**json.loads(row[0])), HotspotConfig.from_json(row[1])


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, where: str, params: list) -> None:
    """Delete the rows matching ``where`` and append ``frame`` (creating the table on first use)."""
    warehouse.replace_rows(con, table, frame, where, params)
