"""The GX suites in expectations/ agree with the contract (wmp_pipeline.contract) and load in GX 1.x."""

from __future__ import annotations

import json
from datetime import date

import pytest

from wmp_pipeline.contract import TABLE_SPECS
from wmp_pipeline.quality.force_area import WEST_MIDLANDS_BBOX
from wmp_pipeline.quality.gx.results import DropInfo
from wmp_pipeline.quality.gx.suites import (
    GX_SEVERITY,
    SEVERITIES,
    known_offence_codes,
    load_suite_json,
    suite_parameter_names,
    suite_parameters,
    suite_path,
)
from wmp_pipeline.settings import EXPECTATIONS_DIR

TABLES = sorted(TABLE_SPECS)


def _by_type(suite: dict, exp_type: str) -> dict[str, dict]:
    return {e["kwargs"]["column"]: e for e in suite["expectations"] if e["type"] == exp_type}


def test_one_suite_file_per_contract_table_and_nothing_else():
    files = sorted(p.name for p in EXPECTATIONS_DIR.glob("*.json"))
    assert files == sorted(f"connect_{t}.json" for t in TABLE_SPECS)


@pytest.mark.parametrize("table", TABLES)
def test_every_expectation_has_a_severity_and_a_note(table):
    suite = json.loads(suite_path(table).read_text())
    assert suite["name"] == f"connect_{table}"
    for exp in suite["expectations"]:
        assert exp["meta"]["severity"] in SEVERITIES, exp
        assert len(exp["meta"]["note"]) > 20, exp
        # GX's own severity field says the same thing as meta.severity
        assert exp["severity"] == GX_SEVERITY[exp["meta"]["severity"]], exp


@pytest.mark.parametrize("table", TABLES)
def test_every_contract_column_is_covered_by_existence_and_type(table):
    spec = TABLE_SPECS[table]
    suite = load_suite_json(table)
    exists = {e["kwargs"]["column"] for e in suite["expectations"] if e["type"] == "expect_column_to_exist"}
    assert exists == set(spec.column_names)
    of_type = _by_type(suite, "expect_column_values_to_be_of_type")
    in_types = _by_type(suite, "expect_column_values_to_be_in_type_list")
    for col in spec.columns:
        if col.type == "string":
            assert of_type[col.name]["kwargs"]["type_"] == "str"
        elif col.type in ("date", "timestamp"):
            assert of_type[col.name]["kwargs"]["type_"] == "datetime64"
        else:
            assert col.type == "integer"
            assert "int32" in in_types[col.name]["kwargs"]["type_list"]
        typed = of_type.get(col.name) or in_types.get(col.name)
        assert typed["meta"]["severity"] == "blocking", f"a broken type of {col.name} must block"


@pytest.mark.parametrize("table", TABLES)
def test_required_columns_are_not_null_and_the_key_unique_both_blocking(table):
    spec = TABLE_SPECS[table]
    suite = load_suite_json(table)
    not_null = _by_type(suite, "expect_column_values_to_not_be_null")
    assert set(not_null) == {c.name for c in spec.columns if not c.nullable}
    assert all(e["meta"]["severity"] == "blocking" for e in not_null.values())
    unique = _by_type(suite, "expect_column_values_to_be_unique")
    assert set(unique) == {spec.key}
    assert unique[spec.key]["meta"]["severity"] == "blocking"
    row_count = [e for e in suite["expectations"] if e["type"] == "expect_table_row_count_to_be_between"]
    assert len(row_count) == 1 and row_count[0]["meta"]["severity"] == "blocking"


@pytest.mark.parametrize("table", TABLES)
def test_allowed_values_and_patterns_are_identical_to_the_contract(table):
    spec = TABLE_SPECS[table]
    suite = load_suite_json(table)
    in_set = {
        c: e for c, e in _by_type(suite, "expect_column_values_to_be_in_set").items() if isinstance(e["kwargs"]["value_set"], list)
    }
    assert {c: list(e["kwargs"]["value_set"]) for c, e in in_set.items()} == {
        c.name: list(c.allowed) for c in spec.columns if c.allowed
    }
    regex = _by_type(suite, "expect_column_values_to_match_regex")
    assert {c: e["kwargs"]["regex"] for c, e in regex.items()} == {c.name: c.pattern for c in spec.columns if c.pattern}
    if "record_status" in in_set:
        assert in_set["record_status"]["meta"]["severity"] == "blocking"


def test_lsoa_codes_use_the_e01_pattern():
    for table, column in (("crimes", "lsoa_code"), ("persons", "home_lsoa_code")):
        regex = _by_type(load_suite_json(table), "expect_column_values_to_match_regex")
        assert regex[column]["kwargs"]["regex"] == r"^E01\d{6}$"
        assert regex[column]["meta"]["severity"] == "warning"


@pytest.mark.parametrize("table", ["crimes", "charges"])
def test_offence_codes_are_checked_against_the_seed_as_a_warning(table):
    exp = _by_type(load_suite_json(table), "expect_column_values_to_be_in_set")["offence_code"]
    assert exp["kwargs"]["value_set"] == {"$PARAMETER": "known_offence_codes"}
    assert exp["meta"]["severity"] == "warning"
    codes = known_offence_codes()
    assert {"1", "5A", "8N", "34B"} <= set(codes) and len(codes) > 30


@pytest.mark.parametrize("table", TABLES)
def test_suite_loads_in_gx_and_every_parameter_is_supplied(table):
    import great_expectations as gx

    suite = load_suite_json(table)
    gx_suite = gx.ExpectationSuite(name=suite["name"], expectations=suite["expectations"], meta=suite["meta"])
    assert len(gx_suite.expectations) == len(suite["expectations"])
    params = suite_parameters(DropInfo("2026-11-23", date(2026, 11, 23), "full"), WEST_MIDLANDS_BBOX, known_offence_codes())
    assert suite_parameter_names(suite) <= set(params)
    assert suite_parameter_names(suite) == set(suite["meta"]["parameters"])


def test_a_suite_with_an_unknown_severity_is_rejected(tmp_path):
    suite = load_suite_json("persons")
    suite["expectations"][3]["meta"]["severity"] = "fatal"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(suite))
    with pytest.raises(ValueError, match="severity"):
        load_suite_json(path)
