"""The week's analyst pages and exports: built in the weekly run, read back, and the bad-input cases."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from tests.maps_pages import boundary_from_cells, outside_references
from wmp_pipeline.hotspot.config import HotspotMapConfig
from wmp_pipeline.hotspot.predictions import PREDICTION_COLUMNS
from wmp_pipeline.iom.scoring import RISK_SCORE_COLUMNS
from wmp_pipeline.maps import page, schema
from wmp_pipeline.maps.build import build_week

DOCS = Path(__file__).resolve().parents[1] / "docs" / "exports.md"


def _meta(tiny_run) -> dict:
    mat = tiny_run.result.asset_materializations_for_node("analyst_pages")
    assert mat, "analyst_pages was not materialised in the weekly run"
    return {k: v.value for k, v in mat[0].metadata.items()}


def test_weekly_run_writes_pages_and_exports_that_read_back(tiny_run):
    meta = _meta(tiny_run)
    with duckdb.connect(str(tiny_run.settings.duckdb_path), read_only=True) as con:
        preds = con.execute("select * from hotspot_predictions").df()
        iom = con.execute("select * from iom_risk_scores where week = (select max(week) from iom_risk_scores)").df()
    assert len(preds) and meta["hotspot_rows"] == len(preds)

    gpkg = Path(meta["geopackage"])
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert layers == set(preds["target"])
    for target in layers:
        gdf = gpd.read_file(gpkg, layer=target)
        rows = preds[preds["target"] == target]
        assert gdf.crs.to_epsg() == 27700
        assert len(gdf) == len(rows)
        assert list(gdf.columns) == PREDICTION_COLUMNS + ["geometry"]
        assert set(gdf["cell_id"]) == set(rows["cell_id"])
        assert (gdf.geometry.area.round() == (gdf["cell_size_m"] ** 2).astype(float)).all()
        assert np.allclose(gdf.sort_values("rank")["predicted_count"], rows.sort_values("rank")["predicted_count"])

    csv = pd.read_csv(meta["iom_csv"])
    assert list(csv.columns) == RISK_SCORE_COLUMNS
    assert len(csv) == len(iom) and set(csv["offender_key"]) == set(iom["offender_key"])
    assert Path(meta["iom_csv"]).stat().st_mode & 0o077 == 0  # lists offenders: owner-only

    html = Path(meta["map_page"]).read_text()
    assert outside_references(html) == []
    assert "window.WMP_MAP" in html and "L.map(" in html
    # without a boundary file the map still renders, over a plain background, and says why
    assert "No boundary file is configured" in html
    iom_html = Path(meta["iom_page"]).read_text()
    assert outside_references(iom_html) == [] and "window.WMP_IOM" in iom_html
    assert "person_id" not in iom_html and not re.search(r"\bP\d{5,}\b", iom_html)

    # the briefing links to the page and the exports, by paths that resolve beside it
    briefing = Path(tiny_run.settings.artifacts_dir) / "briefings" / f"briefing_{tiny_run.forecast_date.isoformat()}.html"
    hrefs = re.findall(r'href="(\.\./maps/[^"]+)"', briefing.read_text())
    assert len(hrefs) == 4 and all((briefing.parent / h).resolve().exists() for h in hrefs), hrefs


def test_pages_with_a_boundary_file_name_the_areas(tiny_run, tmp_path):
    boundary = boundary_from_cells(tiny_run.settings.duckdb_path, tmp_path / "lsoas.geojson")
    with duckdb.connect(str(tiny_run.settings.duckdb_path), read_only=True) as con:
        out = build_week(con, tiny_run.forecast_date, tmp_path, boundary, HotspotMapConfig(), 100)
    html = out.paths["map_page"].read_text()
    assert "No boundary file" not in html and "Tinyshire 001A" in html
    assert '"level":"district"' in html and '"name":"Tinyshire"' in html
    assert out.counts["local_areas_known"] > 0
    assert "Tinyshire" in out.paths["iom_page"].read_text()


def test_a_week_without_predictions_gives_pages_that_say_so(tmp_path):
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        out = build_week(con, date(2024, 6, 3), tmp_path, None, HotspotMapConfig(), 250)
    html = out.paths["map_page"].read_text()
    assert 'id="no-predictions"' in html and "window.WMP_MAP" not in html
    assert 'id="no-scores"' in out.paths["iom_page"].read_text()
    assert "geopackage" not in out.paths and "iom_csv" not in out.paths
    assert any("no hotspot predictions" in n for n in out.notes)


def test_tile_basemap_only_when_configured():
    preds = pd.DataFrame({
        "target": "knife_injury", "forecast_week": date(2024, 6, 3), "forecast_window_end": date(2024, 6, 30),
        "cell_id": ["1000m_400000_280000"], "cell_size_m": 1000,
        "geometry_wkt": ["POLYGON ((400000 280000, 401000 280000, 401000 281000, 400000 281000, 400000 280000))"],
        "lsoa_code": ["E01000001"], "predicted_count": [0.5], "prob_at_least_one": [0.39], "rank": [1],
        "rank_last_week": pd.array([2], dtype="Int64"), "rank_change": pd.array([1], dtype="Int64"), "in_top_n": [True],
        "count_last_4_weeks": pd.array([1], dtype="Int64"), "count_last_52_weeks": pd.array([7], dtype="Int64"),
        "model_version": ["m1"],
    })
    empty_trend = pd.DataFrame(columns=["target", "forecast_date", "recorded", "forecast"])
    off = page.render_map_page(date(2024, 6, 3), preds, None, empty_trend, HotspotMapConfig())
    assert '"tiles":null' in off
    url = "https://tiles.force.example/{z}/{x}/{y}.png"
    on = page.render_map_page(date(2024, 6, 3), preds, None, empty_trend, HotspotMapConfig(tile_url=url, tile_attribution="Force GIS"))
    assert url in on and "tile server" in on


def test_class_breaks_increase_and_skip_repeats():
    assert page.class_breaks(np.zeros(50)) == []
    b = page.class_breaks(np.r_[np.zeros(900), np.linspace(0.01, 3, 100)])
    assert b == sorted(set(b)) and all(v > 0 for v in b)


def test_export_schema_is_documented_column_by_column():
    text = DOCS.read_text()
    for name, kind, unit, _ in schema.HOTSPOT_SCHEMA + schema.IOM_SCHEMA:
        assert re.search(rf"\| `{name}` \| {re.escape(kind)} \| {re.escape(unit)} \|", text), f"{name} not documented in {DOCS}"
    assert schema.markdown(schema.HOTSPOT_SCHEMA) in text and schema.markdown(schema.IOM_SCHEMA) in text
