"""Hand-made CONNECT drops for tests: valid rows, and ways to break them."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

from wmp_pipeline.contract import TABLE_SPECS


def person(pid: str, **kw) -> dict:
    row = {
        "person_id": pid,
        "date_of_birth": "1995-03-04",
        "sex": "M",
        "self_defined_ethnicity": "W1",
        "home_lsoa_code": "E01009001",
        "last_modified": "2026-01-01T09:00:00",
        "record_status": "active",
    }
    row.update(kw)
    return row


def crime(cid: str, **kw) -> dict:
    row = {
        "crime_id": cid,
        "offence_code": "8N",
        "offence_description": "assault",
        "recorded_at": "2026-01-02T10:00:00",
        "committed_from": "2026-01-01T23:00:00",
        "committed_to": "",
        "easting": "407100",
        "northing": "287100",
        "lsoa_code": "E01009001",
        "weapon_type": "none",
        "weapon_used": "N",
        "injury_level": "minor",
        "last_modified": "2026-01-02T10:00:00",
        "record_status": "active",
    }
    row.update(kw)
    return row


def charge(hid: str, pid: str, cid: str | None, **kw) -> dict:
    row = {
        "charge_id": hid,
        "person_id": pid,
        "crime_id": cid or "",
        "charge_date": "2026-01-03",
        "offence_code": "8N",
        "last_modified": "2026-01-03T09:00:00",
        "record_status": "active",
    }
    row.update(kw)
    return row


def csv_bytes(table: str, rows: list[dict], delimiter: str = ",", columns: list[str] | None = None) -> bytes:
    cols = columns or TABLE_SPECS[table].column_names
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols])
    return buf.getvalue().encode("utf-8")


def write_drop(
    connect_dir: Path,
    drop_id: str,
    extract_type: str = "full",
    persons: list[dict] | None = None,
    crimes: list[dict] | None = None,
    charges: list[dict] | None = None,
    raw: dict[str, bytes] | None = None,
    ext: str = "csv",
    manifest_rows: dict[str, int] | None = None,
    covers_from: str = "2018-01-01",
) -> Path:
    """Write a drop; ``raw`` replaces a table's file bytes (before gzip for csv.gz)."""
    d = connect_dir / drop_id
    d.mkdir(parents=True, exist_ok=True)
    tables = {"persons": persons or [], "crimes": crimes or [], "charges": charges or []}
    files = {}
    for table, rows in tables.items():
        body = (raw or {}).get(table)
        if body is None:
            body = csv_bytes(table, rows)
        n_rows = max(body.count(b"\n") - 1, 0) if body else 0
        data = gzip.compress(body, mtime=0) if ext == "csv.gz" else body
        name = f"{table}.{ext}"
        (d / name).write_bytes(data)
        files[name] = {"rows": (manifest_rows or {}).get(table, n_rows), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {
        "contract_version": 1,
        "extract_date": drop_id,
        "extract_type": extract_type,
        "covers_from": covers_from,
        "files": files,
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return d


def rewrite_file(drop_dir: Path, name: str, data: bytes, rows: int | None = None) -> None:
    """Replace a file and keep the manifest consistent with it (a producer-side defect)."""
    (drop_dir / name).write_bytes(data)
    m = json.loads((drop_dir / "manifest.json").read_text())
    m["files"][name]["sha256"] = hashlib.sha256(data).hexdigest()
    if rows is not None:
        m["files"][name]["rows"] = rows
    (drop_dir / "manifest.json").write_text(json.dumps(m, indent=2))


def base_drop(connect_dir: Path, drop_id: str = "2026-01-05", ext: str = "csv") -> Path:
    """A small valid full drop: 3 persons, 4 crimes, 3 charges."""
    return write_drop(
        connect_dir,
        drop_id,
        "full",
        persons=[person("P1"), person("P2", sex="F", self_defined_ethnicity="B2"), person("P3", date_of_birth="")],
        crimes=[
            crime("C1"),
            crime("C2", offence_code="5A", weapon_type="knife_or_sharp_instrument", weapon_used="Y", injury_level="serious"),
            crime("C3", offence_code="34B", easting="", northing=""),
            crime("C4", offence_code="46", injury_level="none"),
        ],
        charges=[charge("H1", "P1", "C1"), charge("H2", "P2", "C2", offence_code="5A"), charge("H3", "P1", None, offence_code="46")],
        ext=ext,
    )
