"""Weekly scoring: review order, the analyst table and the restricted keys."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from tests.test_iom_models import FEATURES, NAMES, PARAMS, _data
from wmp_pipeline.iom import artifacts
from wmp_pipeline.iom.models import Calibrator, LogisticEscalationModel, XgbEscalationModel
from wmp_pipeline.iom.scoring import RISK_SCORE_COLUMNS, review_rank, score_week, write_scores
from wmp_pipeline.privacy.pseudonymise import pseudonym

WEEK = date(2024, 6, 3)
KEY = "test-key-not-secret"


def test_low_medium_first_then_probability_then_harm():
    band = ["low", "low_medium", "high_medium", "low_medium", "high", "low_medium"]
    prob = [0.9, 0.2, 0.5, 0.2, np.nan, 0.3]
    harm = [5, 20, 150, 40, 400, 15]
    keys = ["k1", "k2", "k3", "k4", "k5", "k6"]
    rank = review_rank(band, prob, harm, keys)
    # low-medium: k6 (0.3), then k4 and k2 tie on 0.2 -> higher harm (k4) first; then k1 (0.9), k3 (0.5)
    assert rank.tolist()[:4] == [4, 3, 5, 2] and rank[5] == 1
    assert np.isnan(rank[4])  # already high: not ranked


def _saved(tmp_path):
    frame = _data()
    logit = LogisticEscalationModel(FEATURES).fit(frame, frame["label"])
    model = XgbEscalationModel(NAMES, PARAMS, init=logit).fit(frame, frame["label"])
    cal = Calibrator().fit(model.score(frame), frame["label"])
    meta = {"version": "iom-test", "trained_for": "2024-06-03", "training_data_sha256": "0" * 64, "feature_names": NAMES}
    artifacts.save_model(tmp_path, model, cal, meta)
    return artifacts.newest_model(tmp_path, features=FEATURES)


def _week():
    population = pd.DataFrame(
        {
            "person_id": ["P1", "P2", "P3", "P4"],
            "harm_score": [20.0, 5.0, 400.0, 150.0],
            "band": ["low_medium", "low", "high", "high_medium"],
        }
    )
    eligible = _data(10, seed=5).iloc[[0, 1, 3]].reset_index(drop=True)
    eligible["person_id"] = ["P1", "P2", "P4"]
    return population, eligible


def test_score_week(tmp_path):
    saved = _saved(tmp_path)
    population, eligible = _week()
    scored = score_week(population, eligible, saved, FEATURES, KEY, WEEK, 52)
    assert list(scored.columns) == RISK_SCORE_COLUMNS + ["person_id"]
    by_id = scored.set_index("person_id")
    assert pd.isna(by_id.loc["P3", "probability"]) and pd.isna(by_id.loc["P3", "rank"])
    assert by_id.loc["P1", "rank"] == 1  # the only low-medium offender
    assert by_id.loc[["P1", "P2", "P4"], "probability"].between(0, 1).all()
    assert by_id.loc["P1", "offender_key"] == pseudonym("P1", KEY)
    assert by_id.loc["P1", "reason_1"].endswith(")")
    assert (scored["model_version"] == "iom-test").all() and (scored["week"] == WEEK).all()
    assert (scored["horizon_weeks"] == 52).all()


def test_equal_probabilities_follow_the_raw_score_the_backtest_measured():
    band = ["low_medium"] * 3
    rank = review_rank(band, [0.2, 0.2, 0.2], [50, 10, 30], ["a", "b", "c"], raw_score=[0.1, 0.3, 0.2])
    assert rank.tolist() == [3, 1, 2]


def test_every_candidate_can_be_saved_loaded_and_served(tmp_path):
    from wmp_pipeline.iom.models import HarmRankModel

    frame = _data()
    population, eligible = _week()
    logit = LogisticEscalationModel(FEATURES).fit(frame, frame["label"])
    harm = HarmRankModel(NAMES).fit(frame)
    for i, model in enumerate((logit, harm)):
        cal = Calibrator().fit(model.score(frame), frame["label"])
        meta = {"version": f"iom-{model.name}", "trained_for": f"2024-06-0{i + 1}", "training_data_sha256": "0" * 64, "feature_names": NAMES}
        artifacts.save_model(tmp_path, model, cal, meta)
        saved = artifacts.newest_model(tmp_path, features=FEATURES)
        assert saved.kind == model.name and saved.version == f"iom-{model.name}"
        np.testing.assert_allclose(saved.predict_proba(eligible)[1], cal.predict(model.score(eligible)))
        scored = score_week(population, eligible, saved, FEATURES, KEY, WEEK, 52).set_index("person_id")
        assert scored.loc["P1", "rank"] == 1 and scored.loc["P1", "reason_1"]


def test_an_older_scores_table_gains_the_horizon_column(tmp_path):
    saved = _saved(tmp_path)
    population, eligible = _week()
    scored = score_week(population, eligible, saved, FEATURES, KEY, WEEK, 52)
    con = duckdb.connect()
    old = ", ".join(f"{c} varchar" if c not in ("week", "harm_score", "probability", "rank") else {"week": "week date", "harm_score": "harm_score double", "probability": "probability double", "rank": "rank integer"}[c] for c in RISK_SCORE_COLUMNS[:-1])
    con.execute(f"create table iom_risk_scores ({old})")
    write_scores(con, scored, WEEK)
    assert con.execute("select min(horizon_weeks), count(*) from iom_risk_scores").fetchall()[0] == (52, 4)


def test_write_scores_replaces_the_week_and_keeps_keys_restricted(tmp_path):
    saved = _saved(tmp_path)
    population, eligible = _week()
    scored = score_week(population, eligible, saved, FEATURES, KEY, WEEK, 52)
    con = duckdb.connect()
    write_scores(con, scored, WEEK)
    write_scores(con, scored, WEEK)  # a re-run replaces, never duplicates
    assert con.execute("select count(*) from iom_risk_scores").fetchall()[0][0] == 4
    assert con.execute("select count(*) from restricted_person_keys").fetchall()[0][0] == 4
    columns = [r[0] for r in con.execute("select column_name from information_schema.columns where table_name = 'iom_risk_scores'").fetchall()]
    assert columns == RISK_SCORE_COLUMNS and "person_id" not in columns
    pid = con.execute(
        "select k.person_id from iom_risk_scores s join restricted_person_keys k using (offender_key) where s.rank = 1"
    ).fetchall()[0][0]
    assert pid == "P1"
