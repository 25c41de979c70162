"""Spatial forecast metrics: top-area selection, hit rate and PAI.

A hotspot map flags the highest-scoring units until a share of the force
area is covered. Two standard measures judge it:

* **hit rate**: the share of the crimes that then happened which fell in the
  flagged units;
* **PAI** (Predictive Accuracy Index, Chainey, Tompson & Uhlig 2008,
  *Security Journal* 21, 4-28): hit rate divided by the share of the area
  flagged. A PAI of 1 is no better than flagging at random.

Ties matter for count baselines (thousands of units score 0 or 1), and a
sort order would silently favour whichever units come first. The selection
here is the *expected* selection under a random order within ties: units
scoring above the tied group are flagged, the tied group at the edge of the
budget is flagged by the fraction of it that fits. Hit rates are then exact
expectations and never depend on unit ids. Units of unequal area (LSOAs) are
handled the same way, by area.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def top_share_selection(scores, share: float, area=None) -> np.ndarray:
    """Fraction (0..1) of each unit flagged when the top ``share`` of the area is chosen.

    Highest scores first; the tied group that straddles the budget is flagged
    pro rata (the expectation under a random order within ties). The flagged
    area is exactly ``share`` of the total (or everything if ``share >= 1``).
    """
    s = np.asarray(scores, dtype="float64")
    if s.ndim != 1:
        raise ValueError("scores must be one-dimensional")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if not 0 < share:
        raise ValueError("share must be positive")
    a = np.ones_like(s) if area is None else np.asarray(area, dtype="float64")
    if a.shape != s.shape or (a <= 0).any():
        raise ValueError("area must be positive and match scores")
    if len(s) == 0:
        return np.zeros(0)
    budget = min(share, 1.0) * a.sum()
    levels, group = np.unique(-s, return_inverse=True)  # group 0 = highest score
    group_area = np.bincount(group, weights=a, minlength=len(levels))
    before = np.concatenate([[0.0], np.cumsum(group_area)[:-1]])
    frac = np.clip((budget - before) / group_area, 0.0, 1.0)
    return frac[group]


def top_k_indices(scores, k: int, ids=None) -> np.ndarray:
    """Indices of the ``k`` highest scores, ties broken by ``ids`` (then position): a
    deterministic list for maps and tables, unlike the expected selection above."""
    s = np.asarray(scores, dtype="float64")
    k = int(max(0, min(k, len(s))))
    keys = [np.arange(len(s))]  # np.lexsort: the last key is the primary one
    if ids is not None:
        keys.append(np.asarray(ids).astype(str))
    keys.append(-s)
    order = np.lexsort(keys)
    return order[:k]


def hit_rate(scores, actual, share: float, area=None) -> float:
    """Share of the ``actual`` crimes in the top ``share`` of the area by ``scores``.

    NaN when no crime happened (the hit rate is undefined, not zero)."""
    y = np.asarray(actual, dtype="float64")
    total = y.sum()
    if total <= 0:
        return float("nan")
    sel = top_share_selection(scores, share, area)
    return float((sel * y).sum() / total)


def pai(hit_rate_value: float, area_share: float) -> float:
    """Predictive Accuracy Index: hit rate over area share."""
    if area_share <= 0:
        raise ValueError("area share must be positive")
    return float(hit_rate_value / area_share)


def hit_rate_pai(scores, actual, shares, area=None) -> pd.DataFrame:
    """One row per area share: ``area_share, hits, n_crimes, hit_rate, pai``.

    ``hits`` is the expected number of crimes in the flagged area, so pooling
    several forecasts is ``sum(hits) / sum(n_crimes)``.
    """
    y = np.asarray(actual, dtype="float64")
    total = float(y.sum())
    rows = []
    for share in shares:
        sel = top_share_selection(scores, share, area)
        hits = float((sel * y).sum())
        hr = hits / total if total > 0 else float("nan")
        rows.append(
            {
                "area_share": float(share),
                "n_units_flagged": float(sel.sum()),
                "hits": hits,
                "n_crimes": total,
                "hit_rate": hr,
                "pai": hr / min(share, 1.0) if total > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def pool(metrics: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Pool per-forecast rows (``hits``, ``n_crimes``) into one hit rate and PAI per group."""
    g = metrics.groupby(by, as_index=False, sort=True).agg(
        hits=("hits", "sum"),
        n_crimes=("n_crimes", "sum"),
        n_forecasts=("hits", "size"),
        mean_pai=("pai", "mean"),
    )
    g["hit_rate"] = np.where(g["n_crimes"] > 0, g["hits"] / g["n_crimes"].where(g["n_crimes"] > 0), np.nan)
    g["pai"] = g["hit_rate"] / g["area_share"].clip(upper=1.0)
    return g
