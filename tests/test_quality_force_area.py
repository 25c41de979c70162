"""The force-area box: default, from a boundary file, and as suite parameters."""

from __future__ import annotations

import dataclasses
import json

import pytest

from wmp_pipeline.quality.force_area import WEST_MIDLANDS_BBOX, BngBox, bbox_from_boundary, force_area_bbox
from wmp_pipeline.settings import PROJECT_ROOT, get_settings

BIRMINGHAM_LSOAS = PROJECT_ROOT.parent / "shared" / "data" / "boundaries" / "boundaries-lsoa-birmingham.geojson"


def _square_geojson(path, lon0, lat0, size_deg):
    ring = [[lon0, lat0], [lon0 + size_deg, lat0], [lon0 + size_deg, lat0 + size_deg], [lon0, lat0 + size_deg], [lon0, lat0]]
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {"lsoa21cd": "E01000001"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}],
            }
        )
    )
    return path


def test_default_box_holds_birmingham_centre_and_not_london_or_swapped_coordinates():
    assert WEST_MIDLANDS_BBOX.contains(407_000, 287_000)  # Birmingham city centre
    assert WEST_MIDLANDS_BBOX.contains(433_500, 279_000)  # Coventry
    assert WEST_MIDLANDS_BBOX.contains(391_500, 298_500)  # Wolverhampton
    assert not WEST_MIDLANDS_BBOX.contains(530_000, 180_000)  # London
    assert not WEST_MIDLANDS_BBOX.contains(287_000, 407_000)  # easting and northing swapped
    assert not WEST_MIDLANDS_BBOX.contains(40_700, 287_000)  # a digit dropped


def test_default_box_contains_the_generators_synthetic_force_area():
    # the generator centres its area on Birmingham and keeps it within ~27 km of the centre
    assert WEST_MIDLANDS_BBOX.contains_box(BngBox(407_000 - 30_000, 287_000 - 30_000, 407_000 + 30_000, 287_000 + 30_000))


@pytest.mark.skipif(not BIRMINGHAM_LSOAS.exists(), reason="development boundary data not present")
def test_default_box_contains_the_birmingham_lsoa_boundary():
    birmingham = bbox_from_boundary(BIRMINGHAM_LSOAS, margin_m=0)
    assert 397_000 < birmingham.min_easting < 398_500 and 418_000 < birmingham.max_easting < 419_000
    assert WEST_MIDLANDS_BBOX.contains_box(birmingham)


def test_a_boundary_file_sets_the_box_with_a_margin(tmp_path):
    path = _square_geojson(tmp_path / "area.geojson", -1.90, 52.45, 0.05)  # a few km around Birmingham
    box = bbox_from_boundary(path, margin_m=1000)
    assert box.contains(407_000, 287_000)
    assert box.max_easting - box.min_easting < 10_000
    settings = dataclasses.replace(get_settings(), boundary_file=path)
    assert force_area_bbox(settings) == box
    assert force_area_bbox(dataclasses.replace(settings, boundary_file=None)) == WEST_MIDLANDS_BBOX
    assert box.as_suite_parameters() == {
        "force_min_easting": box.min_easting,
        "force_max_easting": box.max_easting,
        "force_min_northing": box.min_northing,
        "force_max_northing": box.max_northing,
    }


def test_an_empty_box_is_rejected():
    with pytest.raises(ValueError):
        BngBox(400_000, 280_000, 400_000, 290_000)
