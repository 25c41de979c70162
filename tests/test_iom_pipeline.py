"""The IOM models and assets on the tiny generated pipeline (dbt cross-checked against Python)."""

from __future__ import annotations

import dataclasses
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
    from wmp_pipeline.defs.partitions import default_force_week, partition_for_forecast_date
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
        partition_key=default_force_week(partition),
        resources={k: v for k, v in resources.items() if k in ("warehouse", "pipeline")},
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
    assert list((settings.artifacts_dir / "model_cards").glob("iom-*.md"))


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
    assert eligible["reason_1"].notna().mean() > 0.9


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
