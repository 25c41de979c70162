"""Longitude/latitude (WGS84) to British National Grid easting/northing.

police.uk publishes WGS84 longitude/latitude; the hotspot engine works on the
British National Grid (EPSG:27700) so that cells are squares in metres. The
conversion runs in Python with pyproj at load time, offline: pyproj uses the
best transformation whose grids are installed. The Ordnance Survey's OSTN15
grid (centimetre accuracy) is not shipped with pyproj, so without it pyproj
falls back to the EPSG Helmert transformation "OSGB36 to WGS 84 (6)", which
is good to a few metres. That is far below both the 250 m cell and the
snapping police.uk applies to every location (each crime is moved to the
nearest of a fixed set of anonymous map points), so no grid is downloaded.

Points outside a generous box around Great Britain are not converted
(``NaN``): a stray (0, 0) or swapped coordinate would otherwise land in the
sea hundreds of kilometres away and pass for a location.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pyproj

CRS_WGS84 = "EPSG:4326"
CRS_BNG = "EPSG:27700"

#: longitude/latitude box of Great Britain and its islands (EPSG:27700's area of use, padded)
GB_BOUNDS = (-9.5, 49.5, 2.5, 61.5)


@lru_cache(maxsize=1)
def _transformer() -> pyproj.Transformer:
    with warnings.catch_warnings():
        # "Best transformation is not available due to missing grid": expected offline, see above.
        warnings.simplefilter("ignore", UserWarning)
        return pyproj.Transformer.from_crs(CRS_WGS84, CRS_BNG, always_xy=True)


def transformation_description() -> str:
    """Which transformation pyproj actually uses (for run metadata)."""
    t = _transformer()
    t.transform(-1.47, 53.38)  # the operation is chosen on first use
    return t.description


def in_gb(lon, lat) -> np.ndarray:
    """True where a finite lon/lat lies inside :data:`GB_BOUNDS`."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    w, s, e, n = GB_BOUNDS
    return np.isfinite(lon) & np.isfinite(lat) & (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)


def to_bng(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Easting and northing (metres, EPSG:27700) of WGS84 lon/lat arrays; NaN where not in GB."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    ok = in_gb(lon, lat)
    easting = np.full(lon.shape, np.nan)
    northing = np.full(lon.shape, np.nan)
    if ok.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            e, n = _transformer().transform(lon[ok], lat[ok])
        easting[ok] = e
        northing[ok] = n
    return easting, northing
