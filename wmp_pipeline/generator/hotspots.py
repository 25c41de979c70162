"""Violence and knife-crime hotspots: few, small, stable, slowly drifting.

The law of crime concentration (Weisburd 2015, *Criminology* 53(2)) finds
that about 1-6% of street segments or small places hold half of a city's
crime, and that the hot places stay hot for years (Weisburd et al. 2004,
Seattle trajectories; Braga, Papachristos and Hureau 2010 on Boston gun
violence). Here a hotspot field is a sum of small Gaussian *sites*
(a street, an estate, a parade of shops: sigma about 200 m) with heavy-tailed
(log-normal) strengths:

- the **violence field** is shared by serious violence, violence with
  injury, weapon possession, the related leading crimes and knife crime, so
  the high-volume related crimes carry information about where the rare
  targets happen;
- the **knife field** has its own sites (drawn where deprivation is highest),
  shared only by knife crime and weapon possession (carrying knives).

Sites drift: each site's log-strength is a slow mean-reverting walk
(stationary sd 0.35, correlation time three years), and about one site in
seven is born during the history and one in seven dies out, so a model that weights
recent years beats one that counts everything equally, without the map
changing from month to month.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from wmp_pipeline.generator.geography import CELL_SIZE, Geography

DRIFT_SD = 0.35
DRIFT_WEEKS = 156.0
BIRTH_SHARE = 0.15
DEATH_SHARE = 0.15
RAMP_WEEKS = 13.0


@dataclass
class SiteField:
    """Per-cell intensity of a set of hotspot sites, week by week."""

    kernel: np.ndarray      # (n_cells, n_sites) float32, each column sums to 1 over the area
    strength: np.ndarray    # (n_sites, n_weeks) float32
    #: the parts of ``strength = exp(log_base + walk) * alive`` (for :meth:`expected_at`)
    log_base: np.ndarray | None = None   # (n_sites,) fixed log-strength of each site
    walk: np.ndarray | None = None       # (n_sites, n_weeks) mean-reverting walk around it
    alive: np.ndarray | None = None      # (n_sites, n_weeks) birth / death ramp (a fixed schedule)
    _sparse_kernel: sparse.csr_matrix | None = field(default=None, repr=False, compare=False)

    def at_week(self, w: int) -> np.ndarray:
        """(n_cells,) field at week index ``w`` normalised to sum 1."""
        f = self.kernel @ self.strength[:, w]
        return f / f.sum()

    def expected_at(self, w: int, ahead: int) -> np.ndarray:
        """(n_cells,) expected field at week ``w + ahead`` given the field up to week ``w``, normalised.

        The walk is an AR(1) with ``rho = 1 - 1/DRIFT_WEEKS`` and stationary
        sd ``DRIFT_SD``, so given ``walk[w]``, ``walk[w + h]`` is normal with
        mean ``rho**h walk[w]`` and variance ``DRIFT_SD**2 (1 - rho**(2h))``
        and ``E[exp(walk[w + h])] = exp(rho**h walk[w] + variance / 2)``. The
        birth / death ramps are a fixed schedule (part of the state). The
        normalisation divides by the sum over hundreds of sites, which moves by
        well under 1% in a few weeks: the ratio of expectations is used.
        """
        if ahead == 0:
            return self.at_week(w)
        if self.walk is None:
            raise ValueError("this SiteField has no walk: build it with build_site_field")
        rho = 1.0 - 1.0 / DRIFT_WEEKS
        var = DRIFT_SD**2 * (1.0 - rho ** (2 * ahead))
        s = np.exp(self.log_base + rho**ahead * self.walk[:, w] + var / 2.0) * self.alive[:, w + ahead]
        if self._sparse_kernel is None:
            self._sparse_kernel = sparse.csr_matrix(self.kernel, dtype=np.float64)
        f = self._sparse_kernel @ s
        return f / f.sum()


def build_site_field(
    geo: Geography,
    n_sites: int,
    placement_weight: np.ndarray,
    n_weeks: int,
    rng: np.random.Generator,
) -> SiteField:
    """Place ``n_sites`` sites with probability ``placement_weight`` per cell and drift them."""
    p = placement_weight / placement_weight.sum()
    cells = rng.choice(geo.n_cells, size=n_sites, replace=True, p=p)
    sx = geo.cell_x0[cells] + rng.uniform(0, CELL_SIZE, n_sites)
    sy = geo.cell_y0[cells] + rng.uniform(0, CELL_SIZE, n_sites)
    sigma = np.clip(np.exp(rng.normal(np.log(200.0), 0.3, n_sites)), 100.0, 450.0)

    cx = geo.cell_x0 + CELL_SIZE / 2.0
    cy = geo.cell_y0 + CELL_SIZE / 2.0
    kernel = np.zeros((geo.n_cells, n_sites), dtype=np.float32)
    for s in range(n_sites):
        d2 = (cx - sx[s]) ** 2 + (cy - sy[s]) ** 2
        near = d2 < (3.0 * sigma[s]) ** 2
        # the site's own cell centre is at most 177 m away, inside 3 sigma (>= 300 m)
        k = np.exp(-d2[near] / (2.0 * sigma[s] ** 2))
        kernel[near, s] = k / k.sum()

    base = rng.normal(0.0, 1.0, n_sites)
    # mean-reverting walk of the log strength
    rho = 1.0 - 1.0 / DRIFT_WEEKS
    step_sd = DRIFT_SD * np.sqrt(1.0 - rho**2)
    walk = np.empty((n_sites, n_weeks))
    walk[:, 0] = rng.normal(0.0, DRIFT_SD, n_sites)
    shocks = rng.normal(0.0, step_sd, (n_sites, n_weeks))
    for w in range(1, n_weeks):
        walk[:, w] = rho * walk[:, w - 1] + shocks[:, w]
    log_strength = base[:, None] + walk

    weeks = np.arange(n_weeks)[None, :]
    born = rng.random(n_sites) < BIRTH_SHARE
    dies = ~born & (rng.random(n_sites) < DEATH_SHARE / (1.0 - BIRTH_SHARE))
    t_birth = rng.uniform(0, n_weeks, n_sites)[:, None]
    t_death = rng.uniform(0, n_weeks, n_sites)[:, None]
    alive = np.ones((n_sites, n_weeks))
    alive = np.where(born[:, None], 1.0 / (1.0 + np.exp(-(weeks - t_birth) / (RAMP_WEEKS / 4))), alive)
    alive = np.where(dies[:, None], 1.0 / (1.0 + np.exp((weeks - t_death) / (RAMP_WEEKS / 4))), alive)
    strength = (np.exp(log_strength) * alive).astype(np.float32)
    return SiteField(kernel=kernel, strength=strength, log_base=base, walk=walk, alive=alive)


def build_hotspot_fields(geo: Geography, n_weeks: int, rng: np.random.Generator) -> dict[str, SiteField]:
    """The shared violence field and the knife-specific field."""
    n_violence = max(3, int(round(0.33 * geo.area_km2)))
    n_knife = max(2, int(round(0.10 * geo.area_km2)))
    pop = geo.population / geo.population.mean()
    violence_w = pop * (0.2 + geo.deprivation) ** 2 + 2.0 * geo.nightlife / geo.nightlife.mean() * 0.1
    knife_w = pop * (0.1 + geo.deprivation) ** 4
    return {
        "violence": build_site_field(geo, n_violence, violence_w, n_weeks, rng),
        "knife": build_site_field(geo, n_knife, knife_w, n_weeks, rng),
    }
