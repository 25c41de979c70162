"""Cells, force area, LSOAs and neighbours (wmp_pipeline.hotspot.grid)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.hotspot import engine
from wmp_pipeline.hotspot.grid import build_neighbours, cell_ids, cell_origin, disc_offsets, footprint
from wmp_pipeline.hotspot.periods import period_index, period_start, sql_period_index

BIRMINGHAM = Path(__file__).resolve().parents[2] / "shared" / "data" / "boundaries" / "boundaries-lsoa-birmingham.geojson"


def test_cell_ids_are_aligned_to_the_cell_size():
    assert cell_origin([400_249.9, 400_250, -1], 250).tolist() == [400_000, 400_250, -250]
    assert cell_ids([400_000], [280_250], 250).tolist() == ["250m_400000_280250"]


def test_footprint_is_a_disc_around_occupied_cells_not_a_rectangle():
    assert len(disc_offsets(2.0)) == 13
    cells = footprint(np.array([[0, 0], [10, 10]]), 2.0)
    assert len(cells) == 26  # two separate discs; the bounding box would hold 13 x 13 = 169
    assert [5, 5] not in cells.tolist()


def _events(points):
    t = datetime(2024, 1, 3)
    return pd.DataFrame(
        {
            "event_id": [f"E{i}" for i in range(len(points))],
            "easting": [p[0] for p in points],
            "northing": [p[1] for p in points],
            "event_time": t,
            "known_time": t,
            "lsoa_code": [p[2] for p in points],
            "knife_injury": True,
            "serious_violence": True,
        }
    )


CFG = engine.HotspotConfig.weekly(related=(), footprint_buffer_m=250)


def test_cells_without_boundary_take_the_commonest_lsoa_of_their_crimes():
    con = duckdb.connect()
    ev = engine.prepare_events(con, _events([(400_010, 280_010, "E01000002"), (400_020, 280_020, "E01000002"),
                                              (400_030, 280_030, "E01000001")]))
    cells = engine.build_cells(con, ev, CFG)
    assert len(cells) == 5  # the occupied cell and its 4 edge neighbours (250 m disc)
    own = cells.set_index("cell_id").loc["250m_400000_280000"]
    assert own["lsoa_code"] == "E01000002"
    assert own["geometry_wkt"] == "POLYGON ((400250 280000, 400250 280250, 400000 280250, 400000 280000, 400250 280000))"


def _square(x0, y0, x1, y1):
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


@pytest.fixture
def boundary_file(tmp_path) -> Path:
    # two LSOAs side by side: A is 0..600 m, B is 600..1000 m east of 400 000
    features = [
        {"type": "Feature", "properties": {"lsoa21cd": "E01000001"},
         "geometry": {"type": "Polygon", "coordinates": _square(400_000, 280_000, 400_600, 280_500)}},
        {"type": "Feature", "properties": {"lsoa21cd": "E01000002"},
         "geometry": {"type": "Polygon", "coordinates": _square(400_600, 280_000, 401_000, 280_500)}},
    ]
    path = tmp_path / "lsoa.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
                                "features": features}))
    return path


def test_boundary_cells_take_the_lsoa_of_largest_overlap(boundary_file):
    con = duckdb.connect()
    ev = engine.prepare_events(con, _events([(400_100, 280_100, None), (405_000, 285_000, None)]))
    boundary = engine.load_boundary(boundary_file)
    cells = engine.build_cells(con, ev, CFG, boundary).set_index("cell_id")
    inside = cells[cells.in_force_area]
    assert len(inside) == 8  # 4 x 2 cells of 250 m cover 1000 x 500 m
    assert inside.loc["250m_400500_280000", "lsoa_code"] == "E01000002"  # 100 m in A, 150 m in B
    assert inside.loc["250m_400250_280000", "lsoa_code"] == "E01000001"
    outside = cells[~cells.in_force_area]
    assert outside.index.tolist() == ["250m_405000_285000"]  # a crime outside the boundary: listed, not ranked


def test_lsoa_units_panel(boundary_file):
    con = duckdb.connect()
    start = date(2024, 1, 1)
    rows = []
    for w in range(30):
        t = datetime.combine(start + timedelta(weeks=w), datetime.min.time()) + timedelta(days=1)
        rows.append((f"A{w}", 400_100, 280_100, t))
        if w % 3 == 0:
            rows.append((f"B{w}", 400_900, 280_100, t))
    df = pd.DataFrame(rows, columns=["event_id", "easting", "northing", "event_time"])
    df["known_time"] = df["event_time"]
    df["knife_injury"] = True
    df["serious_violence"] = True
    cfg = engine.HotspotConfig.weekly(unit="lsoa", related=(), backtest_periods=2, train_periods=8)
    ev = engine.prepare_events(con, df)
    boundary = engine.load_boundary(boundary_file)
    cells = engine.build_cells(con, ev, cfg, boundary)
    assert cells["cell_id"].tolist() == ["E01000001", "E01000002"]
    assert cells["area_m2"].tolist() == pytest.approx([300_000.0, 200_000.0])
    info = engine.build_panel(con, ev, cells, cfg, start + timedelta(weeks=30), first_date=start + timedelta(weeks=1))
    last = con.execute(f"SELECT cell_id, knife_injury_c4, knife_injury_c4_r1 FROM hotspot_panel WHERE t = {info.as_of_period} ORDER BY cell_id").df()
    assert last["knife_injury_c4"].tolist() == [4, 1]  # A every week, B every third week (week 27)
    assert last["knife_injury_c4_r1"].tolist() == [1, 4]  # they touch: each is the other's neighbour


def test_neighbour_rings_of_an_interior_grid_cell():
    ix, iy = np.meshgrid(np.arange(9), np.arange(9))
    from wmp_pipeline.hotspot.grid import grid_frame

    cells = grid_frame(ix.ravel(), iy.ravel(), 250)
    cells["in_force_area"] = True
    nb = build_neighbours(cells, engine.HotspotConfig.weekly())
    centre = nb[nb.cell_id == "250m_1000_1000"]
    assert (centre.ring == 1).sum() == 8
    assert (centre.ring == 2).sum() == 16
    ph = centre[centre.ring == 0]
    assert len(ph) == 9 and ph.distance_m.max() == pytest.approx(250 * np.sqrt(2))  # 400 m reaches the 8 neighbours
    district = centre[centre.ring == 3]
    assert district.distance_m.min() > 500 and district.distance_m.max() <= 1000


def test_periods_agree_between_python_and_sql():
    con = duckdb.connect()
    for period in ("week", "month"):
        for d in (date(2020, 2, 29), date(2024, 1, 1), date(1999, 12, 31)):
            sql = con.execute(f"SELECT {sql_period_index('x', period)} FROM (SELECT DATE '{d}' AS x)").fetchall()[0][0]
            assert sql == period_index(d, period)
            assert period_start(period_index(d, period), period) <= d
    assert period_start(period_index(date(2024, 1, 3), "week"), "week") == date(2024, 1, 1)


@pytest.mark.skipif(not BIRMINGHAM.exists(), reason="shared boundary data not present")
def test_birmingham_boundary_is_reprojected_to_the_national_grid():
    b = engine.load_boundary(BIRMINGHAM)
    assert b.crs.to_epsg() == 27700 and len(b) == 659
    minx, miny, maxx, maxy = b.total_bounds
    assert 395_000 < minx < maxx < 420_000 and 274_000 < miny < maxy < 302_000
