"""Reading and writing the hotspot tables of the working DuckDB file.

Tables (schema ``main``):

``hotspot_cells``            the units of every target's grid (see :mod:`wmp_pipeline.hotspot.grid`;
                             ``cell_size_m`` tells the grids apart, and the cell ids embed it)
``hotspot_panel_<size>m``    unit x period features and targets of one grid (working table, large, not published)
``hotspot_panel_<size>m_events`` placed target events of that panel (``cell_id, ep, kp`` + targets)
``hotspot_panel_info``       one row per grid: the panel's forecast date, periods and counts (JSON)
                             and the fingerprint of the config it was built with (never read
                             back as configuration: only compared with the running config)
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
PANEL_PREFIX = tables.HOTSPOT_PANEL
PANEL_INFO_TABLE = tables.HOTSPOT_PANEL_INFO
BACKTEST_TABLE = tables.HOTSPOT_BACKTEST_METRICS
PREDICTIONS_TABLE = tables.HOTSPOT_PREDICTIONS


def write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Replace ``table`` with ``frame``."""
    warehouse.write_frame(con, table, frame)


def write_cells(con: duckdb.DuckDBPyConnection, cells: gpd.GeoDataFrame) -> None:
    write_frame(con, CELLS_TABLE, pd.DataFrame(cells[CELL_COLUMNS]))


def read_cells(con: duckdb.DuckDBPyConnection, size: int | None = None) -> gpd.GeoDataFrame:
    """The stored units; ``size``: only the grid of that cell size (0 = LSOA units)."""
    where, params = ("", []) if size is None else (" WHERE cell_size_m = ?", [int(size)])
    df = con.execute(f"SELECT {', '.join(CELL_COLUMNS)} FROM {CELLS_TABLE}{where}", params).df()
    return gpd.GeoDataFrame(df, geometry=shapely.from_wkt(df["geometry_wkt"].to_numpy()), crs=CRS_BNG)


def panel_table(grid_cfg: HotspotConfig) -> str:
    """The panel table of one grid's engine config (``hotspot_panel_1000m``, ``hotspot_panel_lsoa``)."""
    return f"{PANEL_PREFIX}_lsoa" if grid_cfg.unit == "lsoa" else f"{PANEL_PREFIX}_{grid_cfg.cell_size_m}m"


def write_panel_info(con: duckdb.DuckDBPyConnection, infos: list[tuple[PanelInfo, HotspotConfig]]) -> None:
    """One row per grid panel built this run (replacing the rows of every grid)."""
    rows = pd.DataFrame(
        [
            {
                "table_name": info.table,
                "cell_size_m": 0 if cfg.unit == "lsoa" else cfg.cell_size_m,
                "as_of_period": info.as_of_period,
                "info_json": json.dumps(dataclasses.asdict(info)),
                "config_fingerprint": cfg.fingerprint(),
            }
            for info, cfg in infos
        ]
    )
    write_frame(con, PANEL_INFO_TABLE, rows)


def read_panel_info(con: duckdb.DuckDBPyConnection, table: str) -> tuple[PanelInfo, str]:
    """What was built into the panel ``table``, and the fingerprint of the config it was built with."""
    found = []
    if warehouse.table_exists(con, PANEL_INFO_TABLE):
        found = con.execute(
            f"SELECT info_json, config_fingerprint FROM {PANEL_INFO_TABLE} WHERE table_name = ?", [table]
        ).fetchall()
    if not found:
        raise LookupError(f"no hotspot panel {table} has been built yet: materialise hotspot_panel first")
    return PanelInfo(**json.loads(found[0][0])), str(found[0][1])


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, where: str, params: list) -> None:
    """Delete the rows matching ``where`` and append ``frame`` (creating the table on first use)."""
    warehouse.replace_rows(con, table, frame, where, params)
