"""The code location loads, and holds what the weekly run needs."""

from __future__ import annotations

from dagster import AssetKey

from wmp_pipeline.definitions import defs


def test_definitions_load_with_ingest_dbt_schedule_and_sensor():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"raw/connect_persons", "raw/connect_crimes", "raw/connect_charges"} <= keys
    assert {"stg_connect__persons", "stg_connect__crimes", "stg_connect__charges", "ref_offence_codes"} <= keys
    assert defs.resolve_job_def("weekly_job") is not None
    assert defs.resolve_schedule_def("weekly_monday_morning").cron_schedule == "0 6 * * 1"
    assert defs.resolve_schedule_def("weekly_monday_morning").execution_timezone == "Europe/London"
    assert defs.resolve_sensor_def("connect_drop_sensor") is not None


def test_dbt_sources_join_the_raw_ingest_assets_in_one_lineage_graph():
    graph = defs.resolve_asset_graph()
    parents = graph.get(AssetKey("stg_connect__crimes")).parent_keys
    assert AssetKey(["raw", "connect_crimes"]) in parents
    assert AssetKey(["raw", "connect_drop_log"]) in parents


def test_dbt_tests_are_asset_checks():
    checks = {c.name for c in defs.resolve_asset_graph().asset_check_keys}
    assert "unique_stg_connect__crimes_crime_id" in checks


def test_assets_have_groups():
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey(["raw", "connect_crimes"])).group_name == "ingest"
    assert graph.get(AssetKey("stg_connect__crimes")).group_name == "staging"
    assert graph.get(AssetKey("int_crimes__classified")).group_name == "intermediate"
