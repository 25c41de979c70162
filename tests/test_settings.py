"""Settings take one route: the environment, through EnvVar resources; bad modes and keys are refused at start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dagster import DagsterInstance, EnvVar

from wmp_pipeline import cli
from wmp_pipeline.defs.resources import PipelineSettingsResource, build_resources
from wmp_pipeline.settings import (
    DEVELOPMENT_PSEUDONYM_KEY,
    ENV_VARS,
    MODES,
    PROJECT_ROOT,
    InsecureKeyError,
    Settings,
    SettingsError,
    get_settings,
    parse_mode,
)

STRONG_KEY = "k" * 40


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No WMP_* variable set except a data folder in tmp_path."""
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WMP_DATA_DIR", str(tmp_path))
    return monkeypatch


def test_every_setting_has_one_environment_variable_and_settings_py_documents_each():
    assert {f.name for f in dataclasses.fields(Settings)} == set(ENV_VARS)
    doc = (PROJECT_ROOT / "wmp_pipeline" / "settings.py").read_text()
    for var in [*ENV_VARS.values(), "WMP_DBT_MEMORY_LIMIT"]:
        assert f"``{var}``" in doc, var


@pytest.mark.parametrize("value", ["production", "Production", "PRODUCTION", " production "])
def test_mode_is_compared_case_insensitively(value):
    assert parse_mode(value) == "production"
    assert Settings.from_values(mode=value, pseudonym_key=STRONG_KEY).production


def test_unset_mode_is_development():
    assert parse_mode(None) == parse_mode("") == "development"
    assert not Settings.from_values().production


def test_unknown_mode_is_refused_with_the_valid_ones():
    with pytest.raises(SettingsError) as err:
        parse_mode("prod")
    assert "'prod'" in str(err.value)
    for mode in MODES:
        assert mode in str(err.value)


def test_defaults_are_applied_once_from_the_data_folder(clean_env, tmp_path):
    s = get_settings()
    assert s.data_dir == tmp_path.resolve()
    assert s.duckdb_path == tmp_path.resolve() / "warehouse" / "wmp.duckdb"
    assert s.connect_dir == tmp_path.resolve() / "landing" / "connect"
    assert s.boundary_file is None and s.policeuk_dir is None
    assert s.pseudonym_key == DEVELOPMENT_PSEUDONYM_KEY and s.mode == "development"


@pytest.mark.parametrize("key", [DEVELOPMENT_PSEUDONYM_KEY, "short-key"])
def test_production_refuses_a_weak_or_development_key_at_start(key):
    with pytest.raises(InsecureKeyError, match="WMP_PSEUDONYM_KEY"):
        Settings.from_values(mode="Production", pseudonym_key=key).check_startable()
    assert Settings.from_values(mode="Production", pseudonym_key=STRONG_KEY).check_startable().production


def test_resources_take_environment_values_as_env_vars_never_literals(clean_env):
    clean_env.setenv("WMP_PSEUDONYM_KEY", STRONG_KEY)
    clean_env.setenv("WMP_MODE", "Production")
    pipeline = build_resources()["pipeline"]
    assert isinstance(pipeline.pseudonym_key, EnvVar) and pipeline.pseudonym_key.env_var_name == "WMP_PSEUDONYM_KEY"
    assert isinstance(pipeline.mode, EnvVar) and isinstance(pipeline.data_dir, EnvVar)
    assert pipeline.landing_dir is None  # unset: the default applies in Settings.from_values
    settings = pipeline.process_config_and_initialize().settings()
    assert settings.production and settings.pseudonym_key == STRONG_KEY


def test_resource_setup_refuses_production_with_the_development_key(clean_env):
    clean_env.setenv("WMP_MODE", "Production")
    with pytest.raises(InsecureKeyError):
        build_resources()["pipeline"].process_config_and_initialize()
    with pytest.raises(SettingsError, match="development, production"):
        PipelineSettingsResource(mode="staging").process_config_and_initialize()


def test_a_run_launched_with_a_weak_production_key_fails_before_any_step(tmp_path):
    """As a run from the UI or the schedule: the resources are set up before the first step."""
    from wmp_pipeline.definitions import build_definitions
    from wmp_pipeline.defs.partitions import default_force_week

    weak = dataclasses.replace(Settings.from_values(data_dir=str(tmp_path)), mode="production")
    job = build_definitions(weak).resolve_job_def("weekly_job")
    result = job.execute_in_process(partition_key=default_force_week("2024-01-01"), instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert not result.get_step_success_events()
    assert not any(e.event_type_value == "STEP_START" for e in result.all_events)
    failures = [e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
    assert failures and "WMP_PSEUDONYM_KEY" in str(failures[0].event_specific_data)
    assert not (tmp_path / "warehouse").exists()


@pytest.mark.parametrize(("env", "message"), [({"WMP_MODE": "Production"}, "WMP_PSEUDONYM_KEY"), ({"WMP_MODE": "live"}, "development, production")])
def test_wmp_run_refuses_bad_settings_before_doing_anything(clean_env, tmp_path, env, message):
    for var, value in env.items():
        clean_env.setenv(var, value)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run"])
    assert message in str(exit_.value.code)
    assert list(Path(tmp_path).iterdir()) == []  # nothing generated, no dbt, no Dagster instance
