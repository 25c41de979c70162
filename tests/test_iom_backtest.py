"""Rolling-origin training and testing on synthetic snapshots."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from tests.test_iom_models import FEATURES, PARAMS, escalation_data
from wmp_pipeline.iom.audit import audit_predictions, operating_threshold
from wmp_pipeline.iom.backtest import (
    choose_test_weeks,
    metrics_table,
    rolling_origin,
    split_fit_calibration,
    summary_wide,
    training_rows,
)
from wmp_pipeline.iom.config import IomConfig

CONFIG = IomConfig(xgb_params=PARAMS, max_fit_rows=2000, backtest_refit_every_weeks=8)
AS_OF = date(2026, 11, 23)


def _snapshots(seed=0):
    rng = np.random.default_rng(seed)
    weeks = [AS_OF - timedelta(weeks=4 * k) for k in range(52)][::-1]
    frames = []
    for w in weeks:
        n = 300
        f = escalation_data(n, rng, w, intercept=-3.5, slope=0.7)
        f["band"] = np.where(f["harm_score"] >= 100, "high_medium", np.where(f["harm_score"] >= 10, "low_medium", "low"))
        f["sex"] = rng.choice(["M", "F"], n)
        f["ethnicity_group"] = rng.choice(["W", "A", "B"], n)
        f["age_band"] = np.where(f["age_at_snapshot"] < 25, "18-24", "25-34")
        frames.append(f)
    snap = pd.concat(frames, ignore_index=True)
    complete = pd.to_datetime(snap["week"]) + pd.Timedelta(days=365) <= pd.Timestamp(AS_OF)
    snap["label"] = snap["label"].where(complete).astype("Int64")
    snap["in_training_sample"] = complete
    snap["sample_weight"] = 1.0
    return snap


def test_training_rows_never_overlap_the_test_period():
    snap = _snapshots()
    origin = date(2025, 6, 2)
    train = training_rows(snap, origin, CONFIG)
    assert (pd.to_datetime(train["week"]) + pd.Timedelta(days=365) <= pd.Timestamp(origin)).all()
    fit, cal = split_fit_calibration(train, 0.2)
    assert max(fit["week"]) < min(cal["week"])  # calibration slice is the newest dates
    assert cal["week"].nunique() == round(0.2 * train["week"].nunique())


def test_rolling_origin_predicts_every_test_week_with_all_three_models():
    snap = _snapshots()
    weeks = sorted(snap["week"].unique())
    tests = choose_test_weeks(weeks, AS_OF, CONFIG)
    assert len(tests) == 13
    preds, origins = rolling_origin(snap, tests, FEATURES, CONFIG)
    tested = origins[origins["status"] == "tested"]
    assert len(tested) == 13
    # refits every 8 weeks: one fit serves two test weeks 4 weeks apart
    assert tested["origin"].nunique() == 7
    for row in tested.itertuples():
        assert row.calibration_to + timedelta(days=365) <= row.origin <= row.test_week
    assert set(preds["model"]) == {"xgboost", "logistic", "harm_score"}
    assert preds.groupby("model").size().nunique() == 1
    m = metrics_table(preds, (100,))
    summary = summary_wide(m)
    assert summary.loc["xgboost", "roc_auc"] > 0.7
    assert summary.loc["xgboost", "roc_auc"] > summary.loc["harm_score", "roc_auc"]
    # every candidate is calibrated, the harm-rank baseline too
    assert (summary["brier"] < 0.2).all() and (summary["ece"] < 0.1).all() and summary["brier_skill"].notna().all()
    assert (m["scope"] == "mean").sum() == summary.size
    pooled = m[m["scope"] == "pooled"]
    assert set(pooled["metric"]) >= {"ece", "brier_skill", "roc_auc"} and pooled["test_week"].isna().all()


def test_skips_origins_without_enough_history():
    snap = _snapshots()
    early = sorted(snap["week"].unique())[14]  # only ~1 year of dates before it: no complete outcomes
    preds, origins = rolling_origin(snap, [early], FEATURES, CONFIG)
    assert origins["status"].tolist() == ["skipped"] and preds.empty


def test_operating_threshold_and_audit():
    assert operating_threshold([0.9, 0.8, 0.7, 0.1], n_weeks=2, top_k=1) == 0.8
    assert operating_threshold([0.9], n_weeks=1, top_k=5) == 0.9
    snap = _snapshots()
    preds, _ = rolling_origin(snap, choose_test_weeks(sorted(snap["week"].unique()), AS_OF, CONFIG)[-2:], FEATURES, CONFIG)
    table, threshold = audit_predictions(preds, top_k=40)
    assert set(table["attribute"]) == {"sex", "age_band", "ethnicity_group"}
    xgb = preds[preds["model"] == "xgboost"]
    # the 80th highest probability: at least 80 people selected (more when calibrated values tie)
    assert (xgb["probability"] >= threshold).sum() >= 80 > (xgb["probability"] > threshold).sum()
    assert table.groupby("attribute")["n"].sum().eq(len(xgb)).all()
