"""GIS and spreadsheet exports of a week, beside the GeoJSON (EPSG:4326) the hotspot asset writes.

* ``hotspot_predictions_<week>.gpkg``: a GeoPackage in British National Grid
  (EPSG:27700), one layer per target, the columns of ``hotspot_predictions``
  (the layer geometry is the cell's polygon);
* ``iom_list_<week>.csv``: the week's rows of ``iom_risk_scores``, same columns.

Schemas: :mod:`wmp_pipeline.maps.schema`, docs/exports.md.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from wmp_pipeline.hotspot.grid import CRS_BNG
from wmp_pipeline.hotspot.predictions import PREDICTION_COLUMNS
from wmp_pipeline.iom.scoring import RISK_SCORE_COLUMNS
from wmp_pipeline.privacy.file_permissions import write_private_bytes


def write_hotspot_geopackage(predictions: pd.DataFrame, path: Path) -> Path:
    """One layer per target (named by the target) in EPSG:27700; an empty week writes no file."""
    path = Path(path)
    if predictions.empty:
        raise ValueError("no predictions to export")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    for target, rows in predictions.groupby("target", sort=False):
        rows = rows[PREDICTION_COLUMNS].reset_index(drop=True)
        gdf = gpd.GeoDataFrame(rows, geometry=shapely.from_wkt(rows["geometry_wkt"].to_numpy()), crs=CRS_BNG)
        first, last = rows["forecast_week"].iloc[0], rows["forecast_window_end"].iloc[0]
        description = (
            f"{target}: expected crimes per {int(rows['cell_size_m'].iloc[0])} m cell, forecast window {first} to {last}, "
            f"model {', '.join(sorted(rows['model_version'].astype(str).unique()))}"
        )
        gdf.to_file(tmp, layer=str(target), driver="GPKG", engine="pyogrio", layer_options={"DESCRIPTION": description})
    tmp.replace(path)
    return path


def write_iom_csv(scores: pd.DataFrame, path: Path) -> Path:
    """The week's IOM rows as CSV (owner-only: it lists pseudonymised offenders)."""
    frame = scores[RISK_SCORE_COLUMNS].copy()
    frame["rank"] = frame["rank"].astype("Int64")
    write_private_bytes(Path(path), frame.to_csv(index=False).encode("utf-8"))
    return Path(path)
