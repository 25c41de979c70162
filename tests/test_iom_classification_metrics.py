"""Classification metrics (wmp_pipeline.evaluation.classification)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from wmp_pipeline.evaluation.classification import (
    average_precision,
    brier_score,
    calibration_table,
    classification_summary,
    lift_table,
    precision_at_k,
    recall_at_k,
    roc_auc,
)


def test_hand_computed_auc_with_ties():
    # pairs (pos, neg): (0.8,0.1)=1 (0.8,0.4)=1 (0.4,0.1)=1 (0.4,0.4)=0.5 -> 3.5/4
    y = [1, 1, 0, 0]
    s = [0.8, 0.4, 0.4, 0.1]
    assert roc_auc(y, s) == pytest.approx(0.875)


def test_matches_scikit_learn_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500) + 0.3 * y, 2)  # rounding makes ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    p = np.clip(s / s.max(), 0, 1)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))


def test_undefined_metrics_are_nan():
    assert math.isnan(roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))
    assert math.isnan(recall_at_k([0, 0], [0.1, 0.2], 1))
    with pytest.raises(ValueError):
        roc_auc([0, 2], [0.1, 0.2])


def test_precision_and_recall_at_k_hand_computed():
    y = [1, 0, 1, 0, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.1]
    assert precision_at_k(y, s, 3) == pytest.approx(2 / 3)
    assert recall_at_k(y, s, 3) == pytest.approx(2 / 3)
    assert precision_at_k(y, s, 100) == pytest.approx(0.5)  # fewer people than k
    assert recall_at_k(y, s, 100) == pytest.approx(1.0)


def test_precision_at_k_shares_ties_fairly():
    # four people tied at the cut for two remaining places, one of them positive
    y = [1, 0, 0, 1, 0]
    s = [0.9, 0.5, 0.5, 0.5, 0.5]
    # top 3 = the 0.9 (positive) + 2 of 4 tied (expected 0.5 positives)
    assert precision_at_k(y, s, 3) == pytest.approx(1.5 / 3)
    # the answer does not depend on the order of tied rows
    assert precision_at_k(y[::-1], s[::-1], 3) == pytest.approx(1.5 / 3)


def test_calibration_and_lift_tables():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.2, 0.2, 0.6, 0.7, 0.8, 0.9])
    cal = calibration_table(y, p, n_bins=2, strategy="uniform")
    assert list(cal["n"]) == [4, 4]
    assert list(cal["observed_rate"]) == [0.25, 0.75]
    assert cal["mean_predicted"].tolist() == pytest.approx([0.15, 0.75])
    lift = lift_table(y, p, n_bins=4)
    assert lift["positives"].tolist() == [2, 1, 1, 0]
    assert lift["lift"].iloc[0] == pytest.approx(2.0)
    assert lift["cumulative_recall"].iloc[-1] == pytest.approx(1.0)


def test_summary_keys():
    out = classification_summary([0, 1, 1], [0.1, 0.9, 0.5], y_prob=None, top_k=(1,))
    assert out["precision_at_1"] == 1.0 and out["recall_at_1"] == 0.5
    assert math.isnan(out["brier"]) and out["roc_auc"] == 1.0
