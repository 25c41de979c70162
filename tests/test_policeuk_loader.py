"""police.uk loader: file discovery, parsing, coordinates, idempotent reloads, lineage."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.policeuk.coordinates import to_bng
from wmp_pipeline.policeuk.files import PoliceUkFileError, find_street_files, parse_street_file_name
from wmp_pipeline.policeuk.loader import LEDGER_TABLE, STREET_SCHEMA, STREET_TABLE, ensure_tables, load_folder
from wmp_pipeline.settings import PROJECT_ROOT

HEADER = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context"
ROWS = [
    "aaa1,2021-09,Test Police,Test Police,-1.470100,53.381100,On or near Pinstone Street,E01033264,Sheffield 073E,Robbery,Under investigation,",
    ",2021-09,Test Police,Test Police,-1.470200,53.381200,On or near Surrey Street,E01033264,Sheffield 073E,Anti-social behaviour,,",
    "aaa3,2021-09,Test Police,Test Police,,,No Location,,,Violence and sexual offences,Unable to prosecute suspect,",
    'aaa4,2021-09,Test Police,Test Police,-1.132000,53.522000,"On or near Bus Station, Frenchgate",E01007557,Doncaster 025A,Possession of weapons,Awaiting court outcome,',
]


def shared_police_uk_dir() -> Path | None:
    """South Yorkshire police.uk files: $WMP_SHARED_DATA or ../shared/data beside the project."""
    root = Path(os.environ.get("WMP_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")
    folder = root / "police-uk" / "south-yorkshire"
    return folder if folder.is_dir() and any(folder.glob("*-street.csv*")) else None


def write_csv(path: Path, rows: list[str], gz: bool) -> Path:
    text = "\n".join([HEADER, *rows]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def test_file_names_are_parsed_and_other_police_uk_files_ignored(tmp_path):
    assert parse_street_file_name("2021-09-south-yorkshire-street.csv") == ("2021-09", "south-yorkshire")
    assert parse_street_file_name("2019-12-metropolitan-street.csv.gz") == ("2019-12", "metropolitan")
    assert parse_street_file_name("2021-09-south-yorkshire-outcomes.csv") is None
    assert parse_street_file_name("2021-13-south-yorkshire-street.csv") is None
    write_csv(tmp_path / "2021-09" / "2021-09-test-street.csv", ROWS, gz=False)
    write_csv(tmp_path / "2021-08-test-street.csv.gz", ROWS, gz=True)
    (tmp_path / "2021-09" / "2021-09-test-outcomes.csv").write_text("x\n")
    found = find_street_files(tmp_path)
    assert [(f.month, f.force_slug) for f in found] == [("2021-08", "test"), ("2021-09", "test")]


def test_known_lon_lat_converts_to_bng_within_a_few_metres():
    # Ordnance Survey's worked example (Caister water tower): ETRS89 52°39'28.8282"N
    # 1°42'57.8663"E is National Grid E 651409.792, N 313177.448 (OSTN15). Without the
    # OSTN15 grid pyproj uses a Helmert transformation good to a few metres.
    lat = 52 + 39 / 60 + 28.8282 / 3600
    lon = 1 + 42 / 60 + 57.8663 / 3600
    e, n = to_bng([lon], [lat])
    assert np.hypot(e[0] - 651409.792, n[0] - 313177.448) < 6.0
    e, n = to_bng([0.0, np.nan, -1.47], [0.0, 53.0, 53.38])
    assert np.isnan(e[0]) and np.isnan(e[1]) and 430_000 < e[2] < 440_000


@pytest.mark.parametrize("gz", [False, True])
def test_hand_made_file_loads_every_row_with_lineage(con, tmp_path, gz):
    name = "2021-09-test-street.csv" + (".gz" if gz else "")
    write_csv(tmp_path / name, ROWS, gz=gz)
    report = load_folder(con, tmp_path)
    assert report.rows_loaded == 4
    assert report.rows_without_location == 1
    rows = con.execute(f"SELECT * FROM {STREET_TABLE} ORDER BY _row_number").df()
    assert list(rows.columns) == list(STREET_SCHEMA)
    assert rows["_row_number"].tolist() == [1, 2, 3, 4]
    assert rows["_file_name"].unique().tolist() == [name]
    assert rows["_force_slug"].unique().tolist() == ["test"]
    assert pd.isna(rows.loc[1, "crime_id"])  # anti-social behaviour: no Crime ID, kept
    assert pd.isna(rows.loc[2, "easting"]) and pd.isna(rows.loc[2, "longitude"])
    assert rows.loc[3, "location"] == "On or near Bus Station, Frenchgate"
    # Sheffield city centre lies near E 435,000 N 387,000
    assert abs(rows.loc[0, "easting"] - 435_300) < 1_000 and abs(rows.loc[0, "northing"] - 387_200) < 1_000
    ledger = con.execute(f"SELECT * FROM {LEDGER_TABLE}").df()
    assert ledger[["force_slug", "file_month", "rows_loaded", "rows_without_location"]].values.tolist() == [["test", "2021-09", 4, 1]]


def test_reload_is_idempotent_and_gz_of_same_content_is_recognised(con, tmp_path):
    write_csv(tmp_path / "2021-09-test-street.csv", ROWS, gz=False)
    first = load_folder(con, tmp_path)
    second = load_folder(con, tmp_path)
    assert first.count("loaded") == 1 and second.count("unchanged") == 1 and second.rows_loaded == 0
    (tmp_path / "2021-09-test-street.csv").unlink()
    write_csv(tmp_path / "2021-09-test-street.csv.gz", ROWS, gz=True)
    third = load_folder(con, tmp_path)
    assert third.count("unchanged") == 1
    assert con.execute(f"SELECT count(*) FROM {STREET_TABLE}").fetchone()[0] == 4


def test_changed_file_replaces_its_month_only(con, tmp_path):
    write_csv(tmp_path / "2021-09-test-street.csv", ROWS, gz=False)
    write_csv(tmp_path / "2021-08-test-street.csv", [r.replace("2021-09", "2021-08") for r in ROWS], gz=False)
    load_folder(con, tmp_path)
    old_sha = con.execute(f"SELECT file_sha256 FROM {LEDGER_TABLE} WHERE file_month = '2021-09'").fetchone()[0]
    write_csv(tmp_path / "2021-09-test-street.csv", ROWS[:2], gz=False)  # re-published with fewer rows
    report = load_folder(con, tmp_path)
    assert report.count("replaced") == 1 and report.count("unchanged") == 1
    by_month = dict(con.execute(f"SELECT _file_month, count(*) FROM {STREET_TABLE} GROUP BY 1").fetchall())
    assert by_month == {"2021-08": 4, "2021-09": 2}
    assert con.execute(f"SELECT replaced_sha256 FROM {LEDGER_TABLE} WHERE file_month = '2021-09'").fetchone()[0] == old_sha


def test_two_different_files_for_one_month_are_refused(con, tmp_path):
    write_csv(tmp_path / "a" / "2021-09-test-street.csv", ROWS, gz=False)
    write_csv(tmp_path / "b" / "2021-09-test-street.csv.gz", ROWS[:1], gz=True)
    with pytest.raises(ValueError, match="different content"):
        load_folder(con, tmp_path)


def test_file_without_police_uk_columns_is_refused(con, tmp_path):
    (tmp_path / "2021-09-test-street.csv").write_text("a,b\n1,2\n")
    with pytest.raises(PoliceUkFileError, match="missing columns"):
        load_folder(con, tmp_path)
    assert con.execute(f"SELECT count(*) FROM {STREET_TABLE}").fetchone()[0] == 0


def test_raw_table_of_another_layout_is_refused(con):
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.policeuk_street (crime_id VARCHAR)")
    with pytest.raises(RuntimeError, match="expected"):
        ensure_tables(con)


def test_cut_of_real_files_loads_and_counts_rows_without_location(con, tmp_path):
    folder = shared_police_uk_dir()
    if folder is None:
        pytest.skip("shared police.uk data not found (../shared/data/police-uk/south-yorkshire or $WMP_SHARED_DATA)")
    expected_rows, expected_missing = 0, 0
    for src in sorted(folder.glob("2021-0[89]-*-street.csv*"))[:2]:
        lines = gzip.decompress(src.read_bytes()).decode().splitlines() if src.suffix == ".gz" else src.read_text().splitlines()
        cut = lines[:1] + lines[1:1500]
        frame = pd.read_csv(pd.io.common.StringIO("\n".join(cut)), dtype=str, keep_default_na=False)
        expected_rows += len(frame)
        expected_missing += int((frame["Longitude"] == "").sum())
        (tmp_path / src.name).write_bytes(gzip.compress(("\n".join(cut) + "\n").encode()))
    report = load_folder(con, tmp_path)
    assert report.rows_loaded == expected_rows
    assert report.rows_without_location == expected_missing
    stats = con.execute(
        f"SELECT min(easting), max(easting), count(*) FILTER (WHERE crime_id IS NULL AND crime_type = 'Anti-social behaviour') "
        f"FROM {STREET_TABLE} WHERE easting IS NOT NULL"
    ).fetchone()
    assert 380_000 < stats[0] < stats[1] < 500_000  # South Yorkshire and its neighbours
    assert stats[2] > 0
