"""The asset checks in Dagster: blocking failures stop downstream assets, warnings do not."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, materialize

from tests.drop_factory import base_drop, charge, crime, person, write_drop
from wmp_pipeline import warehouse
from wmp_pipeline.defs.ingest.assets import connect_drops
from wmp_pipeline.defs.partitions import default_force_week
from wmp_pipeline.defs.publish.assets import analyst_database
from wmp_pipeline.defs.quality.assets import data_quality_summary
from wmp_pipeline.defs.quality.checks import asset_checks
from wmp_pipeline.defs.resources import build_resources
from wmp_pipeline.ingest.load import ingest_landing
from wmp_pipeline.settings import Settings


def _settings(root: Path) -> Settings:
    return Settings(
        data_dir=root,
        landing_dir=root / "landing",
        ground_truth_dir=root / "ground_truth",
        duckdb_path=root / "warehouse" / "wmp.duckdb",
        analyst_db_path=root / "analyst" / "wmp_analyst.duckdb",
        artifacts_dir=root / "artifacts",
        boundary_file=None,
        pseudonym_key="test-key",
        mode="development",
    )


#: the partition the drops of these tests complete (the default force's)
WEEK = default_force_week("2026-01-05")


def _run(settings: Settings):
    return materialize(
        [connect_drops, data_quality_summary, analyst_database, *asset_checks],
        resources=build_resources(settings),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
        partition_key=WEEK,
    )


def _checks(result) -> dict[tuple[str, str], object]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def _materialized(result) -> set[str]:
    return {m.materialization.asset_key.to_user_string() for m in result.get_asset_materialization_events()}


def test_clean_drop_passes_every_check_and_publishes(tmp_path):
    settings = _settings(tmp_path)
    base_drop(settings.connect_dir, "2026-01-05")
    result = _run(settings)
    assert result.success
    checks = _checks(result)
    assert len(checks) == 11  # 3 tables x (gx_blocking, gx_warnings, drop_reconciliation) + drop_refusals + drop_sequence
    failed = {k: e.metadata for k, e in checks.items() if not e.passed}
    assert not failed, failed
    blocking = checks[("connect_crimes", "gx_blocking")]
    assert blocking.severity == AssetCheckSeverity.ERROR
    assert blocking.metadata["drop_id"].value == "2026-01-05"
    assert blocking.metadata["rows_in_drop"].value == 4
    assert checks[("connect_crimes", "gx_warnings")].severity == AssetCheckSeverity.WARN
    assert checks[("connect_persons", "drop_reconciliation")].metadata["rows_delivered"].value == 3
    assert {"dq_drop_reconciliation", "dq_quarantine_summary", "dq_expectation_results", "analyst_database"} <= _materialized(result)
    analyst = settings.analyst_db_path
    assert os.stat(analyst).st_mode & 0o777 == 0o440
    with duckdb.connect(str(analyst), read_only=True) as con:
        published = {r[0] for r in con.execute("select table_name from publish_manifest").fetchall()}
        assert {"dq_drop_reconciliation", "dq_quarantine_summary", "dq_expectation_results"} <= published
        assert con.execute("select bool_and(balanced) from dq_drop_reconciliation").fetchone()[0] is True


def test_a_full_extract_with_an_empty_table_is_refused_and_blocks_everything_downstream(tmp_path):
    settings = _settings(tmp_path)
    write_drop(settings.connect_dir, "2026-01-05", "full", persons=[person("P1")], crimes=[], charges=[charge("H1", "P1", None)])
    result = _run(settings)
    checks = _checks(result)
    # the full drop's blocking expectation (crimes not empty) failed before it was committed: nothing is loaded
    refusals = checks[("connect_drop_log", "drop_refusals")]
    assert not refusals.passed and refusals.severity == AssetCheckSeverity.ERROR
    assert "2026-01-05" in refusals.description and "table_row_count_to_be_between" in refusals.description
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert con.execute("select count(*) from raw.connect_persons").fetchall()[0][0] == 0
    blocking = checks[("connect_crimes", "gx_blocking")]
    assert not blocking.passed and blocking.severity == AssetCheckSeverity.ERROR
    assert "table_row_count_to_be_between" in blocking.metadata["failed_expectations"].value
    assert not result.success
    materialized = _materialized(result)
    assert "raw/connect_crimes" in materialized
    assert "dq_expectation_results" not in materialized and "analyst_database" not in materialized
    assert not settings.analyst_db_path.exists()


def test_warnings_are_reported_but_do_not_block(tmp_path):
    settings = _settings(tmp_path)
    write_drop(
        settings.connect_dir,
        "2026-01-05",
        "full",
        persons=[person("P1")],
        crimes=[crime("C1"), crime("C2", easting="530000", northing="180000"), crime("C3", offence_code="999Z")],
        charges=[charge("H1", "P1", "C1")],
    )
    result = _run(settings)
    assert result.success
    warning = _checks(result)[("connect_crimes", "gx_warnings")]
    assert not warning.passed and warning.severity == AssetCheckSeverity.WARN
    assert warning.metadata["expectations_failed"].value == 3  # easting, northing, offence_code
    assert "999Z (1)" in warning.metadata["failed_expectations"].value
    assert "| C2 |" in warning.metadata["failing_rows_sample"].value
    assert "analyst_database" in _materialized(result)
    with duckdb.connect(str(settings.analyst_db_path), read_only=True) as con:
        failed = con.execute(
            "select expectation from dq_expectation_results where not success and table_name = 'crimes' order by 1"
        ).fetchall()
    assert [r[0] for r in failed] == [
        "column_values_to_be_between(easting)",
        "column_values_to_be_between(northing)",
        "column_values_to_be_in_set(offence_code)",
    ]


@pytest.mark.parametrize("table", ["persons", "charges"])
def test_check_metadata_never_holds_a_person_id(tmp_path, table):
    settings = _settings(tmp_path)
    write_drop(
        settings.connect_dir,
        "2026-01-05",
        "full",
        persons=[person("NOMINAL-7731", home_lsoa_code="BAD"), person("NOMINAL-7732", date_of_birth="1850-01-01")],
        crimes=[crime("C1")],
        charges=[charge("H1", "NOMINAL-7731", "C1", offence_code="999Z"), charge("H2", "NOMINAL-7732", None, charge_date="2030-01-01")],
    )
    result = _run(settings)
    warning = _checks(result)[(f"connect_{table}", "gx_warnings")]
    assert not warning.passed
    text = repr({k: v.value for k, v in warning.metadata.items()})
    assert "NOMINAL-77" not in text
    assert "| charges.csv | 2 |" in text or "| persons.csv | 2 |" in text  # the failing row is still located
    if table == "persons":
        assert "<masked>" in text


def test_reconciliation_check_fails_when_a_loaded_row_goes_missing(tmp_path):
    settings = _settings(tmp_path)
    base_drop(settings.connect_dir, "2026-01-05")
    with warehouse.connect(settings.duckdb_path) as con:
        assert not ingest_landing(con, settings.connect_dir).refused
        con.execute("delete from raw.connect_crimes where crime_id = 'C3'")
    result = materialize(
        [connect_drops, *asset_checks],
        selection=AssetSelection.checks(*asset_checks),
        resources=build_resources(settings),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    checks = _checks(result)
    assert not _materialized(result)  # only the checks ran
    crimes = checks[("connect_crimes", "drop_reconciliation")]
    assert not crimes.passed and crimes.severity == AssetCheckSeverity.ERROR
    assert crimes.metadata["rows_missing"].value == 1
    assert "drop 2026-01-05 crimes.csv: 1 delivered row(s) neither loaded nor quarantined" in crimes.metadata["problems"].value
    assert checks[("connect_persons", "drop_reconciliation")].passed


def test_a_refused_full_drop_and_a_missing_week_are_reported_and_the_good_week_still_publishes(tmp_path):
    settings = _settings(tmp_path)
    base_drop(settings.connect_dir, "2026-01-05")
    write_drop(settings.connect_dir, "2026-01-12", "full")  # empty full drop: refused, state unchanged
    write_drop(settings.connect_dir, "2026-01-26", "delta", crimes=[crime("C9")])  # 2026-01-19 never came
    result = _run(settings)
    assert result.success  # the good drops publish; the refusal does not stop them
    checks = _checks(result)
    refusals = checks[("connect_drop_log", "drop_refusals")]
    assert not refusals.passed and "2026-01-12" in refusals.description and "empty" in refusals.description
    sequence = checks[("connect_drop_log", "drop_sequence")]
    assert not sequence.passed and sequence.severity == AssetCheckSeverity.WARN
    assert "2026-01-19" in sequence.description
    blocking = checks[("connect_crimes", "gx_blocking")]
    assert blocking.passed and blocking.metadata["drops_validated"].value == 2  # both applied drops, each validated
    with duckdb.connect(str(settings.analyst_db_path), read_only=True) as con:
        assert con.execute("select drop_id from dq_drop_refusals").fetchall() == [("2026-01-12",)]
        # the refused week counts as missing too: no drop dated 2026-01-12 or 2026-01-19 was applied
        assert con.execute("select missing_drops, expected_dates from dq_drop_sequence").fetchall() == [(2, "2026-01-12, 2026-01-19")]
        assert con.execute("select count(distinct drop_id) from dq_expectation_results").fetchall() == [(2,)]
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert con.execute("select count(*) from raw.connect_persons").fetchall() == [(3,)]
