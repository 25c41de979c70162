"""The force registry: validation, per-force settings and folders, input checks, partitions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dagster import MultiPartitionsDefinition

from tests.drop_factory import base_drop
from wmp_pipeline.forces import ForceInputError, RegistryError, UnknownForce, load_registry, require_input, settings_for
from wmp_pipeline.forces.registry import EMBEDDED_REGISTRY
from wmp_pipeline.settings import DEVELOPMENT_PSEUDONYM_KEY, get_settings

TWO_FORCES = """
schema_version = 1
default_force = "south-yorkshire"

[[force]]
slug = "south-yorkshire"
name = "South Yorkshire Police"
source = "policeuk"
landing = "police/south-yorkshire"

[[force]]
slug = "synthetic-b"
name = "Synthetic B"
source = "connect"
[force.cell_size_m]
default = 500
knife_injury = 500
[force.overrides.iom]
retrain_every_weeks = 8
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "forces.toml"
    path.write_text(text)
    return path


def test_embedded_registry_is_the_quick_start_force():
    reg = load_registry()
    assert reg.path == EMBEDDED_REGISTRY and reg.slugs == ["wmp-synthetic"] and reg.default_force == "wmp-synthetic"
    force = reg.get()
    assert force.source == "connect" and force.data_folder == "." and force.grid_cell_size_m == 250
    base = get_settings()
    assert settings_for(force, base) == base  # the Quick start's folders, key and overrides, unchanged


def test_registry_file_is_read_with_paths_relative_to_it(tmp_path):
    reg = load_registry(_write(tmp_path, TWO_FORCES))
    syk, syn = reg.get("south-yorkshire"), reg.get("synthetic-b")
    assert syk.is_policeuk and syk.landing == (tmp_path / "police" / "south-yorkshire").resolve()
    assert syk.policeuk_slug == "south-yorkshire"
    assert syn.grid_cell_size_m == 500 and syn.overrides_for("iom") == {"retrain_every_weeks": 8}
    from wmp_pipeline.iom.config import IomConfig

    assert syn.apply_overrides("iom", IomConfig()).retrain_every_weeks == 8
    assert [f.slug for f in reg.select("all")] == ["south-yorkshire", "synthetic-b"]
    assert [f.slug for f in reg.select(None)] == ["south-yorkshire"]


def test_unknown_or_misspelt_slug_lists_the_known_ones(tmp_path):
    reg = load_registry(_write(tmp_path, TWO_FORCES))
    with pytest.raises(UnknownForce) as err:
        reg.select("synthetic-b,south-yorkshir")
    text = str(err.value)
    assert "did you mean 'south-yorkshire'" in text and "south-yorkshire, synthetic-b" in text and str(reg.path) in text


@pytest.mark.parametrize(
    "change, message",
    [
        (("schema_version = 1", "schema_version = 2"), "schema_version = 2"),
        (('source = "connect"', 'sourse = "connect"'), "unknown key 'sourse' (did you mean 'source'?)"),
        (('landing = "police/south-yorkshire"\n', ""), "needs 'landing'"),
        (('slug = "synthetic-b"', 'slug = "south-yorkshire"'), "listed twice"),
        (('name = "Synthetic B"', 'name = "Synthetic B"\ntime_zone = "Europe/Paris"'), "Europe/London"),
        (("knife_injury = 500", "knife_injury = 250"), "one grid per force"),
        (("retrain_every_weeks = 8", "retrain_every_week = 8"), "did you mean 'retrain_every_weeks'"),
        (('default_force = "south-yorkshire"', 'default_force = "nowhere"'), "default_force 'nowhere'"),
        (('slug = "synthetic-b"', 'slug = "Synthetic B"'), "lower-case"),
    ],
)
def test_registry_errors_name_the_file_force_and_key(tmp_path, change, message):
    path = _write(tmp_path, TWO_FORCES.replace(*change))
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_each_force_has_its_own_folders_and_pseudonym_key(tmp_path):
    reg = load_registry(_write(tmp_path, TWO_FORCES))
    base = dataclasses.replace(get_settings(), data_dir=tmp_path / "data")
    syk = settings_for(reg.get("south-yorkshire"), base)
    syn = settings_for(reg.get("synthetic-b"), base)
    root = tmp_path / "data" / "forces"
    assert syn.duckdb_path == root / "synthetic-b" / "warehouse" / "wmp.duckdb"
    assert syn.analyst_db_path == root / "synthetic-b" / "analyst" / "wmp_analyst.duckdb"
    assert syn.landing_dir == root / "synthetic-b" / "landing" and syn.artifacts_dir == root / "synthetic-b" / "artifacts"
    assert syk.duckdb_path.parent.parent == root / "south-yorkshire"
    keys = {base.pseudonym_key, syk.pseudonym_key, syn.pseudonym_key}
    assert len(keys) == 3  # offenders cannot be linked across forces' files
    with pytest.raises(ForceInputError, match="production"):
        settings_for(reg.get("synthetic-b"), dataclasses.replace(base, mode="production", pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY))


def test_a_missing_or_empty_force_folder_is_refused_naming_force_and_folder(tmp_path):
    reg = load_registry(_write(tmp_path, TWO_FORCES))
    base = dataclasses.replace(get_settings(), data_dir=tmp_path / "data")
    syk, syn = reg.get("south-yorkshire"), reg.get("synthetic-b")
    with pytest.raises(ForceInputError, match=r"force 'south-yorkshire'.*police/south-yorkshire does not exist"):
        require_input(syk, settings_for(syk, base))
    syk.landing.mkdir(parents=True)
    (syk.landing / "2024-01-city-of-london-street.csv").write_text("x\n")  # another force's file
    with pytest.raises(ForceInputError, match=r"holds no <YYYY-MM>-south-yorkshire-street.csv"):
        require_input(syk, settings_for(syk, base))
    syn_settings = settings_for(syn, base)
    syn_settings.connect_dir.mkdir(parents=True)
    with pytest.raises(ForceInputError, match=r"force 'synthetic-b'.*holds no drop"):
        require_input(syn, syn_settings)
    base_drop(syn_settings.connect_dir, "2026-11-16")
    assert require_input(syn, syn_settings) == syn_settings.connect_dir


def test_weekly_jobs_are_partitioned_by_force_and_week():
    from wmp_pipeline.definitions import defs

    for name in ("weekly_job", "policeuk_weekly_job"):
        parts = defs.resolve_job_def(name).partitions_def
        assert isinstance(parts, MultiPartitionsDefinition)
        assert [d.name for d in parts.partitions_defs] == ["force", "week"]
        assert parts.get_partitions_def_for_dimension("force").get_partition_keys() == ["wmp-synthetic"]
    graph = defs.resolve_asset_graph()
    from dagster import AssetKey

    for key in (AssetKey(["raw", "connect_crimes"]), AssetKey("stg_connect__crimes"), AssetKey("hotspot_predictions"), AssetKey("analyst_database")):
        assert isinstance(graph.get(key).partitions_def, MultiPartitionsDefinition), key
    assert graph.get(AssetKey("national_catalogue")).partitions_def is None
    assert AssetKey("analyst_database") in graph.get(AssetKey("national_catalogue")).parent_keys


def test_context_helpers_read_force_and_week():
    from dagster import build_asset_context

    from wmp_pipeline.defs.partitions import forecast_date_of, force_of, force_week_key, week_of

    ctx = build_asset_context(partition_key=force_week_key("wmp-synthetic", "2026-11-16"))
    assert force_of(ctx) == "wmp-synthetic" and week_of(ctx) == "2026-11-16"
    assert forecast_date_of(ctx).isoformat() == "2026-11-23"


def test_schedule_and_sensor_request_one_run_per_force(tmp_path):
    from wmp_pipeline.defs.schedules import weekly_run_requests
    from wmp_pipeline.defs.sensors import force_requests, week_for_policeuk_month

    reg = load_registry(_write(tmp_path, TWO_FORCES))
    slugs = set(reg.slugs)
    weekly = weekly_run_requests(reg.forces, "weekly_job", "2026-11-16", slugs)
    assert [r.partition_key for r in weekly] == ["synthetic-b|2026-11-16"]
    base = dataclasses.replace(get_settings(), data_dir=tmp_path / "data")
    syn_settings = settings_for(reg.get("synthetic-b"), base)
    base_drop(syn_settings.connect_dir, "2026-11-23")
    reg.get("south-yorkshire").landing.mkdir(parents=True)
    (reg.get("south-yorkshire").landing / "2026-09-south-yorkshire-street.csv").write_text("x\n")
    requests, cursor = force_requests(reg.forces, lambda f: settings_for(f, base), {}, slugs)
    assert {r.partition_key: r.job_name for r in requests} == {
        f"south-yorkshire|{week_for_policeuk_month('2026-09')}": "policeuk_weekly_job",
        "synthetic-b|2026-11-16": "weekly_job",
    }
    assert cursor == {"south-yorkshire": "2026-09", "synthetic-b": "2026-11-23"}
    again, _ = force_requests(reg.forces, lambda f: settings_for(f, base), cursor, slugs)
    assert again == []
    # September's data is first known at the run of the first Monday in October
    assert week_for_policeuk_month("2026-09") == "2026-09-28"


def test_run_queue_instance_settings_pass_dagster_validation(tmp_path):
    import yaml
    from dagster._core.instance.config import dagster_instance_config

    from wmp_pipeline.run_queue import write_instance_yaml

    path = write_instance_yaml(tmp_path, workers=3)
    config, _ = dagster_instance_config(str(tmp_path))
    queue = config["run_coordinator"]["config"]
    assert queue["max_concurrent_runs"] == 3
    assert queue["tag_concurrency_limits"][0]["key"] == "dagster/partition/force"
    # a user's own dagster.yaml is left alone
    path.write_text("telemetry:\n  enabled: false\n")
    write_instance_yaml(tmp_path, workers=5)
    assert yaml.safe_load(path.read_text()) == {"telemetry": {"enabled": False}}
