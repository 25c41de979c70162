"""Render the week's offline pages: the interactive hotspot map (with trend charts) and the IOM list.

Both are single HTML files with every script, style and datum inlined, so
they open from a shared drive or an e-mail with the network off. The map is
drawn by Leaflet 1.9.3 (SVG, no WebGL), inlined from the pinned
``xstatic-leaflet`` package; see docs/maps.md for why Leaflet without folium
and not plotly.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely

from wmp_pipeline.hotspot.config import HotspotMapConfig
from wmp_pipeline.hotspot.grid import CRS_BNG, CRS_WGS84
from wmp_pipeline.maps.data import TARGET_TITLES, Boundaries

#: YlOrRd, 6 classes (ColorBrewer)
COLOURS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
#: class breaks of each target's predicted counts, at these quantiles
BREAK_QUANTILES = (0.5, 0.75, 0.9, 0.97, 0.995)
BAND_LABELS = {"low": "Low", "low_medium": "Low-medium", "high_medium": "High-medium", "high": "High", "super_high": "Super high"}
#: metres: boundaries are simplified to this tolerance before they go on the page
SIMPLIFY_M = 5.0


@cache
def _static(name: str) -> str:
    return (resources.files("wmp_pipeline.maps") / "static" / name).read_text(encoding="utf-8")


@cache
def leaflet() -> tuple[str, str]:
    """Leaflet's JS and CSS from the pinned xstatic-leaflet package (source-map comments removed)."""
    from xstatic.pkg import leaflet as xleaflet

    base = Path(xleaflet.BASE_DIR)
    js = re.sub(r"//# sourceMappingURL=\S+", "", (base / "leaflet.js").read_text(encoding="utf-8"))
    css = re.sub(r"/\*# sourceMappingURL=\S+ \*/", "", (base / "leaflet.css").read_text(encoding="utf-8"))
    # the layer-switcher and marker images are never used here: nothing on the page points outside it
    css = re.sub(r"url\([^)]*\)", "none", css)
    return js, css


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("wmp_pipeline.maps", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def script_json(payload) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _none(values) -> list:
    """A list with NaN/NA as None (JSON null)."""
    out = []
    for v in values:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, (np.integer,)):
            out.append(int(v))
        elif isinstance(v, (np.floating, float)):
            out.append(round(float(v), 4))
        else:
            out.append(v)
    return out


def _rings(wkt: pd.Series, simplify: float = 0.0) -> list[list[float]]:
    """Each polygon's exterior as a flat [lon, lat, lon, lat, ...] list (5 decimals, about 1 m)."""
    geoms = shapely.from_wkt(wkt.to_numpy())
    if simplify:
        geoms = shapely.simplify(geoms, simplify)
    geoms = gpd.GeoSeries(geoms, crs=CRS_BNG).to_crs(CRS_WGS84)
    out = []
    for g in geoms:
        poly = max(g.geoms, key=lambda p: p.area) if hasattr(g, "geoms") else g
        out.append(np.round(np.asarray(poly.exterior.coords)[:-1], 5).ravel().tolist())
    return out


def class_breaks(values: np.ndarray) -> list[float]:
    """Increasing class breaks (3 significant figures) at :data:`BREAK_QUANTILES`; fewer when values repeat."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return []
    qs = np.quantile(values, BREAK_QUANTILES)
    breaks = []
    for q in qs:
        b = float(f"{q:.3g}")
        if b > 0 and (not breaks or b > breaks[-1]):
            breaks.append(b)
    return breaks


def target_layer(rows: pd.DataFrame) -> dict:
    """One target's cells, columnar, for the page."""
    target = str(rows["target"].iloc[0])
    breaks = class_breaks(rows["predicted_count"].to_numpy())
    return {
        "code": target,
        "title": TARGET_TITLES.get(target, target.replace("_", " ").capitalize()),
        "cell_size_m": int(rows["cell_size_m"].iloc[0]),
        "top_n": int(rows["in_top_n"].sum()),
        "breaks": breaks,
        "colours": list(COLOURS[: len(breaks) + 1]),
        "cells": {
            "id": rows["cell_id"].astype(str).tolist(),
            "lsoa": _none(rows["lsoa_code"].astype(object).where(rows["lsoa_code"].notna(), None)),
            "p": _none(rows["predicted_count"]),
            "q": _none(rows["prob_at_least_one"]),
            "r": [int(v) for v in rows["rank"]],
            "rc": _none(rows["rank_change"].astype(object)),
            "c4": _none(rows["count_last_4_weeks"].astype(object)),
            "c52": _none(rows["count_last_52_weeks"].astype(object)),
            "top": [int(bool(v)) for v in rows["in_top_n"]],
            "ring": _rings(rows["geometry_wkt"]),
        },
    }


def boundary_layers(boundaries: Boundaries) -> dict:
    """LSOA lines, the force outline and area labels (EPSG:4326) for the page."""
    lsoas = boundaries.lsoas.copy()
    lsoas["geometry"] = shapely.simplify(lsoas.geometry.values, SIMPLIFY_M)
    wgs = lsoas.to_crs(CRS_WGS84)
    wgs["geometry"] = shapely.set_precision(wgs.geometry.values, 1e-5)
    outline = gpd.GeoSeries([shapely.simplify(boundaries.outline, SIMPLIFY_M)], crs=CRS_BNG).to_crs(CRS_WGS84)
    outline = shapely.set_precision(outline.values, 1e-5)
    labels = []
    for level, column in (("district", "district"), ("area", "area_name")):
        dissolved = boundaries.lsoas.dissolve(by=column, as_index=False)
        points = gpd.GeoSeries(dissolved.geometry.representative_point(), crs=CRS_BNG).to_crs(CRS_WGS84)
        labels += [{"name": n, "lat": round(p.y, 5), "lon": round(p.x, 5), "level": level}
                   for n, p in zip(dissolved[column], points, strict=True)]
    return {
        "lsoas": json.loads(wgs[["lsoa_code", "geometry"]].to_json(drop_id=True)),
        "outline": json.loads(gpd.GeoSeries(outline, crs=CRS_WGS84).to_json(drop_id=True)),
        "labels": labels,
    }


def trend_series(trend: pd.DataFrame) -> dict:
    out = {}
    for target, rows in trend.groupby("target", sort=False):
        out[str(target)] = {
            "weeks": [d.isoformat() for d in rows["forecast_date"]],
            "recorded": _none(rows["recorded"]),
            "forecast": _none(rows["forecast"]),
        }
    return out


def map_payload(
    predictions: pd.DataFrame,
    boundaries: Boundaries | None,
    trend: pd.DataFrame,
    map_cfg: HotspotMapConfig,
) -> dict:
    """Everything the map page's script reads (``window.WMP_MAP``)."""
    targets = [t["code"] for t in map_payload_targets(predictions)]
    payload = {
        "targets": [target_layer(predictions[predictions["target"] == t].sort_values("rank")) for t in targets],
        "lsoa_names": boundaries.names() if boundaries is not None else {},
        "lsoas": None,
        "outline": None,
        "labels": [],
        "label_min_zoom": map_cfg.label_min_zoom,
        "tiles": {"url": map_cfg.tile_url, "attribution": map_cfg.tile_attribution} if map_cfg.tile_url else None,
        "trends": trend_series(trend),
    }
    if boundaries is not None:
        payload.update(boundary_layers(boundaries))
    return payload


def render_map_page(
    forecast_date: date,
    predictions: pd.DataFrame,
    boundaries: Boundaries | None,
    trend: pd.DataFrame,
    map_cfg: HotspotMapConfig,
    links: dict[str, str] | None = None,
) -> str:
    """The map page's HTML; a week without predictions gives a page that says so."""
    notes = []
    if boundaries is None:
        notes.append(
            "No boundary file is configured (WMP_BOUNDARY_FILE), so the cells are drawn over a plain background "
            "without LSOA or force boundaries and area names."
        )
    if map_cfg.tile_url:
        notes.append("The basemap tiles come from the configured tile server: they show only while it can be reached.")
    empty = predictions.empty
    js, css = leaflet()
    window = {}
    if not empty:
        first = predictions["forecast_week"].iloc[0]
        last = predictions["forecast_window_end"].iloc[0]
        window = {"first": first, "last": last,
                  "versions": ", ".join(sorted(predictions["model_version"].astype(str).unique()))}
    return _env().get_template("map.html.j2").render(
        forecast_date=forecast_date,
        empty=empty,
        notes=notes,
        window=window,
        targets=[] if empty else [(t["code"], t["title"], t["cell_size_m"]) for t in map_payload_targets(predictions)],
        payload=None if empty else script_json(map_payload(predictions, boundaries, trend, map_cfg)),
        leaflet_js=js,
        leaflet_css=css,
        page_css=_static("page.css"),
        map_js=_static("map.js"),
        links=links or {},
    )


def map_payload_targets(predictions: pd.DataFrame) -> list[dict]:
    """The targets of the week in page order, with their titles and cell sizes."""
    order = [t for t in TARGET_TITLES if t in set(predictions["target"])]
    order += sorted(set(predictions["target"]) - set(order))
    return [
        {"code": t, "title": TARGET_TITLES.get(t, t), "cell_size_m": int(predictions.loc[predictions["target"] == t, "cell_size_m"].iloc[0])}
        for t in order
    ]


IOM_COLUMNS = (
    ("rank", "Rank", False),
    ("offender_key", "Offender key", False),
    ("band", "Band", False),
    ("probability", "Probability", True),
    ("harm_score", "Harm score", True),
    ("reasons", "Top reasons", False),
    ("local_area", "Local area", False),
)


def iom_rows(scores: pd.DataFrame, areas: dict[str, str], list_size: int) -> list[dict]:
    """The ranked list (rows with a rank, first ``list_size``), pseudonymised: offender keys only."""
    ranked = scores[scores["rank"].notna()].sort_values(["rank", "offender_key"]).head(list_size)
    out = []
    for r in ranked.itertuples(index=False):
        why = [str(v) for v in (r.reason_1, r.reason_2, r.reason_3) if v is not None and str(v) not in ("", "nan", "None")]
        out.append({
            "rank": int(r.rank),
            "offender_key": str(r.offender_key),
            "band": str(r.band),
            "probability": None if pd.isna(r.probability) else round(float(r.probability), 4),
            "harm_score": None if pd.isna(r.harm_score) else round(float(r.harm_score), 1),
            "reasons": "; ".join(why),
            "local_area": areas.get(str(r.offender_key)),
        })
    return out


def render_iom_page(
    forecast_date: date,
    week: date | None,
    scores: pd.DataFrame,
    areas: dict[str, str],
    list_size: int,
    links: dict[str, str] | None = None,
) -> str:
    rows = iom_rows(scores, areas, list_size) if week is not None else []
    notes = []
    if week is not None and week != forecast_date:
        notes.append(f"The newest IOM scores are of {week:%d %b %Y}, not this week's {forecast_date:%d %b %Y}.")
    if rows and not areas:
        notes.append("Local area is not known: it needs a boundary file with LSOA names (WMP_BOUNDARY_FILE).")
    payload = {
        "rows": rows,
        "columns": [{"key": k, "label": label} for k, label, _ in IOM_COLUMNS],
        "band_labels": BAND_LABELS,
    }
    bands = [b for b in BAND_LABELS if any(r["band"] == b for r in rows)]
    local = sorted({r["local_area"] for r in rows if r["local_area"]})
    return _env().get_template("iom.html.j2").render(
        forecast_date=forecast_date,
        week=week,
        rows=rows,
        notes=notes,
        columns=IOM_COLUMNS,
        bands=[(b, BAND_LABELS[b]) for b in bands],
        areas=local,
        list_size=list_size,
        n_ranked=int(scores["rank"].notna().sum()) if week is not None else 0,
        payload=script_json(payload),
        page_css=_static("page.css"),
        iom_js=_static("iom.js"),
        links=links or {},
    )
