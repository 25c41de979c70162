"""The generator's 28-day forecast truth (the hotspot ceiling): E[N(T, T + 4 weeks) | history before T].

The maths of ``crime_process.expected_ahead`` by hand on one cell, against
Monte Carlo of the weekly process on a small grid, and its pieces (the
sparse kernel, the hotspot fields' expected drift).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from wmp_pipeline.generator.crime_process import (
    EXCITATION,
    FORECAST_WEEKS,
    LAG_WEIGHTS,
    excitation_coefficients,
    expected_ahead,
    kernel_matrix,
    spatial_kernel,
    spread_over_cells,
)
from wmp_pipeline.generator.hotspots import DRIFT_SD, DRIFT_WEEKS, SiteField

G = LAG_WEIGHTS
N_LAG = len(LAG_WEIGHTS)


def _identity(x):
    return np.array(x, dtype=float)


def test_without_excitation_it_is_the_background_integral():
    rng = np.random.default_rng(0)
    background = rng.uniform(0.1, 2.0, (FORECAST_WEEKS, 4, 7))
    recent = rng.poisson(3.0, (N_LAG, 4, 7)).astype(float)  # past crimes excite nothing
    coef = excitation_coefficients(np.zeros((4, 4)))
    out = expected_ahead(background, recent, _identity, coef)
    assert out.sum(axis=0) == pytest.approx(background.sum(axis=0))


def test_one_past_event_hand_computed():
    """One cell, one category, one event in week T-1, no background, branching ratio a.

    m0 = a g1                       (its direct offspring in week T)
    m1 = a g2 + a g1 m0             (direct, plus offspring of week T's expected offspring)
    m2 = a g3 + a g1 m1 + a g2 m0
    m3 = a g4 + a g1 m2 + a g2 m1 + a g3 m0
    so the window holds a (g1 + g2 + g3 + g4)      direct offspring
                        + a^2 (g1^2 + 2 g1 g2 + 2 g1 g3 + g2^2)   grandchildren
                        + a^3 (g1^3 + 3 g1^2 g2) + a^4 g1^4  and further generations.
    """
    a = 0.5
    g1, g2, g3, g4 = G[:4]
    recent = np.zeros((N_LAG, 1, 1))
    recent[0] = 1.0
    out = expected_ahead(np.zeros((4, 1, 1)), recent, _identity, excitation_coefficients(np.array([[a]])))
    by_week = [a * g1, a * g2 + a**2 * g1**2, a * g3 + 2 * a**2 * g1 * g2 + a**3 * g1**3,
               a * g4 + 2 * a**2 * g1 * g3 + a**2 * g2**2 + 3 * a**3 * g1**2 * g2 + a**4 * g1**4]
    assert out[:, 0, 0] == pytest.approx(by_week, rel=1e-12)
    total = (a * (g1 + g2 + g3 + g4) + a**2 * (g1**2 + 2 * g1 * g2 + 2 * g1 * g3 + g2**2)
             + a**3 * (g1**3 + 3 * g1**2 * g2) + a**4 * g1**4)
    assert out.sum() == pytest.approx(total, rel=1e-12)
    # an event 6 weeks back (the last lag) adds a g6 in week T, then only that week's offspring
    old = np.zeros((N_LAG, 1, 1))
    old[N_LAG - 1] = 1.0
    out = expected_ahead(np.zeros((4, 1, 1)), old, _identity, excitation_coefficients(np.array([[a]])))[:, 0, 0]
    m0 = a * G[N_LAG - 1]
    m1 = a * g1 * m0
    m2 = a * (g1 * m1 + g2 * m0)
    assert out == pytest.approx([m0, m1, m2, a * (g1 * m2 + g2 * m1 + g3 * m0)], rel=1e-12)


def test_background_with_self_excitation_hand_computed():
    """Constant background b, empty past: b (1 + a g1 + ...) grows week by week inside the window."""
    a, b = 0.3, 2.0
    g1, g2, g3 = G[:3]
    out = expected_ahead(np.full((4, 1, 1), b), np.zeros((N_LAG, 1, 1)), _identity, excitation_coefficients(np.array([[a]])))
    m0 = b
    m1 = b + a * g1 * m0
    m2 = b + a * (g1 * m1 + g2 * m0)
    m3 = b + a * (g1 * m2 + g2 * m1 + g3 * m0)
    assert out[:, 0, 0] == pytest.approx([m0, m1, m2, m3], rel=1e-12)


def _geo(nx: int, ny: int, holes: tuple[int, ...] = ()):
    flat = np.array([i for i in range(nx * ny) if i not in holes])
    return SimpleNamespace(nx=nx, ny=ny, cell_flat=flat, n_cells=len(flat))


def test_kernel_matrix_is_the_grid_spread():
    geo = _geo(7, 5, holes=(0, 8, 9, 20, 34))
    kernel = spatial_kernel()
    x = np.random.default_rng(1).poisson(1.0, (4, geo.n_cells)).astype(float)
    K = kernel_matrix(geo, kernel)
    assert (K @ x.T).T == pytest.approx(spread_over_cells(x, geo, kernel), abs=1e-12)
    # a cell with its whole neighbourhood in the area spreads all of its mass
    full = _geo(7, 7)
    assert kernel_matrix(full, kernel)[:, 3 * 7 + 3].sum() == pytest.approx(1.0)


def test_expected_ahead_matches_monte_carlo_of_the_weekly_process():
    """Simulate the generator's weekly process (Poisson(b + sum_lag g alpha^T K N)) forward from a
    fixed past, many times: the mean count over 4 weeks is what expected_ahead says."""
    rng = np.random.default_rng(2)
    geo = _geo(6, 6)
    kernel = spatial_kernel()
    K = kernel_matrix(geo, kernel)
    coef = excitation_coefficients()
    n_ex, n = EXCITATION.shape[0], geo.n_cells
    background = rng.uniform(0.05, 0.6, (FORECAST_WEEKS, n_ex, n))
    past_counts = rng.poisson(0.8, (N_LAG, n_ex, n)).astype(float)  # weeks T-1, T-2, ...
    recent = np.stack([(K @ c.T).T for c in past_counts])

    def spread(x):
        return (K @ x.T).T

    expected = expected_ahead(background, recent, spread, coef).sum(axis=0)

    draws = 20_000
    buf = np.broadcast_to(recent, (draws, N_LAG, n_ex, n)).copy()
    total = np.zeros((draws, n_ex, n))
    for h in range(FORECAST_WEEKS):
        lam = background[h] + np.einsum("kl,dlc->dkc", coef, buf.reshape(draws, N_LAG * n_ex, n))
        counts = rng.poisson(lam)
        total += counts
        buf = np.roll(buf, 1, axis=1)
        buf[:, 0] = np.einsum("ce,dke->dkc", K.toarray(), counts)
    mean, se = total.mean(axis=0), total.std(axis=0) / np.sqrt(draws)
    assert np.abs(mean - expected).max() < 5 * se.max()
    # the whole-area totals agree to well under 1%
    assert mean.sum(axis=1) == pytest.approx(expected.sum(axis=1), rel=0.01)


def test_site_field_expected_drift():
    kernel = np.array([[1.0, 0.0], [0.0, 0.5], [0.0, 0.5]], dtype=np.float32)
    log_base = np.array([0.2, -0.4])
    walk = np.array([[0.3, 0.1, 0.0, 0.0, 0.0], [-0.5, -0.2, 0.0, 0.0, 0.0]])
    alive = np.array([[1.0] * 5, [1.0, 0.8, 0.6, 0.4, 0.2]])
    strength = (np.exp(log_base[:, None] + walk) * alive).astype(np.float32)
    f = SiteField(kernel=kernel, strength=strength, log_base=log_base, walk=walk, alive=alive)
    assert f.expected_at(1, 0) == pytest.approx(f.at_week(1))
    rho = 1 - 1 / DRIFT_WEEKS
    h = 3
    var = DRIFT_SD**2 * (1 - rho ** (2 * h))
    s = np.exp(log_base + rho**h * walk[:, 1] + var / 2) * alive[:, 1 + h]
    want = np.array([s[0], 0.5 * s[1], 0.5 * s[1]]) / s.sum()
    assert f.expected_at(1, h) == pytest.approx(want, rel=1e-6)
    assert f.expected_at(1, h).sum() == pytest.approx(1.0)
