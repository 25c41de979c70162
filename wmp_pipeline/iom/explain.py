"""Plain-words reasons behind each score, from xgboost's per-prediction contributions.

For every person, xgboost's ``pred_contribs`` (TreeSHAP) splits the model's
log-odds into one contribution per feature plus a bias; the contributions
add up exactly to the score. The three features with the largest absolute
contributions become the reasons, each with the person's value in words and
the signed contribution, e.g. ``"3 violent charges in the last 365 days
(+0.41)"``. A negative contribution is a reason the score is *lower*.

Contributions are in log-odds of the uncalibrated model, so they explain the
ranking, not the exact calibrated probability (calibration is monotone and
never changes the order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wmp_pipeline.iom.features import Feature, describe


def top_contributions(contribs: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest absolute contributions per row (bias column excluded).

    Ties keep the lower feature index first, so the order is deterministic.
    """
    c = np.asarray(contribs, dtype=float)[:, :-1]
    k = min(k, c.shape[1])
    order = np.argsort(-np.abs(c), axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(c, order, axis=1)


def reason_text(feature: Feature, value, contribution: float) -> str:
    return f"{describe(feature, value)} ({contribution:+.2f})"


def reasons(
    contribs: np.ndarray,
    rows: pd.DataFrame,
    features: list[Feature],
    k: int = 3,
    min_abs: float = 0.005,
) -> list[list[str | None]]:
    """``k`` reasons per row; contributions smaller than ``min_abs`` are not worth a reason (None)."""
    idx, vals = top_contributions(contribs, k)
    values = rows[[f.name for f in features]].to_numpy(dtype=float)
    out = []
    for i in range(len(rows)):
        row = []
        for j in range(idx.shape[1]):
            fi = idx[i, j]
            c = vals[i, j]
            row.append(reason_text(features[fi], values[i, fi], c) if abs(c) >= min_abs else None)
        row += [None] * (k - len(row))
        out.append(row)
    return out
