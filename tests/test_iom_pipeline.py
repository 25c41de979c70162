"""The IOM models and assets on the tiny generated pipeline (dbt cross-checked against Python)."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import date

import duckdb
import pandas as pd
import pytest
import yaml

from wmp_pipeline.harm import DEFAULT_THRESHOLDS, DEFAULT_WINDOWS, BandThresholds, HarmWindows, bands_for_scores, mondays, person_week_scores
from wmp_pipeline.settings import DBT_PROJECT_DIR


def test_dbt_vars_match_the_python_defaults():
    dbt_vars = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert BandThresholds.from_dbt_vars(dbt_vars) == DEFAULT_THRESHOLDS
    assert HarmWindows.from_dbt_vars(dbt_vars) == DEFAULT_WINDOWS


def test_dbt_harm_scores_match_the_python_definition(tiny_pipeline):
    with duckdb.connect(str(tiny_pipeline.duckdb_path), read_only=True) as con:
        charges = con.execute("select person_id, charge_date, harm_weight_days from int_charges__harm").df()
        dbt = con.execute("select person_id, week, harm_score, band, is_eligible from iom_offender_week").df()
    # a fixed sample of people keeps the (slow, obvious) reference quick
    sample = sorted(charges["person_id"].unique())[::5]
    charges = charges[charges["person_id"].isin(sample)]
    dbt = dbt[dbt["person_id"].isin(sample)]
    charges["charge_date"] = pd.to_datetime(charges["charge_date"]).dt.date
    dbt["week"] = pd.to_datetime(dbt["week"]).dt.date
    weeks = mondays(min(charges["charge_date"]), max(dbt["week"]))
    reference = person_week_scores(charges, weeks)
    merged = reference.merge(dbt, on=["person_id", "week"], how="outer", indicator=True, suffixes=("_py", "_dbt"))
    assert (merged["_merge"] == "both").all(), merged["_merge"].value_counts()
    assert (merged["harm_score_py"] == merged["harm_score_dbt"]).all()
    assert (merged["is_eligible_py"] == merged["is_eligible_dbt"]).all()
    assert (bands_for_scores(merged["harm_score_py"]) == merged["band"].to_numpy()).all()
    assert len(merged) > 500


@pytest.fixture(scope="module")
def iom_run(tiny_pipeline, tmp_path_factory):
    """The four IOM assets materialised on a copy of the tiny warehouse."""
    from dagster import AssetKey, DagsterInstance, materialize

    from wmp_pipeline.defs.iom import assets as iom_assets
    from wmp_pipeline.defs.partitions import partition_for_forecast_date
    from wmp_pipeline.defs.resources import build_resources

    root = tmp_path_factory.mktemp("iom_run")
    db = root / "wmp.duckdb"
    shutil.copy(tiny_pipeline.duckdb_path, db)
    settings = dataclasses.replace(tiny_pipeline.settings, duckdb_path=db, artifacts_dir=root / "artifacts")
    resources = build_resources(settings)
    resources["warehouse"] = type(resources["warehouse"])(database_path=str(db))
    partition = partition_for_forecast_date(tiny_pipeline.forecast_date)
    result = materialize(
        iom_assets,
        partition_key=partition,
        resources={k: v for k, v in resources.items() if k in ("warehouse", "pipeline", "iom")},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=True,
    )
    return result, settings, db, AssetKey


def test_assets_materialise_and_checks_pass(iom_run):
    result, settings, db, AssetKey = iom_run
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    for name in ("no_person_identifiers", "probabilities_in_unit_interval", "ranks_complete_and_unique",
                 "forecast_week_covers_every_eligible_offender"):
        assert checks[name], name
    # a model folder with a version, its data hash and a model card
    models = list((settings.artifacts_dir / "models" / "iom").iterdir())
    assert len(models) == 1 and (models[0] / "metadata.json").exists()
    cards = list((settings.artifacts_dir / "model_cards").glob("iom-*.md"))
    assert cards
    card = cards[0].read_text()
    for words in ("## Champion by backtest", "Runner-up", "expected calibration error", "## Operating point", "sensitivity 75%"):
        assert words in card, words


def test_the_champion_choice_is_recorded_and_serves_the_list(iom_run, tiny_pipeline):
    import json

    result, settings, db, AssetKey = iom_run
    meta = json.loads(next((settings.artifacts_dir / "models" / "iom").iterdir()).joinpath("metadata.json").read_text())
    selection = meta["selection"]
    assert selection["champion"] in ("harm_score", "logistic", "xgboost") and meta["model_kind"] == selection["champion"]
    assert selection["runner_up"] and selection["runner_up"] != selection["champion"]
    # the served model is never beaten beyond noise: it is the leader, or the leader's win over it was within noise
    assert selection["champion"] == selection["leader"] or selection["kept_simpler"]
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("select * from iom_model_selection").df().iloc[0]
        served = con.execute("select distinct model_version, horizon_weeks from iom_risk_scores").fetchall()
        metrics = con.execute("select scope, metric, horizon_weeks from iom_model_metrics where model = ?", [selection["champion"]]).df()
        audit = con.execute("select distinct model from iom_fairness_audit").fetchall()
        operating = con.execute("select * from iom_operating_point where attribute = 'all'").df()
    assert row["status"] == "new_model" and row["served_model"] == selection["champion"] and row["horizon_weeks"] == 52
    assert served == [(row["served_model_version"], 52)] and audit == [(selection["champion"],)]
    assert {("test_week", "ece"), ("pooled", "ece"), ("pooled", "brier_skill")} <= set(zip(metrics["scope"], metrics["metric"]))
    assert (metrics["horizon_weeks"] == 52).all()
    assert 0 <= operating["sensitivity_low"].iloc[0] <= operating["sensitivity"].iloc[0] <= operating["sensitivity_high"].iloc[0]
    mat = result.asset_materializations_for_node("iom_model")[0].metadata
    assert mat["served_model"].value == selection["champion"] and mat["horizon"].value == "12 months (365 days)"


def test_reasons_give_age_bands_not_ages(iom_run):
    _, _, db, _ = iom_run
    with duckdb.connect(str(db), read_only=True) as con:
        reasons = [r[0] for r in con.execute(
            "select reason from (select unnest([reason_1, reason_2, reason_3]) as reason from iom_risk_scores) where reason like '%age%'"
        ).fetchall()]
    assert not [r for r in reasons if re.search(r"\bage[d]? \d", r)], reasons[:5]


def test_risk_scores_cover_everyone_and_hold_no_identifier(iom_run, tiny_pipeline):
    _, _, db, _ = iom_run
    week = tiny_pipeline.forecast_date
    with duckdb.connect(str(db), read_only=True) as con:
        everyone = con.execute("select count(*) from iom_offender_week where week = ?", [week]).fetchall()[0][0]
        scores = con.execute("select * from iom_risk_scores where week = ?", [week]).df()
        restricted = con.execute("select count(*) from restricted_person_keys").fetchall()[0][0]
        person_ids = {r[0] for r in con.execute("select person_id from stg_connect__persons").fetchall()}
    assert len(scores) == everyone and restricted >= everyone
    assert "person_id" not in scores.columns
    text = scores.astype(str).to_numpy().ravel()
    assert not person_ids & set(text)
    eligible = scores[scores["probability"].notna()]
    assert set(eligible["band"]) <= {"low", "low_medium", "high_medium"}
    first = eligible.sort_values("rank").head(len(eligible[eligible["band"] == "low_medium"]))
    assert (first["band"] == "low_medium").all()
    # everyone with a charge in the harm window has a reason (the harm-rank model has none for a score of 0)
    assert eligible.loc[eligible["harm_score"] > 0, "reason_1"].notna().mean() > 0.9


def test_second_run_in_the_cadence_reuses_the_model(iom_run, tiny_pipeline):
    from wmp_pipeline.iom import runner

    _, settings, db, _ = iom_run
    with duckdb.connect(str(db)) as con:
        again = runner.run_training(con, settings, tiny_pipeline.forecast_date)
    assert not again.retrained and "weeks old" in again.reason


def test_too_little_history_is_refused_with_the_history_needed(iom_run, tiny_pipeline, tmp_path):
    """A forecast date a few months after the first charge: no outcome is complete yet."""
    from wmp_pipeline.iom import runner

    _, settings, db, _ = iom_run
    copy = tmp_path / "short.duckdb"
    shutil.copy(db, copy)
    with duckdb.connect(str(copy)) as con:
        first = con.execute("select min(charge_date) from int_charges__harm").fetchone()[0]
        later = date.fromordinal(first.toordinal() + 300)
        early = date.fromordinal(later.toordinal() - later.weekday())  # a Monday about 10 months in
        con.execute("delete from iom_offender_week where week > ?", [early]).fetchall()
        con.execute("drop table if exists iom_snapshots").fetchall()
        with pytest.raises(ValueError, match=r"cannot train the IOM model .*\(about \d\.\d years"):
            runner.run_training(con, dataclasses.replace(settings, artifacts_dir=tmp_path / "art"), early, force=True)


def test_a_failed_retraining_keeps_last_weeks_model_serving_and_the_briefing_says_so(iom_run, tiny_pipeline, tmp_path):
    """A candidate that cannot fit: the run names it, the previous model keeps serving the list."""
    from wmp_pipeline.iom import runner
    from wmp_pipeline.iom.config import IomConfig
    from wmp_pipeline.reports.briefing.iom import iom_section
    from wmp_pipeline.reports.briefing.performance import iom_performance

    _, settings, db, _ = iom_run
    copy = tmp_path / "failed.duckdb"
    shutil.copy(db, copy)
    art = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, art)
    settings = dataclasses.replace(settings, artifacts_dir=art, duckdb_path=copy)
    week = tiny_pipeline.forecast_date
    broken = IomConfig(xgb_params={**IomConfig().xgb_params, "tree_method": "no_such_method"})
    with duckdb.connect(str(copy)) as con:
        before = con.execute("select model_version from iom_risk_scores limit 1").fetchone()[0]
        result = runner.run_training(con, settings, week, broken, force=True)
        assert result.kept_previous and not result.retrained and result.model_version == before
        assert "xgboost" in result.reason and "no_such_method" in result.reason and "keeps serving" in result.reason
        scoring = runner.run_scoring(con, settings, week, broken)
        row = con.execute("select * from iom_model_selection order by created_at desc, status limit 1").df().iloc[0]
        section, performance = iom_section(con, week), iom_performance(con, week)
    assert scoring.model_version == before  # the list still comes from last week's model
    assert row["status"] == "kept_previous" and row["served_model_version"] == before and "xgboost" in row["message"]
    for s in (section, performance):
        assert any("retraining failed" in n and before in n for n in s.notes), s.notes
    assert len(list((art / "models" / "iom").iterdir())) == 1  # no model from the failed run
