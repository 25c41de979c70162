"""The champion choice, calibration error, the operating point and small-group suppression."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.evaluation.classification import (
    brier_skill_score,
    expected_calibration_error,
    operating_point,
    precision_at_k,
    recall_at_k,
    wilson_interval,
)
from wmp_pipeline.evaluation.fairness import suppress_small_groups
from wmp_pipeline.iom.champion import paired_bootstrap, select_champion
from wmp_pipeline.iom.config import IomConfig, horizon_in_words
from wmp_pipeline.iom.features import Feature, age_band, describe

WEEKS = [date(2025, 1, 6) + timedelta(weeks=4 * i) for i in range(13)]


def _metrics(per_model: dict[str, list[float]], auc: dict[str, float] | None = None) -> pd.DataFrame:
    rows = []
    for model, values in per_model.items():
        for week, v in zip(WEEKS, values):
            rows.append({"model": model, "test_week": week, "scope": "test_week", "metric": "precision_at_250", "value": v})
            rows.append({"model": model, "test_week": week, "scope": "test_week", "metric": "roc_auc", "value": (auc or {}).get(model, 0.7)})
    return pd.DataFrame(rows)


def test_a_clear_win_serves_the_more_complex_model():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.25, 0.35, 13)
    m = _metrics({"harm_score": base - 0.08, "logistic": base, "xgboost": base + 0.03 + rng.normal(0, 0.003, 13)})
    s = select_champion(m, "precision_at_250", draws=500)
    assert s.champion == "xgboost" and s.leader == "xgboost" and not s.kept_simpler
    assert s.runner_up == "logistic" and s.margin == pytest.approx(0.03, abs=0.003)
    assert s.margin_low > 0 and s.win_share == 1.0 and s.n_weeks == 13


def test_a_win_within_noise_keeps_the_simpler_model():
    rng = np.random.default_rng(2)
    base = rng.uniform(0.25, 0.35, 13)
    noisy = base + rng.normal(0.002, 0.03, 13)  # a hair better on average, far inside the week-to-week noise
    m = _metrics({"harm_score": base - 0.1, "logistic": base, "xgboost": noisy})
    s = select_champion(m, "precision_at_250", draws=500)
    assert s.leader == "xgboost" and s.champion == "logistic" and s.kept_simpler
    assert "paired bootstrap" in s.reason and s.runner_up == "xgboost" and s.margin < 0


def test_ties_go_to_roc_auc_then_to_the_simpler_model():
    same = [0.3] * 13
    s = select_champion(_metrics({"logistic": same, "xgboost": same}, auc={"logistic": 0.70, "xgboost": 0.72}), "precision_at_250", draws=200)
    assert s.leader == "xgboost"  # the tie-break
    assert s.champion == "logistic"  # but a tie is no win beyond noise
    s = select_champion(_metrics({"logistic": same, "xgboost": same}), "precision_at_250", draws=200)
    assert s.leader == "logistic" and s.champion == "logistic"


def test_no_scored_week_names_what_is_missing():
    empty = pd.DataFrame(columns=["model", "test_week", "scope", "metric", "value"])
    with pytest.raises(ValueError, match="no candidate .* test week with precision_at_250"):
        select_champion(empty, "precision_at_250")
    s = select_champion(_metrics({"logistic": [0.3] * 13}), "precision_at_250", draws=100)
    assert s.champion == "logistic" and s.runner_up is None and set(s.excluded) == {"harm_score", "xgboost"}


def test_paired_bootstrap_is_seeded_and_paired():
    a = np.array([0.3, 0.4, 0.5])
    assert np.allclose(paired_bootstrap(a, a - 0.1, 50, 0), 0.1)
    assert np.array_equal(paired_bootstrap(a, a[::-1], 50, 3), paired_bootstrap(a, a[::-1], 50, 3))


def test_calibration_error_and_brier_skill():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.003  # calibrated by construction
    assert expected_calibration_error(y, np.clip(p + 0.05, 0, 1)) == pytest.approx(0.05, abs=0.003)
    assert brier_skill_score(y, np.full(p.size, y.mean())) == pytest.approx(0.0, abs=1e-12)
    assert 0 < brier_skill_score(y, p) < 1
    assert np.isnan(brier_skill_score([0, 0], [0.1, 0.2]))


def test_wilson_interval():
    low, high = wilson_interval(75, 100)
    assert low == pytest.approx(0.657, abs=0.001) and high == pytest.approx(0.825, abs=0.001)
    assert wilson_interval(0, 10)[0] == 0.0 and np.isnan(wilson_interval(0, 0)[0])


def test_operating_point_pools_weeks_and_matches_precision_and_recall_at_k():
    rng = np.random.default_rng(3)
    weeks = np.repeat(["w1", "w2"], 500)
    s = rng.normal(size=1000)
    y = (rng.uniform(size=1000) < 1 / (1 + np.exp(-(s - 2)))).astype(int)
    groups = np.where(rng.uniform(size=1000) < 0.5, "A", "B")
    table = operating_point(y, s, weeks, 50, groups=groups).set_index("group")
    hits = sum(precision_at_k(y[weeks == w], s[weeks == w], 50) * 50 for w in ("w1", "w2"))
    assert table.loc["all", "n_flagged"] == 100 and table.loc["all", "hits"] == pytest.approx(hits)
    assert table.loc["all", "sensitivity"] == pytest.approx(hits / y.sum())
    assert table.loc["all", "precision_low"] < table.loc["all", "precision"] < table.loc["all", "precision_high"]
    # the groups split the same list
    assert table.loc[["A", "B"], "n_flagged"].sum() == pytest.approx(100) and table.loc[["A", "B"], "hits"].sum() == pytest.approx(hits)
    assert recall_at_k(y[weeks == "w1"], s[weeks == "w1"], 50) <= 1


def test_small_groups_are_suppressed():
    table = pd.DataFrame({"attribute": ["sex"] * 3, "group": ["F", "M", "X"], "n": [500, 900, 4],
                          "ppv": [0.3, 0.4, 1.0], "flags": ["", "ppv", "ppv"], "flagged": [False, True, True]})
    out = suppress_small_groups(table, 10)
    x = out.set_index("group").loc["X"]
    assert x["suppressed"] and pd.isna(x["n"]) and pd.isna(x["ppv"]) and x["flags"] == "" and not x["flagged"]
    assert out.set_index("group").loc["M", "ppv"] == 0.4 and out["suppressed"].sum() == 1


def test_reasons_give_age_bands_never_exact_ages():
    age = Feature("age_at_snapshot", "aged {v}", "years")
    assert describe(age, 21.4) == "aged 18-24" and describe(age, 17) == "aged under 18" and describe(age, 70) == "aged 55+"
    assert age_band(None) == "unknown" and age_band(25) == "25-34"


def test_config_horizon_and_list_size():
    config = IomConfig(operating_top_k=300)
    assert config.primary_metric == "precision_at_300" and 300 in config.top_k
    assert config.horizon_weeks == 52 and horizon_in_words(365) == "12 months (365 days)"
    with pytest.raises(ValueError, match="candidates"):
        IomConfig(candidates=("xgboost", "random_forest"))
