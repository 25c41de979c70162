"""Privacy guarantees: production keys, pseudonyms, masking, file modes, and an analyst file without person ids."""

from __future__ import annotations

import dataclasses
import re
import shutil

import duckdb
import pandas as pd
import pytest

from wmp_pipeline.privacy.file_permissions import file_mode, write_private_bytes
from wmp_pipeline.privacy.pseudonymise import InsecureKeyError, check_key, pseudonym, register_duckdb_function
from wmp_pipeline.privacy.scrub import MASK, is_identifying_column, mask_identifiers, scrub_text
from wmp_pipeline.publish.analyst_file import publish_analyst_file
from wmp_pipeline.quality.gx.runner import run_connect_suite
from wmp_pipeline.quality.reconciliation import reconcile_drops
from wmp_pipeline.quality.summary import expectation_results_frame, quarantine_summary, write_quality_tables
from wmp_pipeline.settings import DEVELOPMENT_PSEUDONYM_KEY, get_settings

STRONG_KEY = "k3y-" + "x" * 40


def _settings(mode: str, key: str):
    return dataclasses.replace(get_settings(), mode=mode, pseudonym_key=key)


# --------------------------------------------------------------------------- keys and pseudonyms


def test_production_mode_refuses_the_development_key():
    with pytest.raises(InsecureKeyError, match="WMP_PSEUDONYM_KEY"):
        check_key(_settings("production", DEVELOPMENT_PSEUDONYM_KEY))


def test_production_mode_refuses_a_short_key():
    with pytest.raises(InsecureKeyError):
        check_key(_settings("production", "short-secret"))


def test_production_mode_accepts_a_long_secret_and_development_accepts_the_default():
    assert check_key(_settings("production", STRONG_KEY)) == STRONG_KEY
    assert check_key(_settings("development", DEVELOPMENT_PSEUDONYM_KEY)) == DEVELOPMENT_PSEUDONYM_KEY


def test_production_mode_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("WMP_MODE", "production")
    monkeypatch.delenv("WMP_PSEUDONYM_KEY", raising=False)
    with pytest.raises(InsecureKeyError):
        check_key(get_settings())
    monkeypatch.setenv("WMP_PSEUDONYM_KEY", STRONG_KEY)
    assert check_key(get_settings()) == STRONG_KEY


def test_pseudonyms_are_stable_keyed_and_do_not_contain_the_id():
    a = pseudonym("P000123", STRONG_KEY)
    assert a == pseudonym("P000123", STRONG_KEY)
    assert re.fullmatch(r"OFF-[0-9A-F]{16}", a)
    assert a != pseudonym("P000124", STRONG_KEY)
    assert a != pseudonym("P000123", STRONG_KEY + "other")
    assert "000123" not in a


def test_duckdb_pseudonym_function_matches_python():
    con = duckdb.connect()
    register_duckdb_function(con, STRONG_KEY)
    assert con.execute("select wmp_pseudonym('P9'), wmp_pseudonym(NULL)").fetchone() == (pseudonym("P9", STRONG_KEY), None)


# --------------------------------------------------------------------------- masking and scrubbing


@pytest.mark.parametrize("name", ["person_id", "PERSON_ID", "suspect_person_id", "date_of_birth", "home_lsoa_code", "offence_description"])
def test_identifying_columns(name):
    assert is_identifying_column(name)


@pytest.mark.parametrize("name", ["offender_key", "crime_id", "charge_id", "lsoa_code", "cell_id", "sex", "personality"])
def test_not_identifying_columns(name):
    assert not is_identifying_column(name)


def test_mask_identifiers_keeps_nulls_and_other_columns():
    df = pd.DataFrame(
        {"person_id": ["P1", None], "date_of_birth": pd.to_datetime(["1990-01-01", None]), "crime_id": ["C1", "C2"]}
    )
    masked = mask_identifiers(df)
    assert masked["person_id"].tolist() == [MASK, None]
    assert masked["date_of_birth"].tolist() == [MASK, None]
    assert masked["crime_id"].tolist() == ["C1", "C2"]
    assert df["person_id"].iloc[0] == "P1"  # the input is not changed


def test_scrub_text_masks_longer_ids_whole():
    assert scrub_text("person_id P12 duplicated (first P1)", ["P1", "P12"]) == f"person_id {MASK} duplicated (first {MASK})"


def test_private_export_files_are_owner_only(tmp_path):
    path = write_private_bytes(tmp_path / "exports" / "briefing.csv", b"a,b\n1,2\n")
    assert path.read_bytes() == b"a,b\n1,2\n"
    assert file_mode(path) == 0o600
    assert list(path.parent.iterdir()) == [path]


# --------------------------------------------------------------------------- the analyst file of a real (tiny) pipeline


def test_analyst_file_of_the_tiny_pipeline_holds_no_person_identifier(tiny_pipeline, tmp_path):
    """Publish from a copy of the tiny pipeline's warehouse, with a pseudonymised risk table added,
    then look for identifying columns and raw CONNECT person ids in every text value."""
    working = tmp_path / "working.duckdb"
    shutil.copy(tiny_pipeline.duckdb_path, working)
    analyst = tmp_path / "analyst" / "wmp_analyst.duckdb"
    with duckdb.connect(str(working)) as con:
        register_duckdb_function(con, STRONG_KEY)
        con.execute(
            "create table iom_risk_scores as select wmp_pseudonym(person_id) as offender_key, 0.5 as probability "
            "from stg_connect__persons"
        )
        results = [run_connect_suite(con, t) for t in ("persons", "crimes", "charges")]
        assert all(r.passed("blocking") for r in results), [r.failures("blocking") for r in results]
        write_quality_tables(con, reconcile_drops(con), quarantine_summary(con), expectation_results_frame(results))
        person_ids = {r[0] for r in con.execute("select distinct person_id from raw.connect_persons").fetchall()}
        result = publish_analyst_file(con, analyst, source_run="privacy-test")
    assert len(person_ids) > 100
    assert {t.name for t in result.tables} >= {"iom_risk_scores", "dq_drop_reconciliation", "dq_expectation_results"}
    assert file_mode(analyst) == 0o440

    with duckdb.connect(str(analyst), read_only=True) as a:
        columns = a.execute(
            "select table_name, column_name, data_type from duckdb_columns() "
            "where database_name = current_database() and schema_name = 'main'"
        ).fetchall()
        assert len({t for t, _, _ in columns}) >= 5
        assert not [(t, c) for t, c, _ in columns if c.lower() == "person_id" or is_identifying_column(c)]
        leaks = []
        for table, column, data_type in columns:
            if data_type != "VARCHAR":
                continue
            values = {r[0] for r in a.execute(f'select distinct "{column}" from "{table}" where "{column}" is not null').fetchall()}
            found = values & person_ids
            if found:
                leaks.append((table, column, len(found)))
            # also no person id inside longer text (a quarantine reason, a note)
            for v in values:
                if any(pid in v for pid in person_ids if len(pid) >= 6):
                    leaks.append((table, column, v[:40]))
                    break
        assert leaks == []
        # the pseudonymised table did get published, one key per current person
        n_keys = a.execute("select count(distinct offender_key) from iom_risk_scores").fetchone()[0]
        assert 100 < n_keys <= len(person_ids)
