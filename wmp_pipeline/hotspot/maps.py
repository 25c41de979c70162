"""Map outputs: GeoJSON for GIS tools (EPSG:4326) and a PNG of the top units.

The GeoJSON holds every unit of the force area with its prediction, so an
analyst can style the whole surface; the PNG shows the force area in grey and
the ``in_top_n`` units coloured by expected count, one panel per target.
"""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

from wmp_pipeline.hotspot.grid import CRS_BNG, CRS_WGS84  # noqa: E402


def predictions_geoframe(predictions: pd.DataFrame) -> gpd.GeoDataFrame:
    """Predictions (with ``geometry_wkt`` in EPSG:27700) as a GeoDataFrame."""
    geom = shapely.from_wkt(predictions["geometry_wkt"].to_numpy())
    return gpd.GeoDataFrame(predictions.drop(columns=["geometry_wkt"]), geometry=geom, crs=CRS_BNG)


def write_geojson(predictions: pd.DataFrame, path: Path) -> Path:
    """Write predictions as GeoJSON in EPSG:4326 (what web and GIS tools expect)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf = predictions_geoframe(predictions).to_crs(CRS_WGS84)
    for col in gdf.columns:
        if col != "geometry" and not pd.api.types.is_numeric_dtype(gdf[col]) and not pd.api.types.is_bool_dtype(gdf[col]):
            gdf[col] = gdf[col].astype(str)
    tmp = path.with_name(path.name + ".tmp")
    gdf.to_file(tmp, driver="GeoJSON")
    tmp.replace(path)
    return path


def render_top_map(cells: gpd.GeoDataFrame, predictions: pd.DataFrame, title: str) -> bytes:
    """PNG bytes: force area in grey, each target's top units coloured by expected count."""
    targets = list(dict.fromkeys(predictions["target"]))
    fig, axes = plt.subplots(1, max(1, len(targets)), figsize=(6.5 * max(1, len(targets)), 6.5), squeeze=False)
    area = cells[cells["in_force_area"]]
    outline = shapely.union_all(area.geometry.values)
    for ax, target in zip(axes[0], targets, strict=False):
        gpd.GeoSeries([outline], crs=CRS_BNG).plot(ax=ax, color="#e6e6e6", edgecolor="#9a9a9a", linewidth=0.4)
        top = predictions_geoframe(predictions[(predictions["target"] == target) & predictions["in_top_n"]])
        if not top.empty:
            top.plot(ax=ax, column="predicted_count", cmap="OrRd", legend=True, edgecolor="#7f0000", linewidth=0.2,
                     legend_kwds={"label": "expected count, next 4 weeks", "shrink": 0.6})
        ax.set_title(f"{target.replace('_', ' ')}: top {len(top)} units")
        ax.set_axis_off()
        ax.set_aspect("equal")
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


