"""Escalation models, calibration, artefacts and explanations (small synthetic data)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.iom import artifacts
from wmp_pipeline.iom.explain import reasons, top_contributions
from wmp_pipeline.iom.features import Feature, describe, feature_catalogue
from wmp_pipeline.iom.models import Calibrator, LogisticEscalationModel, XgbEscalationModel

FEATURES = [
    Feature("n_charges_365d", "{v} charges in the last 365 days"),
    Feature("harm_score", "current harm score {v} days", "harm"),
    Feature("days_since_last_violent", "last violent charge {v} days ago", "days", describe_missing="no violent charge on record"),
    Feature("age_at_snapshot", "aged {v}", "years"),
]
NAMES = [f.name for f in FEATURES]
PARAMS = {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.2}


def escalation_data(n: int, rng: np.random.Generator, week: date, intercept: float = -3.0, slope: float = 0.6) -> pd.DataFrame:
    """``n`` people on ``week`` whose escalation follows a known logit of charges, harm and age."""
    frame = pd.DataFrame(
        {
            "n_charges_365d": rng.poisson(1.5, n).astype(float),
            "harm_score": rng.gamma(1.0, 40.0, n),
            "days_since_last_violent": np.where(rng.random(n) < 0.4, np.nan, rng.uniform(1, 700, n)),
            "age_at_snapshot": rng.uniform(14, 60, n),
        }
    )
    logit = intercept + slope * frame["n_charges_365d"] + 0.01 * frame["harm_score"] - 0.03 * (frame["age_at_snapshot"] - 25)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["person_id"] = [f"P{i}" for i in range(n)]
    frame["week"] = week
    return frame


def _data(n=2000, seed=0):
    return escalation_data(n, np.random.default_rng(seed), date(2024, 1, 1))


def _fitted(boost=True):
    frame = _data()
    logit = LogisticEscalationModel(FEATURES).fit(frame, frame["label"])
    model = XgbEscalationModel(NAMES, PARAMS, seed=1, init=logit if boost else None).fit(frame, frame["label"])
    return frame, logit, model


@pytest.mark.parametrize("boost", [True, False])
def test_contributions_add_up_to_the_log_odds(boost):
    frame, _, model = _fitted(boost)
    p = model.score(frame)
    contribs = model.contributions(frame)
    assert contribs.shape == (len(frame), len(NAMES) + 1)
    np.testing.assert_allclose(contribs.sum(axis=1), np.log(p / (1 - p)), atol=2e-4)


def test_boosting_from_logistic_starts_from_its_log_odds():
    frame, logit, _ = _fitted()
    no_trees = XgbEscalationModel(NAMES, {**PARAMS, "n_estimators": 0}, init=logit).fit(frame, frame["label"])
    np.testing.assert_allclose(no_trees.score(frame), logit.score(frame), rtol=1e-4, atol=1e-6)


def test_logistic_handles_missing_days_and_round_trips():
    frame, logit, _ = _fitted()
    assert np.isfinite(logit.score(frame)).all()
    again = LogisticEscalationModel.from_dict(json.loads(json.dumps(logit.to_dict())), FEATURES)
    np.testing.assert_allclose(again.score(frame), logit.score(frame))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrator_is_monotone_bounded_and_round_trips(method):
    rng = np.random.default_rng(3)
    raw = rng.random(3000)
    y = (rng.random(3000) < raw**2).astype(int)  # raw overstates the probability
    cal = Calibrator(method).fit(raw, y)
    grid = np.linspace(0, 1, 101)
    out = cal.predict(grid)
    assert ((out >= 0) & (out <= 1)).all() and (np.diff(out) >= -1e-12).all()
    assert abs(cal.predict(raw).mean() - y.mean()) < 0.02
    assert np.allclose(Calibrator.from_dict(json.loads(cal.to_json())).predict(grid), out)
    with pytest.raises(ValueError):
        Calibrator(method).fit(raw, np.zeros_like(y))


def test_calibration_uses_sample_weights():
    # negatives kept at 1 in 4 and weighted 4: the calibrated mean must be the population rate
    rng = np.random.default_rng(4)
    raw = rng.random(8000)
    y = (rng.random(8000) < 0.1).astype(int)
    keep = (y == 1) | (rng.random(8000) < 0.25)
    weights = np.where(y[keep] == 1, 1.0, 4.0)
    cal = Calibrator("isotonic").fit(raw[keep], y[keep], weights)
    assert cal.predict(raw).mean() == pytest.approx(0.1, abs=0.02)


def test_save_load_and_newest_model(tmp_path):
    frame, _, model = _fitted()
    cal = Calibrator().fit(model.score(frame), frame["label"])
    sha = artifacts.training_data_sha256(frame, ["person_id", "week", "label"] + NAMES)
    meta = {
        "version": artifacts.model_version(date(2024, 1, 8), sha),
        "trained_for": "2024-01-08",
        "training_data_sha256": sha,
        "feature_names": NAMES,
        "xgb_params": PARAMS,
    }
    artifacts.save_model(tmp_path, model, cal, meta)
    later = {**meta, "version": "iom-20240205-later", "trained_for": "2024-02-05"}
    artifacts.save_model(tmp_path, model, cal, later)
    (artifacts.models_dir(tmp_path) / "unfinished").mkdir()  # no metadata: ignored
    loaded = artifacts.newest_model(tmp_path, on_or_before=date(2024, 1, 29), features=FEATURES)
    assert loaded.version == meta["version"] and loaded.version.startswith("iom-20240108-")
    np.testing.assert_allclose(loaded.predict_proba(frame)[1], cal.predict(model.score(frame)), rtol=1e-5)
    np.testing.assert_allclose(loaded.model.contributions(frame), model.contributions(frame), atol=1e-4)
    assert artifacts.newest_model(tmp_path, features=FEATURES).version == "iom-20240205-later"
    assert artifacts.newest_model(tmp_path, on_or_before=date(2023, 12, 31)) is None


def test_training_data_hash_ignores_row_order_but_not_content():
    frame = _data(200)
    cols = ["person_id", "week", "label"] + NAMES
    h = artifacts.training_data_sha256(frame, cols)
    assert artifacts.training_data_sha256(frame.sample(frac=1, random_state=1), cols) == h
    changed = frame.copy()
    changed.loc[0, "label"] = 1 - changed.loc[0, "label"]
    assert artifacts.training_data_sha256(changed, cols) != h


def test_retraining_cadence():
    class Stub:
        feature_names = NAMES
        trained_for = date(2024, 1, 8)
        version = "v"

    assert artifacts.retraining_due(None, date(2024, 1, 8), 4, NAMES)[0]
    assert not artifacts.retraining_due(Stub(), date(2024, 1, 29), 4, NAMES)[0]  # 3 weeks old
    assert artifacts.retraining_due(Stub(), date(2024, 2, 5), 4, NAMES)[0]  # 4 weeks old
    assert artifacts.retraining_due(Stub(), date(2024, 1, 15), 4, NAMES[:-1])[0]  # features changed
    assert artifacts.retraining_due(Stub(), date(2024, 1, 8), 0, NAMES)[0]  # every week


def test_reasons_pick_the_largest_contributions_in_words():
    contribs = np.array([[0.05, -0.6, 0.3, 0.001, -1.0], [0.0, 0.0, 0.002, 0.0, 0.5]])
    rows = pd.DataFrame({"n_charges_365d": [3, 0], "harm_score": [80, 0], "days_since_last_violent": [np.nan, 5], "age_at_snapshot": [19, 40]})
    idx, vals = top_contributions(contribs, 3)
    assert idx[0].tolist() == [1, 2, 0]
    out = reasons(contribs, rows, FEATURES)
    assert out[0] == [
        "current harm score 80 days (-0.60)",
        "no violent charge on record (+0.30)",
        "3 charges in the last 365 days (+0.05)",
    ]
    assert out[1] == [None, None, None]  # nothing worth saying


def test_every_catalogue_feature_has_words():
    for f in feature_catalogue():
        text = describe(f, 3.0)
        assert "{" not in text and text
        assert describe(f, float("nan")) == f.describe_missing
