"""Spatial units: square British National Grid cells, or LSOA polygons.

Grid cells are aligned to multiples of the cell size, so a cell's id can be
computed from any easting/northing without a lookup:
``cell_id = f"{size}m_{x0}_{y0}"`` with ``x0 = floor(easting / size) * size``
(the generator's ground truth uses the same ids at 250 m).

Which cells make up the force area:

* with a boundary file (GeoJSON of LSOA polygons, any CRS, reprojected to
  EPSG:27700): every cell that intersects the union of the polygons. Each
  cell's ``lsoa_code`` is the LSOA that covers most of it. Cells outside the
  boundary where events happened are listed with ``in_force_area = False`` so
  analysts can see them, but are never ranked.
* without one: the *footprint* of the data, i.e. every cell whose centre is
  within ``footprint_buffer_m`` of the centre of a cell where any event ever
  happened (a disc of cells around each occupied cell). This follows the
  shape of the settled area instead of filling the bounding rectangle or the
  convex hull with empty fields and water. Each cell's ``lsoa_code`` is the
  most common ``lsoa_code`` of its events, when the events carry one.

The engine only needs, for each unit: ``cell_id``, a centre (``cx``, ``cy``),
an area and whether it is in the force area; and a table of neighbours.
"""

from __future__ import annotations

import math

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from wmp_pipeline.hotspot.config import HotspotConfig

CRS_BNG = "EPSG:27700"
CRS_WGS84 = "EPSG:4326"

CELL_COLUMNS = [
    "cell_id",
    "cell_size_m",
    "x0",
    "y0",
    "cx",
    "cy",
    "area_m2",
    "geometry_wkt",
    "lsoa_code",
    "in_force_area",
]


def cell_origin(coord, size: int):
    """Lower-left corner of the cell holding ``coord`` (array or scalar)."""
    return (np.floor(np.asarray(coord, dtype="float64") / size) * size).astype("int64")


def cell_ids(x0, y0, size: int) -> np.ndarray:
    """``f"{size}m_{x0}_{y0}"`` for arrays of corners."""
    x0 = np.asarray(x0, dtype="int64").astype(str)
    y0 = np.asarray(y0, dtype="int64").astype(str)
    return np.char.add(np.char.add(np.char.add(f"{size}m_", x0), "_"), y0)


def disc_offsets(radius_cells: float) -> np.ndarray:
    """Integer (dx, dy) offsets whose length is at most ``radius_cells``."""
    r = int(math.floor(radius_cells))
    dx, dy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    keep = dx**2 + dy**2 <= radius_cells**2 + 1e-9
    return np.column_stack([dx[keep], dy[keep]])


def footprint(occupied_ix: np.ndarray, buffer_cells: float) -> np.ndarray:
    """Cell indices (ix, iy) within ``buffer_cells`` of an occupied cell index."""
    occupied_ix = np.unique(np.asarray(occupied_ix, dtype="int64").reshape(-1, 2), axis=0)
    if len(occupied_ix) == 0:
        return occupied_ix
    offsets = disc_offsets(buffer_cells)
    grown = (occupied_ix[:, None, :] + offsets[None, :, :]).reshape(-1, 2)
    return np.unique(grown, axis=0)


def grid_frame(ix: np.ndarray, iy: np.ndarray, size: int) -> gpd.GeoDataFrame:
    """Cells of the given integer indices as a GeoDataFrame in EPSG:27700."""
    x0 = np.asarray(ix, dtype="int64") * size
    y0 = np.asarray(iy, dtype="int64") * size
    geoms = shapely.box(x0, y0, x0 + size, y0 + size)
    frame = pd.DataFrame(
        {
            "cell_id": cell_ids(x0, y0, size),
            "cell_size_m": size,
            "x0": x0,
            "y0": y0,
            "cx": x0 + size / 2.0,
            "cy": y0 + size / 2.0,
            "area_m2": float(size * size),
        }
    )
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=CRS_BNG)


def load_boundary(path, code_column: str | None = None) -> gpd.GeoDataFrame:
    """LSOA polygons from a GeoJSON (any CRS) as ``lsoa_code, geometry`` in EPSG:27700."""
    gdf = gpd.read_file(path)
    if gdf.crs is None:
        gdf = gdf.set_crs(CRS_WGS84)
    gdf = gdf.to_crs(CRS_BNG)
    if code_column is None:
        candidates = [c for c in gdf.columns if c.lower() in ("lsoa21cd", "lsoa11cd", "lsoa_code", "lsoa")]
        if not candidates:
            raise ValueError(f"{path}: no LSOA code column (looked for lsoa21cd, lsoa11cd, lsoa_code)")
        code_column = candidates[0]
    gdf = gdf.rename(columns={code_column: "lsoa_code"})[["lsoa_code", "geometry"]]
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    return gdf.reset_index(drop=True)


def _occupied(con: duckdb.DuckDBPyConnection, events: str, size: int) -> pd.DataFrame:
    return con.execute(
        f"""
        SELECT CAST(floor(easting / {size}) AS BIGINT) AS ix,
               CAST(floor(northing / {size}) AS BIGINT) AS iy,
               count(*) AS n_events
        FROM {events}
        WHERE easting IS NOT NULL AND northing IS NOT NULL
        GROUP BY ALL
        """
    ).df()


def _event_lsoa_mode(con: duckdb.DuckDBPyConnection, events: str, size: int) -> pd.DataFrame:
    columns = {c.lower() for c in con.execute(f"SELECT * FROM {events} LIMIT 0").df().columns}
    if "lsoa_code" not in columns:
        return pd.DataFrame(columns=["x0", "y0", "lsoa_code"])
    return con.execute(
        f"""
        SELECT CAST(floor(easting / {size}) * {size} AS BIGINT) AS x0,
               CAST(floor(northing / {size}) * {size} AS BIGINT) AS y0,
               mode(lsoa_code ORDER BY lsoa_code) AS lsoa_code
        FROM {events}
        WHERE easting IS NOT NULL AND northing IS NOT NULL AND lsoa_code IS NOT NULL
        GROUP BY ALL
        """
    ).df()


def build_grid_cells(
    con: duckdb.DuckDBPyConnection,
    events: str,
    cfg: HotspotConfig,
    boundary: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Grid cells of the force area (see the module docstring for the rule)."""
    size = cfg.cell_size_m
    occupied = _occupied(con, events, size)
    if boundary is not None:
        minx, miny, maxx, maxy = boundary.total_bounds
        ix, iy = np.meshgrid(
            np.arange(math.floor(minx / size), math.floor(maxx / size) + 1),
            np.arange(math.floor(miny / size), math.floor(maxy / size) + 1),
        )
        cand = grid_frame(ix.ravel(), iy.ravel(), size)
        area = shapely.union_all(boundary.geometry.values)
        shapely.prepare(area)
        geoms = cand.geometry.values
        inside = shapely.intersects(area, geoms) & ~shapely.touches(area, geoms)  # sharing only an edge is outside
        cells = cand[inside].reset_index(drop=True)
        cells["in_force_area"] = True
        pieces = gpd.overlay(cells[["cell_id", "geometry"]], boundary, how="intersection", keep_geom_type=True)
        pieces["piece_area"] = pieces.geometry.area
        best = pieces.sort_values(["cell_id", "piece_area", "lsoa_code"], ascending=[True, False, True])
        best = best.drop_duplicates("cell_id")[["cell_id", "lsoa_code"]]
        cells = cells.merge(best, on="cell_id", how="left")
        known = set(cells["cell_id"])
        out_ids = cell_ids(occupied["ix"] * size, occupied["iy"] * size, size)
        outside = occupied[~np.isin(out_ids, list(known))]
        if len(outside):
            extra = grid_frame(outside["ix"].to_numpy(), outside["iy"].to_numpy(), size)
            extra["in_force_area"] = False
            modes = _event_lsoa_mode(con, events, size)
            extra = extra.merge(modes, on=["x0", "y0"], how="left")
            cells = pd.concat([cells, extra], ignore_index=True)
    else:
        grown = footprint(occupied[["ix", "iy"]].to_numpy(), cfg.footprint_buffer_m / size)
        cells = grid_frame(grown[:, 0], grown[:, 1], size)
        cells["in_force_area"] = True
        cells = cells.merge(_event_lsoa_mode(con, events, size), on=["x0", "y0"], how="left")
    cells = gpd.GeoDataFrame(cells, geometry="geometry", crs=CRS_BNG)
    cells["geometry_wkt"] = shapely.to_wkt(cells.geometry.values, rounding_precision=1, trim=True)
    cells["lsoa_code"] = cells["lsoa_code"].astype("string")
    cells["in_force_area"] = cells["in_force_area"].astype(bool)
    return cells.sort_values(["y0", "x0"]).reset_index(drop=True)[CELL_COLUMNS + ["geometry"]]


def build_lsoa_units(boundary: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """LSOA polygons as units: ``cell_id`` is the LSOA code."""
    units = boundary.dissolve(by="lsoa_code", as_index=False)
    centres = units.geometry.representative_point()
    bounds = units.geometry.bounds
    units = gpd.GeoDataFrame(
        {
            "cell_id": units["lsoa_code"].astype(str),
            "cell_size_m": 0,
            "x0": np.floor(bounds["minx"]).astype("int64"),
            "y0": np.floor(bounds["miny"]).astype("int64"),
            "cx": centres.x.to_numpy(),
            "cy": centres.y.to_numpy(),
            "area_m2": units.geometry.area.to_numpy(),
            "lsoa_code": units["lsoa_code"].astype("string"),
            "in_force_area": True,
        },
        geometry=units.geometry.values,
        crs=CRS_BNG,
    )
    units["geometry_wkt"] = shapely.to_wkt(units.geometry.values, rounding_precision=1, trim=True)
    return units.sort_values("cell_id").reset_index(drop=True)[CELL_COLUMNS + ["geometry"]]


def build_cells(
    con: duckdb.DuckDBPyConnection,
    events: str,
    cfg: HotspotConfig,
    boundary: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """The spatial units of ``cfg.unit`` (LSOA units need a boundary)."""
    if cfg.unit == "lsoa":
        if boundary is None:
            raise ValueError("unit='lsoa' needs a boundary file of LSOA polygons")
        return build_lsoa_units(boundary)
    return build_grid_cells(con, events, cfg, boundary)


def build_neighbours(cells: gpd.GeoDataFrame, cfg: HotspotConfig) -> pd.DataFrame:
    """Pairs ``cell_id, nbr_id, ring, distance_m`` between units of the force area.

    ``ring`` 1 is the 8 cells around a grid cell (for LSOAs: those sharing a
    boundary or corner); ring 2 the next ring out (16 cells; LSOAs touching a
    ring-1 LSOA); ring 3 every other unit whose centre is within
    ``district_radius_m``. ``ring`` 0 rows pair a unit with itself and with every unit
    whose centre is within the prospective-hotspotting bandwidth, with the
    distance between centres: they drive the prospective score.
    """
    area = cells[cells["in_force_area"]].reset_index(drop=True)
    if cfg.unit == "grid":
        size = cfg.cell_size_m
        reach = max(2.0, cfg.ph_bandwidth_m / size, cfg.district_radius_m / size)
        r = int(math.ceil(reach))
        dx, dy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
        off = pd.DataFrame({"dx": dx.ravel(), "dy": dy.ravel()})
        off["ring"] = np.maximum(np.abs(off.dx), np.abs(off.dy))
        off["distance_m"] = np.hypot(off.dx, off.dy) * size
        pairs = area[["cell_id", "x0", "y0"]].merge(off, how="cross")
        pairs["nx"] = pairs.x0 + pairs.dx * size
        pairs["ny"] = pairs.y0 + pairs.dy * size
        lookup = area[["cell_id", "x0", "y0"]].rename(columns={"cell_id": "nbr_id", "x0": "nx", "y0": "ny"})
        pairs = pairs.merge(lookup, on=["nx", "ny"], how="inner")
        district = (pairs.ring > 2) & (pairs.distance_m <= cfg.district_radius_m + 1e-6)
        pairs["ring"] = np.where(pairs.ring <= 2, pairs.ring, np.where(district, 3, -1))
        ringed = pairs[pairs.ring.isin([1, 2, 3])][["cell_id", "nbr_id", "ring", "distance_m"]]
        ph = pairs[pairs.distance_m <= cfg.ph_bandwidth_m + 1e-6][["cell_id", "nbr_id", "distance_m"]].assign(ring=0)
        return pd.concat([ringed, ph[["cell_id", "nbr_id", "ring", "distance_m"]]], ignore_index=True)
    geo = area[["cell_id", "geometry"]]
    touch = gpd.sjoin(geo, geo.rename(columns={"cell_id": "nbr_id"}), predicate="intersects")
    touch = touch[touch.cell_id != touch.nbr_id][["cell_id", "nbr_id"]].drop_duplicates()
    ring2 = touch.merge(touch.rename(columns={"cell_id": "nbr_id", "nbr_id": "nbr2"}), on="nbr_id")
    ring2 = ring2[["cell_id", "nbr2"]].rename(columns={"nbr2": "nbr_id"}).drop_duplicates()
    ring2 = ring2[ring2.cell_id != ring2.nbr_id]
    ring2 = ring2.merge(touch.assign(seen=True), on=["cell_id", "nbr_id"], how="left")
    ring2 = ring2[ring2.seen.isna()][["cell_id", "nbr_id"]]
    centre = area.set_index("cell_id")[["cx", "cy"]]
    out = pd.concat([touch.assign(ring=1), ring2.assign(ring=2)], ignore_index=True)
    cx = np.stack([area["cx"].to_numpy(), area["cy"].to_numpy()], axis=1)  # GeoDataFrame.cx is an indexer
    d = np.hypot(cx[:, None, 0] - cx[None, :, 0], cx[:, None, 1] - cx[None, :, 1])
    i, j = np.nonzero(d <= cfg.ph_bandwidth_m)
    ids = area.cell_id.to_numpy()
    ph = pd.DataFrame({"cell_id": ids[i], "nbr_id": ids[j], "ring": 0, "distance_m": d[i, j]})
    if cfg.district_radius_m > 0:
        i3, j3 = np.nonzero(d <= cfg.district_radius_m)
        near = pd.DataFrame({"cell_id": ids[i3], "nbr_id": ids[j3], "distance_m": d[i3, j3]})
        near = near[near.cell_id != near.nbr_id].merge(out[["cell_id", "nbr_id"]].assign(seen=True), on=["cell_id", "nbr_id"], how="left")
        out = pd.concat([out, near[near.seen.isna()].drop(columns="seen").assign(ring=3)], ignore_index=True)
    a = centre.loc[out.cell_id].to_numpy()
    b = centre.loc[out.nbr_id].to_numpy()
    out["distance_m"] = np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1])
    return pd.concat([out, ph], ignore_index=True)[["cell_id", "nbr_id", "ring", "distance_m"]]


def assign_lsoa_units(points: pd.DataFrame, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Map distinct ``easting, northing`` pairs to the LSOA unit that contains them."""
    pts = gpd.GeoDataFrame(
        points[["easting", "northing"]].copy(),
        geometry=shapely.points(points["easting"].to_numpy(float), points["northing"].to_numpy(float)),
        crs=CRS_BNG,
    )
    hit = gpd.sjoin(pts, units[["cell_id", "geometry"]], predicate="within", how="inner")
    hit = hit.drop_duplicates(subset=["easting", "northing"])
    return pd.DataFrame(hit[["easting", "northing", "cell_id"]])


def parse_cell_ids(ids) -> pd.DataFrame:
    """``size, x0, y0`` of grid cell ids ``f"{size}m_{x0}_{y0}"`` (a ValueError names the first bad id)."""
    parts = pd.Series(np.asarray(ids, dtype=object)).astype(str).str.extract(r"^(\d+)m_(-?\d+)_(-?\d+)$")
    bad = parts[0].isna()
    if bad.any():
        raise ValueError(f"not a grid cell id: {np.asarray(ids, dtype=object)[bad.to_numpy()][0]!r}")
    return pd.DataFrame({"size": parts[0].astype("int64"), "x0": parts[1].astype("int64"), "y0": parts[2].astype("int64")})


def regrid(frame: pd.DataFrame, size: int, value: str, keys: list[str], id_column: str = "cell_id") -> pd.DataFrame:
    """Move ``value`` (an expected count) from the grid cells of ``frame[id_column]`` to cells of ``size`` m.

    Each source cell's value is split over the target cells it overlaps in
    proportion to the shared area (exact when the target cells are whole
    multiples of the source, as 1000 m cells are of 250 m ones; for 707 m
    cells it assumes the value is spread evenly within each 250 m cell).
    Returns ``keys + [id_column, value]`` summed per target cell.
    """
    src = parse_cell_ids(frame[id_column].to_numpy())
    s = src["size"].to_numpy(dtype="float64")
    x0, y0 = src["x0"].to_numpy(dtype="float64"), src["y0"].to_numpy(dtype="float64")
    reach = int(math.ceil(float(s.max()) / size)) + 1 if len(s) else 1
    vals = frame[value].to_numpy(dtype="float64")
    pieces = []
    for dx in range(reach):
        ix = np.floor(x0 / size) + dx
        ox = np.clip(np.minimum(x0 + s, (ix + 1) * size) - np.maximum(x0, ix * size), 0, None)
        for dy in range(reach):
            iy = np.floor(y0 / size) + dy
            oy = np.clip(np.minimum(y0 + s, (iy + 1) * size) - np.maximum(y0, iy * size), 0, None)
            w = ox * oy / (s * s)
            keep = w > 0
            if not keep.any():
                continue
            part = frame.loc[keep, keys].reset_index(drop=True)
            part[id_column] = cell_ids(ix[keep] * size, iy[keep] * size, size)
            part[value] = vals[keep] * w[keep]
            pieces.append(part)
    if not pieces:
        return pd.DataFrame(columns=[*keys, id_column, value])
    out = pd.concat(pieces, ignore_index=True)
    for k in keys:
        if isinstance(out[k].dtype, pd.CategoricalDtype):
            out[k] = out[k].astype(out[k].cat.categories.dtype)
    return out.groupby([*keys, id_column], as_index=False, sort=False)[value].sum()
