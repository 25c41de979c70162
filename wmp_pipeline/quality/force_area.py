"""The force area as a bounding box on the British National Grid (EPSG:27700).

Data-quality checks only need to know whether a crime's easting / northing
could be inside the force area at all: a point far outside it is a keying or
geocoding error (swapped coordinates, a missing digit, a grid reference from
another force) and falls off the hotspot grid. A box is enough for that and
is cheap to test on millions of rows; the hotspot code uses the real polygons.

Where the box comes from, in order:

1. ``WMP_BOUNDARY_FILE`` (``settings.boundary_file``) when set: the total
   bounds of its polygons, reprojected to EPSG:27700, plus a margin
   (default 1 km);
2. otherwise :data:`WEST_MIDLANDS_BBOX`, the union of
   - the extent of the West Midlands Police area (the seven metropolitan
     boroughs: longitude -2.21..-1.42, latitude 52.34..52.69, which is
     about 385-440 km E and 271-310 km N on the BNG) plus ~3 km, and
   - everything within 30 km of Birmingham city centre (407 km E, 287 km N),
     which holds the synthetic force area :mod:`wmp_pipeline.generator` draws
     (centred there, at most ~27 km from the centre);
   giving E 377-444 km, N 257-317 km. It contains the Birmingham LSOA (2021)
   boundary shipped with the development data (397.8-418.5 km E,
   275.9-301.2 km N), which a test checks. Set ``WMP_BOUNDARY_FILE`` to the
   force's own boundary to tighten it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from wmp_pipeline.settings import Settings

BNG_EPSG = 27700


@dataclass(frozen=True)
class BngBox:
    """An axis-aligned box in British National Grid metres."""

    min_easting: int
    min_northing: int
    max_easting: int
    max_northing: int

    def __post_init__(self) -> None:
        if self.min_easting >= self.max_easting or self.min_northing >= self.max_northing:
            raise ValueError(f"empty bounding box {self}")

    def contains(self, easting: float, northing: float) -> bool:
        return self.min_easting <= easting <= self.max_easting and self.min_northing <= northing <= self.max_northing

    def contains_box(self, other: BngBox) -> bool:
        return (
            self.min_easting <= other.min_easting
            and self.min_northing <= other.min_northing
            and self.max_easting >= other.max_easting
            and self.max_northing >= other.max_northing
        )

    def as_suite_parameters(self) -> dict[str, int]:
        """The names the GX crimes suite uses for the box (``force_min_easting`` ...)."""
        return {
            "force_min_easting": self.min_easting,
            "force_max_easting": self.max_easting,
            "force_min_northing": self.min_northing,
            "force_max_northing": self.max_northing,
        }

    def describe(self) -> str:
        return f"E {self.min_easting:,}-{self.max_easting:,} m, N {self.min_northing:,}-{self.max_northing:,} m (EPSG:27700)"


#: Default force-area box: West Midlands Police plus 30 km around Birmingham centre (see module docstring).
WEST_MIDLANDS_BBOX = BngBox(min_easting=377_000, min_northing=257_000, max_easting=444_000, max_northing=317_000)


def bbox_from_boundary(path: Path, margin_m: int = 1_000) -> BngBox:
    """The BNG box around every polygon of a boundary file (any CRS geopandas can read), plus ``margin_m``."""
    path = Path(path)
    stat = path.stat()
    return _bbox_from_boundary_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, int(margin_m))


@lru_cache(maxsize=8)
def _bbox_from_boundary_cached(path: str, _mtime_ns: int, _size: int, margin_m: int) -> BngBox:
    import geopandas as gpd  # imported here: only needed when a boundary file is configured

    frame = gpd.read_file(path)
    if frame.crs is None:
        raise ValueError(f"boundary file {path} has no coordinate reference system")
    if frame.empty:
        raise ValueError(f"boundary file {path} holds no polygons")
    minx, miny, maxx, maxy = frame.to_crs(epsg=BNG_EPSG).total_bounds
    return BngBox(
        min_easting=int(minx // 1) - margin_m,
        min_northing=int(miny // 1) - margin_m,
        max_easting=int(-(-maxx // 1)) + margin_m,
        max_northing=int(-(-maxy // 1)) + margin_m,
    )


def force_area_bbox(settings: Settings | None = None) -> BngBox:
    """The box the checks use: from the configured boundary file if any, else the default."""
    if settings is not None and settings.boundary_file is not None:
        return bbox_from_boundary(settings.boundary_file)
    return WEST_MIDLANDS_BBOX
