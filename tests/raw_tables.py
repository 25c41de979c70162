"""Hand-made raw CONNECT tables (typed, with lineage) for data-quality and publication tests.

Rows go straight into ``raw.connect_*`` (created by the ingest's own DDL), so a
test can plant defects the loader would have quarantined, as a broken loader
or a double load would leave them.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pandas as pd

from wmp_pipeline.contract import TABLE_SPECS, TABLES
from wmp_pipeline.ingest.load import ensure_schema

LOADED_AT = datetime(2026, 11, 23, 6, 30)


def person_row(pid: str, **kw) -> dict:
    row = {
        "person_id": pid,
        "date_of_birth": date(1995, 3, 4),
        "sex": "M",
        "self_defined_ethnicity": "W1",
        "home_lsoa_code": "E01009001",
        "last_modified": datetime(2026, 11, 20, 9, 0),
        "record_status": "active",
    }
    row.update(kw)
    return row


def crime_row(cid: str, **kw) -> dict:
    row = {
        "crime_id": cid,
        "offence_code": "8N",
        "offence_description": "assault",
        "recorded_at": datetime(2026, 11, 20, 10, 0),
        "committed_from": datetime(2026, 11, 19, 23, 0),
        "committed_to": datetime(2026, 11, 19, 23, 30),
        "easting": 407_100,
        "northing": 287_100,
        "lsoa_code": "E01009001",
        "weapon_type": "none",
        "weapon_used": "N",
        "injury_level": "minor",
        "last_modified": datetime(2026, 11, 20, 10, 0),
        "record_status": "active",
    }
    row.update(kw)
    return row


def charge_row(hid: str, pid: str = "P1", **kw) -> dict:
    row = {
        "charge_id": hid,
        "person_id": pid,
        "crime_id": "C1",
        "charge_date": date(2026, 11, 21),
        "offence_code": "8N",
        "last_modified": datetime(2026, 11, 21, 9, 0),
        "record_status": "active",
    }
    row.update(kw)
    return row


def clean_drop() -> dict[str, list[dict]]:
    """A small valid drop: 5 persons, 8 crimes, 4 charges."""
    return {
        "persons": [person_row(f"P{i}") for i in range(1, 6)],
        "crimes": [crime_row(f"C{i}", easting=400_000 + 1000 * i) for i in range(1, 9)],
        "charges": [charge_row(f"H{i}", f"P{i}") for i in range(1, 5)],
    }


def add_drop(
    con: duckdb.DuckDBPyConnection,
    drop_id: str,
    rows: dict[str, list[dict]],
    extract_type: str = "full",
    quarantined: dict[str, int] | None = None,
) -> None:
    """Insert a drop's rows with lineage, its quarantine rows and a consistent drop-log entry."""
    ensure_schema(con)
    extract_date = date.fromisoformat(drop_id)
    files = {}
    for table in TABLES:
        spec = TABLE_SPECS[table]
        table_rows = rows.get(table, [])
        n_bad = (quarantined or {}).get(table, 0)
        file_name = f"{table}.csv"
        if table_rows:
            frame = pd.DataFrame([[r.get(c) for c in spec.column_names] for r in table_rows], columns=spec.column_names, dtype=object)
            frame["_row_number"] = range(1, len(table_rows) + 1)
            cols = ", ".join(f'"{c}"' for c in spec.column_names)
            con.register("_rows", frame)
            con.execute(
                f"insert into raw.connect_{table} select {cols}, ?, ?, ?, ?, _row_number, ? from _rows",
                [drop_id, extract_date, extract_type, file_name, LOADED_AT],
            )
            con.unregister("_rows")
        for j in range(n_bad):
            con.execute(
                "insert into raw.connect_quarantine values (?, ?, ?, ?, ?, ?, ?, ?, null)",
                [drop_id, table, file_name, len(table_rows) + j + 1, f"BAD{j}", f"{spec.key}: empty, but required", "{}", LOADED_AT],
            )
        files[table] = {
            "table": table,
            "file_name": file_name,
            "rows_delivered": len(table_rows) + n_bad,
            "rows_loaded": len(table_rows),
            "rows_quarantined": n_bad,
            "extra_columns": [],
        }
    delivered = sum(f["rows_delivered"] for f in files.values())
    loaded = sum(f["rows_loaded"] for f in files.values())
    con.execute(
        "insert into raw.connect_drop_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [drop_id, extract_date, extract_type, date(2018, 1, 1), LOADED_AT, "sha", json.dumps(files), delivered, loaded, delivered - loaded],
    )


def warehouse_with(rows: dict[str, list[dict]] | None = None, drop_id: str = "2026-11-23", **kw) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse holding one drop (default: :func:`clean_drop`)."""
    con = duckdb.connect()
    add_drop(con, drop_id, rows if rows is not None else clean_drop(), **kw)
    return con
