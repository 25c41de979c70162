"""The code location loads, and holds what the weekly run needs."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest
from dagster import AssetKey

from wmp_pipeline import tables
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


# --------------------------------------------------------------------------- graph snapshot
#: Every asset, check, job, schedule, sensor and resource of the code location, as reviewed.
#: An intended change to the graph: regenerate with
#:     WMP_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/test_definitions.py -k snapshot
#: and commit the file with the change, so the review shows what moved.
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def definitions_snapshot(d) -> dict:
    graph = d.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": str(node.partitions_def) if node.partitions_def else None,
            "kinds": sorted(node.kinds),
            "execution": node.execution_type.value,
            "checks": sorted(c.name for c in node.check_keys),
        }
    checks = {}
    for ck in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)):
        checks[f"{ck.asset_key.to_user_string()}:{ck.name}"] = "blocking" if graph.get(ck).blocking else "warn"
    jobs = {}
    for job in sorted(d.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = {
            "partitions": str(job.partitions_def) if job.partitions_def else None,
            "assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys),
        }
    return {
        "assets": assets,
        "asset_checks": checks,
        "jobs": jobs,
        "schedules": {
            s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
            for s in sorted(d.schedules or [], key=lambda s: s.name)
        },
        "sensors": {s.name: {"jobs": sorted(j.name for j in s.jobs)} for s in sorted(d.sensors or [], key=lambda s: s.name)},
        "resources": sorted(d.resources or {}),
    }


def test_graph_matches_the_reviewed_snapshot():
    current = json.dumps(definitions_snapshot(defs), indent=1, sort_keys=True) + "\n"
    if os.environ.get("WMP_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with WMP_UPDATE_SNAPSHOT=1 to write {SNAPSHOT}"
    expected = SNAPSHOT.read_text()
    if current != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), current.splitlines(True), "snapshot", "now", n=2))
        pytest.fail(
            "The asset graph differs from tests/snapshots/definitions.json. If the change is intended, "
            "regenerate it with WMP_UPDATE_SNAPSHOT=1 and commit it:\n" + diff[:6000]
        )


def test_every_table_writer_in_the_registry_is_an_asset():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    for info in tables.TABLES.values():
        if not info.written_by.startswith("cli:"):
            assert info.written_by in keys, f"{info.qualified}: writer {info.written_by} is not an asset"


def test_reports_depend_on_the_assets_that_write_what_they_read():
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string() for k in graph.get(AssetKey("weekly_briefing")).parent_keys}
    assert {"iom_model", "hotspot_backtest", "raw/connect_drop_log", "dq_expectation_results"} <= parents
    # a table name that is not an asset (iom_model_metrics is written by iom_model) is no node of the graph
    assert AssetKey("iom_model_metrics") not in graph.get_all_asset_keys()
