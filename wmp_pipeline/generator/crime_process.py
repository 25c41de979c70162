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

The **forecast truth** (the 28-day ceiling) is the expected number of crimes
in the ``FORECAST_WEEKS`` weeks from a forecast date ``T`` *given the history
before* ``T``: ``E[N(T, T + 28 days) | H_T] = sum_h m(T + h)``, h = 0..3. The
process is linear in its past counts and a Poisson count's mean is its
intensity, so the conditional means follow the intensity's own recursion
with the not-yet-happened counts replaced by their conditional means:

    m_k(T + h) = b_k(T + h) + sum_j alpha[j, k] sum_lag g(lag) (K * c_j(T + h - lag))
    c_j(s) = N_j(s) (the realised count) for s < T, m_j(s) for s >= T

with ``b`` the background (``mu x season x trend x where``; the hotspot
fields' expected drift given their state at ``T``, see
``SiteField.expected_at``). ``m(T) = lambda(T)``; weeks 2-4 add the
expected offspring (and offspring of offspring) of the window's own
expected crimes, never the crimes themselves. :func:`expected_ahead` is
the recursion; it is exact (no Monte Carlo).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

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
#: weeks of the forecast window of the forecast truth (28 days)
FORECAST_WEEKS = 4


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
    #: target -> (n_history_weeks - FORECAST_WEEKS + 1, n_cells) float32: row ``i`` is
    #: E[crimes in the FORECAST_WEEKS weeks from history week i | history before it]
    forecast: dict[str, np.ndarray] = field(default_factory=dict)


def excitation_coefficients(alpha: np.ndarray = EXCITATION, lag_weights: np.ndarray = LAG_WEIGHTS) -> np.ndarray:
    """``coef[target, lag * n_ex + source] = g(lag) alpha[source, target]`` (lag 1 first)."""
    n_lag, n_ex = len(lag_weights), alpha.shape[0]
    return (np.asarray(lag_weights)[:, None, None] * alpha[None, :, :]).reshape(n_lag * n_ex, n_ex).T


def spread_over_cells(values: np.ndarray, geo: Geography, kernel: np.ndarray) -> np.ndarray:
    """``K * x`` for each row ``x`` of ``values`` (n_rows, n_cells): every cell's value spread
    over the cells around it with the weights of ``kernel`` ((2r+1, 2r+1), see :func:`spatial_kernel`)."""
    r = kernel.shape[0] // 2
    values = np.atleast_2d(values)
    iy, ix = geo.cell_flat // geo.nx, geo.cell_flat % geo.nx
    grid = np.zeros((values.shape[0], geo.ny + 2 * r, geo.nx + 2 * r))
    grid[:, iy + r, ix + r] = values
    acc = np.zeros((values.shape[0], geo.ny, geo.nx))
    for a in range(2 * r + 1):
        for b in range(2 * r + 1):
            acc += kernel[a, b] * grid[:, a : a + geo.ny, b : b + geo.nx]
    return acc[:, iy, ix]


def kernel_matrix(geo: Geography, kernel: np.ndarray) -> sparse.csr_matrix:
    """``K`` as an (n_cells, n_cells) sparse matrix: ``K @ x`` equals :func:`spread_over_cells` of ``x``."""
    r = kernel.shape[0] // 2
    iy, ix = geo.cell_flat // geo.nx, geo.cell_flat % geo.nx
    index = np.full((geo.ny + 2 * r, geo.nx + 2 * r), -1, dtype=np.int64)
    index[iy + r, ix + r] = np.arange(geo.n_cells)
    rows, cols, vals = [], [], []
    for a in range(2 * r + 1):
        for b in range(2 * r + 1):
            nb = index[iy + a, ix + b]
            ok = nb >= 0
            rows.append(np.flatnonzero(ok))
            cols.append(nb[ok])
            vals.append(np.full(int(ok.sum()), kernel[a, b]))
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(geo.n_cells, geo.n_cells)
    )


def expected_ahead(background: np.ndarray, recent: np.ndarray, spread, coef: np.ndarray | None = None) -> np.ndarray:
    """Expected counts of the exciting categories in weeks ``T .. T+H-1`` given the history before ``T``.

    ``background``: (H, n_ex, n_cells) background means ``b(T + h)``;
    ``recent``: (n_lag, n_ex, n_cells) kernel-spread realised counts ``K * N(T - 1)``,
    ``K * N(T - 2)`` ... (the simulation's ring buffer at the start of week ``T``);
    ``spread``: ``x (n_ex, n_cells) -> K * x``; ``coef``: :func:`excitation_coefficients`.
    Returns (H, n_ex, n_cells): ``m(T + h)`` of the module docstring.
    """
    coef = excitation_coefficients() if coef is None else coef
    n_h, n_ex, n_cells = background.shape
    buf = np.array(recent, dtype=np.float64)
    n_lag = buf.shape[0]
    out = np.empty((n_h, n_ex, n_cells))
    for h in range(n_h):
        # einsum, not BLAS: a threaded BLAS call on this small product is ten times slower on a busy machine
        out[h] = background[h] + np.einsum("kl,lc->kc", coef, buf.reshape(n_lag * n_ex, n_cells))
        if h + 1 < n_h:
            buf = np.roll(buf, 1, axis=0)
            buf[0] = spread(out[h])
    return out


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
    # coef[target, lag * n_ex + source] = g(lag) alpha[source, target]
    coef = excitation_coefficients()
    # ring buffer of kernel-spread counts of the exciting categories, most recent first
    spread = np.zeros((n_lag, n_ex, n_cells))

    knife_sv_share = mix.serious_violence_share(CAT["knife"], ref)
    n_hist = n_weeks - first_history_week
    exp_knife = np.zeros((n_hist, n_cells), dtype=np.float32)
    exp_sv = np.zeros((n_hist, n_cells), dtype=np.float32)
    # the forecast truth, for every history week whose FORECAST_WEEKS-week window is simulated
    n_fc = max(n_hist - FORECAST_WEEKS + 1, 0)
    fc_knife = np.zeros((n_fc, n_cells), dtype=np.float32)
    fc_sv = np.zeros((n_fc, n_cells), dtype=np.float32)
    ki, si = ex_idx.index(CAT["knife"]), ex_idx.index(CAT["sv"])
    ex_static, ex_dyn, ex_mu = static[ex_idx], dyn[ex_idx], mu[ex_idx]

    def spread_fn(x: np.ndarray) -> np.ndarray:
        return spread_over_cells(x, geo, kernel)

    kmat = kernel_matrix(geo, kernel)

    def spread_expected(x: np.ndarray) -> np.ndarray:
        return (kmat @ x.T).T

    out_week, out_cell, out_cat, out_n = [], [], [], []
    for w in range(n_weeks):
        fv = fields["violence"].at_week(w)
        fk = fields["knife"].at_week(w)
        where = static + dyn[:, :1] * fv[None, :] + dyn[:, 1:] * fk[None, :]
        lam = (mu * time_factors[:, w])[:, None] * where
        o = w - first_history_week
        if 0 <= o < n_fc:
            bg = np.empty((FORECAST_WEEKS, n_ex, n_cells))
            bg[0] = lam[ex_idx]
            for a in range(1, FORECAST_WEEKS):
                efv = fields["violence"].expected_at(w, a)
                efk = fields["knife"].expected_at(w, a)
                bg[a] = (ex_mu * time_factors[ex_idx, w + a])[:, None] * (
                    ex_static + ex_dyn[:, :1] * efv[None, :] + ex_dyn[:, 1:] * efk[None, :]
                )
            m = expected_ahead(bg, spread, spread_expected, coef).sum(axis=0)
            fc_knife[o] = m[ki]
            fc_sv[o] = m[si] + knife_sv_share * m[ki]
        triggered = coef @ spread.reshape(n_lag * n_ex, n_cells)
        lam[ex_idx] += triggered

        counts = rng.poisson(lam)
        if w >= first_history_week:
            h = w - first_history_week
            exp_knife[h] = lam[CAT["knife"]]
            exp_sv[h] = lam[CAT["sv"]] + knife_sv_share * lam[CAT["knife"]]

        spread = np.roll(spread, 1, axis=0)
        spread[0] = spread_fn(counts[ex_idx])

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
        forecast={"knife_injury": fc_knife, "serious_violence": fc_sv},
    )
