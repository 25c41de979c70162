"""The space-time crime process: a weekly, cell-level, self-exciting Poisson process.

Each week ``w`` and 250 m cell ``c``, the number of crimes of process
category ``k`` committed is Poisson with mean

    lambda_k(c, w) = mu_k(w) * W_k(c, w)
                     + sum_j alpha[j, k] * sum_lag g(lag) * (K * N_j(w - lag))(c)

- ``mu_k(w)``: the category's background weekly count (yearly volume x
  season x trend, minus what excitation adds on average);
- ``W_k(c, w)``: where the category happens, a fixed mixture of residents x
  deprivation, night-time economy, the drifting violence and knife hotspot
  fields and a small flat floor (so every cell of the area has a positive
  intensity);
- the last term is the near-repeat effect (Johnson and Bowers 2004; Townsley,
  Homel and Chaseling 2003; for shootings and stabbings Ratcliffe and
  Rengert 2008, Haberman and Ratcliffe 2012): every violent event of type
  ``j`` in the past ``len(g)`` weeks adds ``alpha[j, k]`` expected events of
  type ``k``, spread over the following weeks by ``g`` (mean about two weeks)
  and over neighbouring cells by a Gaussian kernel ``K`` (sigma 200 m, i.e.
  "within a few hundred metres for a few weeks"). This is a discrete-time
  Hawkes process (Mohler et al. 2011, *JASA* 106).

Because excitation acts from the *next* week on, the intensity of week ``w``
is known exactly at the start of week ``w``: ``lambda`` is the hotspot ground
truth's ``expected_count`` with no approximation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wmp_pipeline.generator.geography import CELL_SIZE, Geography
from wmp_pipeline.generator.hotspots import SiteField
from wmp_pipeline.generator.offences import CAT, CATEGORIES, EXCITING, CrimeMix, OffenceReference
from wmp_pipeline.generator.rhythms import category_time_factors

WEEKS_PER_YEAR = 365.25 / 7.0

#: where each category happens: mixture weights of the spatial components
MIXTURE: dict[str, dict[str, float]] = {
    "knife": {"popdep": 0.26, "violence": 0.30, "knife": 0.37, "nightlife": 0.05, "flat": 0.02},
    "sv": {"popdep": 0.33, "violence": 0.40, "knife": 0.05, "nightlife": 0.20, "flat": 0.02},
    "vwi": {"popdep": 0.43, "violence": 0.25, "nightlife": 0.30, "flat": 0.02},
    "weapons": {"popdep": 0.23, "violence": 0.30, "knife": 0.45, "flat": 0.02},
    "lead": {"popdep": 0.48, "violence": 0.25, "nightlife": 0.25, "flat": 0.02},
    "other": {"residents": 0.53, "popdep": 0.15, "nightlife": 0.30, "flat": 0.02},
}

#: alpha[source, target]: expected events of the target category triggered by one source event
EXCITATION = np.array(
    [
        #  knife   sv     vwi   weapons    <- target; source below
        [0.04, 0.15, 0.30, 0.05],  # knife
        [0.004, 0.15, 0.10, 0.02],  # sv
        [0.001, 0.01, 0.06, 0.005],  # vwi
        [0.01, 0.05, 0.10, 0.08],  # weapons
    ]
)
#: share of the triggered events falling 1, 2, ... weeks after the source
LAG_WEIGHTS = np.array([0.45, 0.25, 0.14, 0.08, 0.05, 0.03])
KERNEL_SIGMA_M = 200.0
KERNEL_RADIUS_CELLS = 2

TARGETS = ("knife_injury", "serious_violence")


def spatial_kernel(sigma_m: float = KERNEL_SIGMA_M, radius: int = KERNEL_RADIUS_CELLS) -> np.ndarray:
    """(2r+1, 2r+1) Gaussian weights between cell centres, summing to 1."""
    d = np.arange(-radius, radius + 1) * CELL_SIZE
    k = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma_m**2))
    return k / k.sum()


@dataclass
class CrimeEvents:
    """Every process event: its week (index into ``week_starts``), cell and category."""

    week_starts: np.ndarray      # (n_weeks,) int64 day numbers of the simulated Mondays
    first_history_week: int      # index of the first week of the extract's history
    week: np.ndarray             # (n,) int32
    cell: np.ndarray             # (n,) int32
    category: np.ndarray         # (n,) int8
    #: target -> (n_history_weeks, n_cells) float32 expected counts (the ground truth)
    expected: dict[str, np.ndarray] = field(default_factory=dict)


def background_weekly_means(mix: CrimeMix) -> np.ndarray:
    """Per-category background weekly count so that the *total* (with excitation) hits the mix.

    In the stationary state the mean counts ``m`` satisfy ``m = mu + alpha^T m``
    over the exciting categories, so ``mu = (I - alpha^T) m``.
    """
    m = mix.category_totals() / WEEKS_PER_YEAR
    mu = m.copy()
    ex = [CAT[c] for c in EXCITING]
    mu[ex] = m[ex] - EXCITATION.T @ m[ex]
    if (mu <= 0).any():
        raise ValueError("excitation exceeds the volume of a category; lower EXCITATION")
    return mu


def _spatial_components(geo: Geography) -> dict[str, np.ndarray]:
    pop = geo.population
    comps = {
        "residents": pop,
        "popdep": pop * (0.2 + geo.deprivation) ** 2,
        "nightlife": geo.nightlife,
        "flat": np.ones(geo.n_cells),
    }
    return {k: v / v.sum() for k, v in comps.items()}


def simulate_crime_process(
    geo: Geography,
    fields: dict[str, SiteField],
    mix: CrimeMix,
    ref: OffenceReference,
    week_starts: np.ndarray,
    first_history_week: int,
    end_day: int,
    rng: np.random.Generator,
    progress=None,
) -> CrimeEvents:
    """Run the process over ``week_starts`` (burn-in weeks first) and keep every event."""
    n_weeks = len(week_starts)
    n_cells = geo.n_cells
    n_cat = len(CATEGORIES)
    ex_idx = [CAT[c] for c in EXCITING]
    n_ex = len(ex_idx)
    n_lag = len(LAG_WEIGHTS)

    comps = _spatial_components(geo)
    static = np.zeros((n_cat, n_cells))
    dyn = np.zeros((n_cat, 2))  # weights of the violence and knife fields
    for k, name in enumerate(CATEGORIES):
        for comp, wgt in MIXTURE[name].items():
            if comp in fields:
                dyn[k, ("violence", "knife").index(comp)] = wgt
            else:
                static[k] += wgt * comps[comp]
    mu = background_weekly_means(mix)
    time_factors = category_time_factors(week_starts, end_day)  # (n_cat, n_weeks)

    kernel = spatial_kernel()
    r = KERNEL_RADIUS_CELLS
    # coef[target, lag * n_ex + source] = g(lag) alpha[source, target]
    coef = (LAG_WEIGHTS[:, None, None] * EXCITATION[None, :, :]).reshape(n_lag * n_ex, n_ex).T
    # ring buffer of kernel-spread counts of the exciting categories, most recent first
    spread = np.zeros((n_lag, n_ex, n_cells))

    knife_sv_share = mix.serious_violence_share(CAT["knife"], ref)
    n_hist = n_weeks - first_history_week
    exp_knife = np.zeros((n_hist, n_cells), dtype=np.float32)
    exp_sv = np.zeros((n_hist, n_cells), dtype=np.float32)

    out_week, out_cell, out_cat, out_n = [], [], [], []
    grid = np.zeros((geo.ny + 2 * r, geo.nx + 2 * r))
    flat = geo.cell_flat
    iy, ix = flat // geo.nx, flat % geo.nx
    for w in range(n_weeks):
        fv = fields["violence"].at_week(w)
        fk = fields["knife"].at_week(w)
        where = static + dyn[:, :1] * fv[None, :] + dyn[:, 1:] * fk[None, :]
        lam = (mu * time_factors[:, w])[:, None] * where
        triggered = coef @ spread.reshape(n_lag * n_ex, n_cells)
        lam[ex_idx] += triggered

        counts = rng.poisson(lam)
        if w >= first_history_week:
            h = w - first_history_week
            exp_knife[h] = lam[CAT["knife"]]
            exp_sv[h] = lam[CAT["sv"]] + knife_sv_share * lam[CAT["knife"]]

        spread = np.roll(spread, 1, axis=0)
        for j, k in enumerate(ex_idx):
            grid[:] = 0.0
            grid[iy + r, ix + r] = counts[k]
            acc = np.zeros((geo.ny, geo.nx))
            for a in range(2 * r + 1):
                for b in range(2 * r + 1):
                    acc += kernel[a, b] * grid[a : a + geo.ny, b : b + geo.nx]
            spread[0, j] = acc[iy, ix]

        kk, cc = np.nonzero(counts)
        out_week.append(np.full(len(kk), w, dtype=np.int32))
        out_cell.append(cc.astype(np.int32))
        out_cat.append(kk.astype(np.int8))
        out_n.append(counts[kk, cc].astype(np.int32))
        if progress is not None:
            progress(w + 1, n_weeks)

    reps = np.concatenate(out_n)
    return CrimeEvents(
        week_starts=np.asarray(week_starts, dtype=np.int64),
        first_history_week=first_history_week,
        week=np.repeat(np.concatenate(out_week), reps),
        cell=np.repeat(np.concatenate(out_cell), reps),
        category=np.repeat(np.concatenate(out_cat), reps),
        expected={"knife_injury": exp_knife, "serious_violence": exp_sv},
    )
