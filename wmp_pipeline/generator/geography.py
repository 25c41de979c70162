"""A synthetic force area on the British National Grid, with people and LSOAs.

The area is an irregular, star-shaped polygon centred on Birmingham city
centre (E 407000, N 287000, EPSG:27700) whose size is set by the preset
(about 900 km2 for ``force``, like West Midlands Police's area). It is
rasterised into the 250 m cells the hotspot models and the ground truth use
(``cell_id = f"250m_{x0}_{y0}"``).

On the cells live three smooth surfaces:

- **residents**: a big central city, satellite towns and local centres
  (Gaussian bumps), a noisy base and parks with almost nobody, scaled to the
  preset's population;
- **deprivation**: an inner-city ring plus smooth noise (0..1), standing in
  for the Index of Multiple Deprivation;
- **night-time economy**: the city core, town centres and local centres.

LSOAs (``E01`` + 6 digits, numbered from ``E01900001`` so they can never be
mistaken for real 2021 codes) are built like the ONS builds them: small areas
of about 1,500 residents. Seeds are drawn where people live, and a weighted
(power) Voronoi partition of a 125 m raster is balanced until each LSOA holds
close to 1,500 residents, which makes city-centre LSOAs small and suburban
ones large. Regions (5 km blocks) group LSOAs for journey-to-crime matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELL_SIZE = 250
FINE_SIZE = 125
CENTRE_E = 407_000.0
CENTRE_N = 287_000.0
RESIDENTS_PER_LSOA = 1_500
REGION_SIZE = 5_000
LSOA_CODE_BASE = 900_000


@dataclass
class Geography:
    """The force area: cells, surfaces, LSOAs. Arrays over inside cells are in ``cell_flat`` order."""

    area_km2: float
    x_origin: int
    y_origin: int
    nx: int
    ny: int
    cell_index: np.ndarray      # (ny, nx) int32: index into inside cells, -1 outside
    cell_flat: np.ndarray       # (n_cells,) flat grid index iy * nx + ix of each inside cell
    population: np.ndarray      # (n_cells,) residents
    deprivation: np.ndarray     # (n_cells,) 0..1
    nightlife: np.ndarray       # (n_cells,) >= 0, night-time economy intensity
    fine_lsoa: np.ndarray       # (2 ny, 2 nx) int32 LSOA index of each 125 m pixel, -1 outside
    lsoa_codes: np.ndarray      # (n_lsoa,) object
    lsoa_population: np.ndarray  # (n_lsoa,)
    lsoa_deprivation: np.ndarray  # (n_lsoa,)
    lsoa_region: np.ndarray     # (n_lsoa,) int
    cell_lsoa: np.ndarray       # (n_cells,) LSOA holding most of the cell
    boundary: np.ndarray        # (m, 2) polygon vertices (easting, northing)

    @property
    def n_cells(self) -> int:
        return len(self.cell_flat)

    @property
    def cell_x0(self) -> np.ndarray:
        return self.x_origin + (self.cell_flat % self.nx) * CELL_SIZE

    @property
    def cell_y0(self) -> np.ndarray:
        return self.y_origin + (self.cell_flat // self.nx) * CELL_SIZE

    def cell_ids(self) -> np.ndarray:
        x0, y0 = self.cell_x0, self.cell_y0
        return np.array([f"{CELL_SIZE}m_{x}_{y}" for x, y in zip(x0.tolist(), y0.tolist())], dtype=object)

    def cell_of(self, easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
        """Index of the inside cell holding each point, -1 outside the area."""
        ix = np.floor((np.asarray(easting, float) - self.x_origin) / CELL_SIZE).astype(np.int64)
        iy = np.floor((np.asarray(northing, float) - self.y_origin) / CELL_SIZE).astype(np.int64)
        ok = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        out = np.full(ix.shape, -1, dtype=np.int64)
        out[ok] = self.cell_index[iy[ok], ix[ok]]
        return out

    def lsoa_of(self, easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
        """LSOA index of each point, -1 outside the area."""
        fx = np.floor((np.asarray(easting, float) - self.x_origin) / FINE_SIZE).astype(np.int64)
        fy = np.floor((np.asarray(northing, float) - self.y_origin) / FINE_SIZE).astype(np.int64)
        ok = (fx >= 0) & (fx < 2 * self.nx) & (fy >= 0) & (fy < 2 * self.ny)
        out = np.full(fx.shape, -1, dtype=np.int64)
        out[ok] = self.fine_lsoa[fy[ok], fx[ok]]
        return out

    def random_points(self, cells: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Whole-metre points uniformly inside the given cells."""
        e = self.cell_x0[cells] + rng.integers(0, CELL_SIZE, size=len(cells))
        n = self.cell_y0[cells] + rng.integers(0, CELL_SIZE, size=len(cells))
        return e.astype(np.int64), n.astype(np.int64)


def _boundary_radius(n_harmonics: int, rng: np.random.Generator):
    """r(theta) of a star-shaped irregular outline, up to a scale."""
    k = np.arange(2, 2 + n_harmonics)
    a = rng.normal(0, 0.13 / k**0.8)
    b = rng.normal(0, 0.13 / k**0.8)

    def log_r(theta: np.ndarray) -> np.ndarray:
        th = np.asarray(theta, float)[..., None]
        return (a * np.cos(k * th) + b * np.sin(k * th)).sum(-1)

    return log_r


def _smooth(a: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Separable Gaussian blur (edges reflect), pure numpy."""
    if sigma_cells <= 0:
        return a
    r = max(1, int(3 * sigma_cells))
    x = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (x / sigma_cells) ** 2)
    k /= k.sum()
    out = np.pad(a, ((r, r), (0, 0)), mode="reflect")
    out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, out)
    out = np.pad(out, ((0, 0), (r, r)), mode="reflect")
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, out)


def _bumps(xk: np.ndarray, yk: np.ndarray, centres: np.ndarray, amps: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    out = np.zeros_like(xk)
    for (cx, cy), a, s in zip(centres, amps, sigmas):
        out += a * np.exp(-((xk - cx) ** 2 + (yk - cy) ** 2) / (2 * s * s))
    return out


def _points_in_polygon(n: int, radius_km: float, log_r, rng: np.random.Generator, rmin: float, rmax: float) -> np.ndarray:
    """n points (km, relative to the centre) at a random angle and relative radius."""
    th = rng.uniform(0, 2 * np.pi, n)
    rel = rng.uniform(rmin, rmax, n)
    r = radius_km * np.exp(log_r(th)) * rel
    return np.column_stack([r * np.cos(th), r * np.sin(th)])


def build_geography(area_km2: float, population: int, rng: np.random.Generator) -> Geography:
    """Draw the force area, its surfaces and its LSOAs."""
    # --- outline ---------------------------------------------------------------
    log_r = _boundary_radius(6, rng)
    th = np.linspace(0, 2 * np.pi, 3600, endpoint=False)
    unit_area = 0.5 * np.mean(np.exp(2 * log_r(th))) * 2 * np.pi  # area at R = 1 km
    radius_km = float(np.sqrt(area_km2 / unit_area))
    rmax_m = radius_km * 1000 * float(np.exp(log_r(th)).max())

    x_origin = int(np.floor((CENTRE_E - rmax_m) / CELL_SIZE) * CELL_SIZE) - CELL_SIZE
    y_origin = int(np.floor((CENTRE_N - rmax_m) / CELL_SIZE) * CELL_SIZE) - CELL_SIZE
    nx = int(np.ceil((CENTRE_E + rmax_m - x_origin) / CELL_SIZE)) + 1
    ny = int(np.ceil((CENTRE_N + rmax_m - y_origin) / CELL_SIZE)) + 1

    xs = (x_origin + (np.arange(nx) + 0.5) * CELL_SIZE - CENTRE_E) / 1000.0
    ys = (y_origin + (np.arange(ny) + 0.5) * CELL_SIZE - CENTRE_N) / 1000.0
    xk, yk = np.meshgrid(xs, ys)  # (ny, nx), km from the centre
    dist = np.hypot(xk, yk)
    inside = dist < radius_km * np.exp(log_r(np.arctan2(yk, xk)))

    # --- residents -------------------------------------------------------------
    scale = area_km2 / 900.0
    n_towns = int(round(7 * scale)) if area_km2 >= 60 else 0
    n_local = max(2, int(round(30 * scale)))
    n_green = max(1, int(round(15 * scale)))
    towns = _points_in_polygon(n_towns, radius_km, log_r, rng, 0.35, 0.85)
    town_amp = rng.uniform(0.45, 0.8, n_towns)
    local = _points_in_polygon(n_local, radius_km, log_r, rng, 0.0, 0.9)
    local_amp = rng.uniform(0.2, 0.45, n_local)
    green = _points_in_polygon(n_green, radius_km, log_r, rng, 0.1, 0.95)

    main_sigma = min(4.0, 0.45 * radius_km)
    density = _bumps(xk, yk, np.array([[0.0, 0.0]]), np.array([1.0]), np.array([main_sigma]))
    density += _bumps(xk, yk, towns, town_amp, rng.uniform(1.2, 2.2, n_towns))
    density += _bumps(xk, yk, local, local_amp, rng.uniform(0.4, 0.8, n_local))
    density += 0.12
    noise = _smooth(rng.normal(size=(ny, nx)), 4.0)
    density *= np.exp(0.35 * noise / (noise.std() + 1e-12))
    parks = _bumps(xk, yk, green, np.ones(n_green), rng.uniform(0.3, 1.0, n_green))
    density *= 1.0 - 0.9 * np.clip(parks, 0, 1)

    # --- deprivation and night-time economy ------------------------------------
    ring_r = min(3.5, 0.35 * radius_km)
    ring_w = min(2.0, 0.3 * radius_km)
    ring = np.exp(-((dist - ring_r) ** 2) / (2 * ring_w**2))
    dep_noise = _smooth(rng.normal(size=(ny, nx)), 6.0)
    dep_noise /= dep_noise.std() + 1e-12
    deprivation = 1.0 / (1.0 + np.exp(-(1.6 * ring + 0.9 * dep_noise - 0.5)))

    nightlife = _bumps(xk, yk, np.array([[0.0, 0.0]]), np.array([1.0]), np.array([min(0.7, 0.3 * radius_km)]))
    nightlife += _bumps(xk, yk, towns, 0.35 * town_amp, np.full(n_towns, 0.4))
    nightlife += _bumps(xk, yk, local, 0.3 * local_amp, np.full(n_local, 0.25))
    nightlife += 0.01

    cell_index = np.full((ny, nx), -1, dtype=np.int32)
    cell_flat = np.flatnonzero(inside.reshape(-1))
    cell_index.reshape(-1)[cell_flat] = np.arange(len(cell_flat), dtype=np.int32)
    pop = density.reshape(-1)[cell_flat]
    pop = pop / pop.sum() * population

    geo = Geography(
        area_km2=len(cell_flat) * CELL_SIZE**2 / 1e6,
        x_origin=x_origin,
        y_origin=y_origin,
        nx=nx,
        ny=ny,
        cell_index=cell_index,
        cell_flat=cell_flat,
        population=pop,
        deprivation=deprivation.reshape(-1)[cell_flat],
        nightlife=nightlife.reshape(-1)[cell_flat],
        fine_lsoa=np.empty((0, 0), np.int32),
        lsoa_codes=np.empty(0, object),
        lsoa_population=np.empty(0),
        lsoa_deprivation=np.empty(0),
        lsoa_region=np.empty(0, np.int64),
        cell_lsoa=np.empty(0, np.int64),
        boundary=np.column_stack(
            [CENTRE_E + 1000 * radius_km * np.exp(log_r(th[::20])) * np.cos(th[::20]),
             CENTRE_N + 1000 * radius_km * np.exp(log_r(th[::20])) * np.sin(th[::20])]
        ).round(),
    )
    _build_lsoas(geo, population, rng)
    return geo


def _build_lsoas(geo: Geography, population: int, rng: np.random.Generator) -> None:
    """Balanced power-Voronoi LSOAs of about 1,500 residents on a 125 m raster."""
    n_lsoa = max(2, int(round(population / RESIDENTS_PER_LSOA)))
    # fine pixels: 4 per inside cell
    cell_ix = geo.cell_flat % geo.nx
    cell_iy = geo.cell_flat // geo.nx
    sub = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    px = (2 * cell_ix[:, None] + sub[None, :, 0]).reshape(-1)
    py = (2 * cell_iy[:, None] + sub[None, :, 1]).reshape(-1)
    pix_cell = np.repeat(np.arange(geo.n_cells), 4)
    pix_pop = geo.population[pix_cell] / 4.0
    pe = geo.x_origin + (px + 0.5) * FINE_SIZE
    pn = geo.y_origin + (py + 0.5) * FINE_SIZE

    seed_cells = rng.choice(geo.n_cells, size=n_lsoa, replace=True, p=geo.population / geo.population.sum())
    se = geo.cell_x0[seed_cells] + rng.uniform(0, CELL_SIZE, n_lsoa)
    sn = geo.cell_y0[seed_cells] + rng.uniform(0, CELL_SIZE, n_lsoa)

    k = min(12, n_lsoa)
    cand = np.empty((len(pe), k), dtype=np.int32)
    cd2 = np.empty((len(pe), k), dtype=np.float64)
    for lo in range(0, len(pe), 8192):
        hi = min(lo + 8192, len(pe))
        d2 = (pe[lo:hi, None] - se[None, :]) ** 2 + (pn[lo:hi, None] - sn[None, :]) ** 2
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < n_lsoa else np.tile(np.arange(n_lsoa), (hi - lo, 1))
        cand[lo:hi] = idx
        cd2[lo:hi] = np.take_along_axis(d2, idx, axis=1)

    target = pix_pop.sum() / n_lsoa
    w = np.zeros(n_lsoa)
    rows = np.arange(len(pe))
    for _ in range(40):
        assign = cand[rows, np.argmin(cd2 - w[cand], axis=1)]
        pops = np.bincount(assign, weights=pix_pop, minlength=n_lsoa)
        npix = np.bincount(assign, minlength=n_lsoa)
        area = np.maximum(npix, 1) * FINE_SIZE**2
        w += 0.25 * np.clip((target - pops) / target, -1.0, 1.0) * area
    assign = cand[rows, np.argmin(cd2 - w[cand], axis=1)]

    used = np.unique(assign)
    # number LSOAs from south-west to north-east by their population centroid
    pops = np.bincount(assign, weights=pix_pop, minlength=n_lsoa)
    ce = np.bincount(assign, weights=pix_pop * pe, minlength=n_lsoa) / np.maximum(pops, 1e-9)
    cn = np.bincount(assign, weights=pix_pop * pn, minlength=n_lsoa) / np.maximum(pops, 1e-9)
    order = used[np.lexsort((ce[used], np.round(cn[used] / 2000)))]
    relabel = np.full(n_lsoa, -1, dtype=np.int64)
    relabel[order] = np.arange(len(order))
    lsoa_pix = relabel[assign]
    n_used = len(order)

    fine = np.full((2 * geo.ny, 2 * geo.nx), -1, dtype=np.int32)
    fine[py, px] = lsoa_pix
    geo.fine_lsoa = fine
    geo.lsoa_codes = np.array([f"E01{LSOA_CODE_BASE + i + 1:06d}" for i in range(n_used)], dtype=object)
    geo.lsoa_population = np.bincount(lsoa_pix, weights=pix_pop, minlength=n_used)
    geo.lsoa_deprivation = np.bincount(lsoa_pix, weights=pix_pop * geo.deprivation[pix_cell], minlength=n_used) / np.maximum(
        geo.lsoa_population, 1e-9
    )
    rx = ((ce[order] - geo.x_origin) // REGION_SIZE).astype(np.int64)
    ry = ((cn[order] - geo.y_origin) // REGION_SIZE).astype(np.int64)
    _, geo.lsoa_region = np.unique(ry * 10_000 + rx, return_inverse=True)
    four = lsoa_pix.reshape(geo.n_cells, 4)
    counts = (four[:, :, None] == four[:, None, :]).sum(-1)
    geo.cell_lsoa = four[np.arange(geo.n_cells), np.argmax(counts, axis=1)]
