"""The GX suites catch planted defects in the raw tables, at the right severity, without leaking identifiers."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from tests.raw_tables import add_drop, charge_row, clean_drop, crime_row, person_row, warehouse_with
from wmp_pipeline.quality.force_area import BngBox
from wmp_pipeline.quality.gx.results import DropInfo
from wmp_pipeline.quality.gx.runner import run_connect_suite
from wmp_pipeline.quality.gx.sampling import latest_drop
from wmp_pipeline.quality.metadata import suite_check_metadata


def _failed(result, severity: str) -> set[str]:
    return {o.label for o in result.failures(severity)}


@pytest.mark.parametrize("table", ["persons", "crimes", "charges"])
def test_clean_drop_passes_every_expectation(table):
    result = run_connect_suite(warehouse_with(), table)
    assert result.success, result.summary_frame()[lambda f: ~f["success"]].to_string()
    assert result.rows_in_drop == result.rows_validated == len(clean_drop()[table])
    assert not result.sampled
    assert len(result.outcomes_for("blocking")) > 10 and len(result.outcomes_for("warning")) >= 2


def test_null_key_and_duplicate_key_block():
    rows = clean_drop()
    rows["crimes"] += [crime_row(None), crime_row("C2")]
    result = run_connect_suite(warehouse_with(rows), "crimes")
    assert {"column_values_to_not_be_null(crime_id)", "column_values_to_be_unique(crime_id)"} <= _failed(result, "blocking")
    dup = next(o for o in result.outcomes if o.label == "column_values_to_be_unique(crime_id)")
    assert dup.unexpected_count == 2
    assert not _failed(result, "warning")


def test_duplicate_person_is_reported_with_the_person_id_masked():
    rows = clean_drop()
    rows["persons"].append(person_row("P3", date_of_birth=date(1980, 1, 1)))
    result = run_connect_suite(warehouse_with(rows), "persons")
    assert _failed(result, "blocking") == {"column_values_to_be_unique(person_id)"}
    sample = result.failing_rows("blocking")
    assert len(sample) == 2
    assert set(sample["person_id"]) == {"<masked>"}
    assert set(sample["_row_number"]) == {"3", "6"}  # where to find the rows in persons.csv
    outcome = result.failures("blocking")[0]
    assert outcome.top_unexpected_values == ()  # the duplicated value would be a person id
    text = repr(suite_check_metadata(result, "blocking"))
    assert "P3" not in text and "1980" not in text and "<masked>" in text


def test_out_of_area_coordinates_are_a_warning_with_the_rows_shown():
    rows = clean_drop()
    rows["crimes"] += [crime_row("C90", easting=530_000, northing=180_000), crime_row("C91", easting=287_100, northing=407_100)]
    result = run_connect_suite(warehouse_with(rows), "crimes")
    assert result.passed("blocking")
    assert {"column_values_to_be_between(easting)", "column_values_to_be_between(northing)"} <= _failed(result, "warning")
    sample = result.failing_rows("warning")
    assert {"C90", "C91"} <= set(sample["crime_id"])


def test_a_configured_box_moves_the_force_area():
    rows = clean_drop()
    small_box = BngBox(min_easting=400_000, min_northing=280_000, max_easting=403_500, max_northing=290_000)
    result = run_connect_suite(warehouse_with(rows), "crimes", bbox=small_box)
    easting = next(o for o in result.outcomes if o.label == "column_values_to_be_between(easting)")
    assert not easting.success and easting.unexpected_count == 5  # crimes at 404-408 km E


def test_malformed_lsoa_codes_are_a_warning():
    rows = clean_drop()
    rows["crimes"].append(crime_row("C90", lsoa_code="E0100901"))
    rows["persons"].append(person_row("P90", home_lsoa_code="W01000001"))
    crimes = run_connect_suite(warehouse_with(rows), "crimes")
    assert _failed(crimes, "warning") == {"column_values_to_match_regex(lsoa_code)"}
    assert crimes.passed("blocking")
    outcome = crimes.failures("warning")[0]
    assert outcome.top_unexpected_values == (("E0100901", 1),)
    persons = run_connect_suite(warehouse_with(rows), "persons")
    assert _failed(persons, "warning") == {"column_values_to_match_regex(home_lsoa_code)"}
    # a home area is identifying: no value shown
    assert persons.failures("warning")[0].top_unexpected_values == ()
    assert set(persons.failing_rows("warning")["home_lsoa_code"]) == {"<masked>"}


def test_dates_after_the_extract_date_are_a_warning():
    rows = clean_drop()
    rows["crimes"].append(crime_row("C90", recorded_at=datetime(2026, 11, 24, 0, 0), committed_from=datetime(2026, 12, 1)))
    rows["charges"].append(charge_row("H90", charge_date=date(2027, 1, 1)))
    rows["persons"].append(person_row("P90", date_of_birth=date(1850, 1, 1)))
    con = warehouse_with(rows)  # extract date 2026-11-23
    crimes = run_connect_suite(con, "crimes")
    assert {
        "column_values_to_be_between(recorded_at)",
        "column_values_to_be_between(committed_from)",
    } <= _failed(crimes, "warning")
    assert crimes.passed("blocking")
    assert "column_values_to_be_between(charge_date)" in _failed(run_connect_suite(con, "charges"), "warning")
    assert "column_values_to_be_between(date_of_birth)" in _failed(run_connect_suite(con, "persons"), "warning")


def test_a_time_on_the_extract_date_itself_is_not_in_the_future():
    rows = clean_drop()
    rows["crimes"].append(crime_row("C90", recorded_at=datetime(2026, 11, 23, 5, 59), last_modified=datetime(2026, 11, 23, 5, 59)))
    assert run_connect_suite(warehouse_with(rows), "crimes").success


def test_committed_window_out_of_order_is_a_warning():
    rows = clean_drop()
    rows["crimes"].append(crime_row("C90", committed_from=datetime(2026, 11, 19, 23), committed_to=datetime(2026, 11, 18)))
    result = run_connect_suite(warehouse_with(rows), "crimes")
    assert _failed(result, "warning") == {"column_pair_values_a_to_be_greater_than_b(committed_to, committed_from)"}


def test_recorded_before_committed_tolerates_one_percent():
    def drop(n_bad: int) -> dict:
        rows = {"persons": [], "charges": [], "crimes": [crime_row(f"C{i}") for i in range(200)]}
        for i in range(n_bad):
            rows["crimes"][i]["recorded_at"] = datetime(2026, 11, 19, 12)  # before committed_from 23:00
        return rows

    label = "column_pair_values_a_to_be_greater_than_b(recorded_at, committed_from)"
    assert label not in _failed(run_connect_suite(warehouse_with(drop(2)), "crimes"), "warning")
    assert label in _failed(run_connect_suite(warehouse_with(drop(3)), "crimes"), "warning")


def test_unknown_offence_codes_are_a_warning_listing_the_codes():
    rows = clean_drop()
    rows["crimes"] += [crime_row("C90", offence_code="999Z"), crime_row("C91", offence_code="999Z"), crime_row("C92", offence_code="77X")]
    result = run_connect_suite(warehouse_with(rows), "crimes")
    assert result.passed("blocking")
    outcome = next(o for o in result.failures("warning") if o.label == "column_values_to_be_in_set(offence_code)")
    assert outcome.top_unexpected_values == (("999Z", 2), ("77X", 1))


def test_an_unknown_record_status_blocks_but_an_unknown_sex_only_warns():
    rows = clean_drop()
    rows["persons"] += [person_row("P90", record_status="archived"), person_row("P91", sex="male")]
    result = run_connect_suite(warehouse_with(rows), "persons")
    assert _failed(result, "blocking") == {"column_values_to_be_in_set(record_status)"}
    assert _failed(result, "warning") == {"column_values_to_be_in_set(sex)"}


def test_empty_full_drop_blocks_but_an_empty_delta_does_not():
    rows = clean_drop()
    rows["charges"] = []
    assert "table_row_count_to_be_between" in _failed(run_connect_suite(warehouse_with(rows), "charges"), "blocking")
    assert run_connect_suite(warehouse_with(rows, extract_type="delta"), "charges").passed("blocking")


def test_no_drop_applied_yet_blocks():
    con = duckdb.connect()
    result = run_connect_suite(con, "crimes")
    assert not result.passed("blocking")
    assert result.drop_id is None


def test_a_column_loaded_as_text_instead_of_timestamp_blocks():
    con = warehouse_with()
    con.execute("alter table raw.connect_crimes alter recorded_at type varchar")
    result = run_connect_suite(con, "crimes")
    assert "column_values_to_be_of_type(recorded_at)" in _failed(result, "blocking")


def test_a_missing_column_blocks_and_is_named():
    con = warehouse_with()
    con.execute("alter table raw.connect_crimes drop column lsoa_code")
    result = run_connect_suite(con, "crimes")
    assert "column_to_exist(lsoa_code)" in _failed(result, "blocking")


def test_only_the_latest_drop_is_validated():
    con = duckdb.connect()
    old = clean_drop()
    old["crimes"].append(crime_row("C1"))  # duplicate, in the older drop only
    add_drop(con, "2026-11-16", old)
    add_drop(con, "2026-11-23", clean_drop(), extract_type="delta")
    assert latest_drop(con).drop_id == "2026-11-23"
    result = run_connect_suite(con, "crimes")
    assert result.drop_id == "2026-11-23" and result.extract_type == "delta"
    assert result.success
    older = run_connect_suite(con, "crimes", drop=DropInfo("2026-11-16", date(2026, 11, 16), "full"))
    assert _failed(older, "blocking") == {"column_values_to_be_unique(crime_id)"}


def test_a_large_drop_is_sampled_but_duplicate_keys_are_still_all_found():
    rows = {"persons": [], "charges": [], "crimes": [crime_row(f"C{i}") for i in range(3000)]}
    rows["crimes"] += [crime_row("C17"), crime_row("C2500"), crime_row(None)]
    con = warehouse_with(rows)
    result = run_connect_suite(con, "crimes", max_rows=500)
    assert result.sampled and result.rows_in_drop == 3003
    assert result.rows_validated < 1200
    assert "sampled" in result.sample_note and "key checks are exact" in result.sample_note
    unique = next(o for o in result.outcomes if o.label == "column_values_to_be_unique(crime_id)")
    assert unique.unexpected_count == 4  # both copies of C17 and of C2500
    null_key = next(o for o in result.outcomes if o.label == "column_values_to_not_be_null(crime_id)")
    assert null_key.unexpected_count == 1
    meta = suite_check_metadata(result, "blocking")
    assert meta["sampled"] is True and meta["rows_in_drop"] == 3003
