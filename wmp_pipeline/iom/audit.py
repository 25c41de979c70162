"""The IOM fairness audit: the model's rolling-origin test predictions by sex, age band and ethnicity.

The operating threshold is the calibrated probability above which, on an
average test week, ``operating_top_k`` people (default 250, a caseload the
Local Offender Management Units can take) would be selected. Every test week
is pooled (a person can appear in several weeks). The audited model is the
served one (the champion of :mod:`.champion`). The measures and the
flagging tolerance are :func:`wmp_pipeline.evaluation.fairness.fairness_audit`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wmp_pipeline.evaluation.fairness import FairnessTolerance, fairness_audit, suppress_small_groups

AUDIT_ATTRIBUTES = ("sex", "age_band", "ethnicity_group")


def operating_threshold(probabilities, n_weeks: int, top_k: int) -> float:
    """The probability of the ``top_k * n_weeks``-th highest pooled prediction."""
    p = np.sort(np.asarray(probabilities, dtype=float))[::-1]
    if len(p) == 0:
        return float("nan")
    k = min(len(p), max(1, top_k * max(n_weeks, 1)))
    return float(p[k - 1])


def audit_predictions(
    predictions: pd.DataFrame,
    top_k: int = 250,
    tolerance: FairnessTolerance = FairnessTolerance(),
    model: str = "xgboost",
    min_reported_group_size: int = 10,
) -> tuple[pd.DataFrame, float]:
    """``(audit table, threshold)``: one row per attribute and group, for the served ``model``.

    Groups with fewer than ``min_reported_group_size`` people are suppressed
    (:func:`~wmp_pipeline.evaluation.fairness.suppress_small_groups`): the
    table is analyst-facing."""
    p = predictions[(predictions["model"] == model) & predictions["probability"].notna()]
    if p.empty:
        return pd.DataFrame(), float("nan")
    threshold = operating_threshold(p["probability"], p["test_week"].nunique(), top_k)
    tables = [
        fairness_audit(
            p["label"].to_numpy(int),
            p["probability"].to_numpy(float),
            p[attribute].to_numpy(object),
            threshold,
            tolerance,
            attribute=attribute,
        )
        for attribute in AUDIT_ATTRIBUTES
    ]
    table = pd.concat(tables, ignore_index=True)
    table.insert(2, "threshold", threshold)
    table.insert(0, "model", model)
    return suppress_small_groups(table, min_reported_group_size), threshold
