"""Writing drops: the state of every record as of a drop date, files and manifest.

A drop dated ``D`` is taken at 00:00 on ``D``: it sees every edit made
before then. The **full** extract holds every record whose key date
(``recorded_at``, ``charge_date``, ``last_modified`` for persons) is on or
after ``covers_from``, in its state at ``D``, without records deleted before
``D``. A **delta** holds every record with any edit (creation,
reclassification, relocation, cancellation, deletion, a new charge or move
for a person) in ``[previous drop, D)``, again in its state at ``D``.

Files follow the contract exactly: the three tables, their columns in
order, UTF-8 CSV with RFC 4180 quoting (pyarrow quotes every text value),
empty field = null, dates ``YYYY-MM-DD``, timestamps ``YYYY-MM-DDTHH:MM:SS``
(or parquet with date32 / timestamp[ms] / int64 / string columns). gzip
output carries no timestamp, so the same seed gives the same bytes. Each
drop is written into a hidden folder and renamed into place after its
manifest, so a reader never sees half a drop.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from wmp_pipeline.contract import CONTRACT_VERSION, INJURY_LEVEL_VALUES, TABLE_SPECS, WEAPON_TYPE_VALUES
from wmp_pipeline.generator.charges import Charges
from wmp_pipeline.generator.crime_records import DAY, NEVER, CrimeTable
from wmp_pipeline.generator.geography import Geography
from wmp_pipeline.generator.people import Nominals

EPOCH = date(1970, 1, 1)
CSV_CHUNK_ROWS = 250_000


@dataclass(frozen=True)
class DropSpec:
    extract_date: date
    extract_type: str          # full | delta
    since: date | None         # previous drop date (deltas)

    @property
    def cutoff_s(self) -> int:
        return (self.extract_date - EPOCH).days * DAY

    @property
    def since_s(self) -> int:
        return (self.since - EPOCH).days * DAY if self.since else 0


def plan_drops(end: date, delta_weeks: int) -> list[DropSpec]:
    """The full extract ``delta_weeks`` weeks before ``end``, then one delta every Monday."""
    full = end - timedelta(weeks=delta_weeks)
    out = [DropSpec(full, "full", None)]
    for k in range(1, delta_weeks + 1):
        d = full + timedelta(weeks=k)
        out.append(DropSpec(d, "delta", d - timedelta(weeks=1)))
    return out


def _ts(seconds: np.ndarray) -> np.ndarray:
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")


def _in(times: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return (times >= lo) & (times < hi)


def _latest_before(cutoff: int, *times: np.ndarray) -> np.ndarray:
    out = np.full(len(times[0]), np.iinfo(np.int64).min, dtype=np.int64)
    for t in times:
        out = np.maximum(out, np.where(t < cutoff, t, np.iinfo(np.int64).min))
    return out


# --- record states --------------------------------------------------------------


def crimes_rows(c: CrimeTable, spec: DropSpec, covers_s: int) -> np.ndarray:
    d = spec.cutoff_s
    if spec.extract_type == "full":
        return np.flatnonzero((c.recorded_at >= covers_s) & (c.recorded_at < d) & (c.delete_at >= d))
    lo = spec.since_s
    touched = _in(c.recorded_at, lo, d) | _in(c.reclass_at, lo, d) | _in(c.relocate_at, lo, d)
    touched |= _in(c.cancel_at, lo, d) | _in(c.delete_at, lo, d)
    return np.flatnonzero(touched & (c.recorded_at < d))


def crimes_table(c: CrimeTable, rows: np.ndarray, spec: DropSpec, geo: Geography, ref_description: dict) -> dict:
    d = spec.cutoff_s
    reclassified = c.reclass_at[rows] < d
    code = np.where(reclassified, c.code[rows], c.initial_code[rows])
    moved = c.relocate_at[rows] < d
    has = c.has_coords[rows]
    east = np.where(moved, c.easting[rows], c.initial_easting[rows])
    north = np.where(moved, c.northing[rows], c.initial_northing[rows])
    lsoa = np.where(moved, c.lsoa[rows], c.initial_lsoa[rows])
    status = np.where(c.delete_at[rows] < d, "deleted", np.where(c.cancel_at[rows] < d, "cancelled", "active"))
    last_mod = _latest_before(d, c.recorded_at[rows], c.reclass_at[rows], c.relocate_at[rows], c.cancel_at[rows], c.delete_at[rows])
    codes = c.code_list[code]
    desc_lookup = np.array([ref_description.get(x, "Other offence (legacy code)") for x in c.code_list], dtype=object)
    desc = desc_lookup[code]
    desc[c.description_null[rows]] = None
    committed_to = c.committed_to[rows]
    return {
        "crime_id": ("string", c.crime_id[rows], None),
        "offence_code": ("string", codes, None),
        "offence_description": ("string", desc, None),
        "recorded_at": ("timestamp", c.recorded_at[rows], None),
        "committed_from": ("timestamp", c.committed_from[rows], None),
        "committed_to": ("timestamp", committed_to, committed_to == NEVER),
        "easting": ("integer", east, ~has),
        "northing": ("integer", north, ~has),
        "lsoa_code": ("string", np.where(lsoa >= 0, geo.lsoa_codes[np.maximum(lsoa, 0)], None), None),
        "weapon_type": ("string", np.array(WEAPON_TYPE_VALUES, dtype=object)[c.weapon_type[rows]], None),
        "weapon_used": ("string", np.where(c.weapon_used[rows], "Y", "N"), None),
        "injury_level": ("string", np.array(INJURY_LEVEL_VALUES, dtype=object)[c.injury_level[rows]], None),
        "last_modified": ("timestamp", last_mod, None),
        "record_status": ("string", status, None),
    }


def _person_charge_touch(nom_of_uid: np.ndarray, ch: Charges, n_persons: int, lo: int, hi: int) -> np.ndarray:
    """Latest charge creation in [lo, hi) per person (int64 min if none)."""
    sel = _in(ch.created_at, lo, hi)
    out = np.full(n_persons, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(out, nom_of_uid[ch.pool_uid[sel]], ch.created_at[sel])
    return out


def persons_rows_and_touch(nom: Nominals, ch: Charges, nom_of_uid: np.ndarray, spec: DropSpec, covers_s: int):
    d = spec.cutoff_s
    n = len(nom)
    charge_touch = _person_charge_touch(nom_of_uid, ch, n, 0, d)
    last_mod = np.maximum(
        _latest_before(d, nom.created_at, nom.move1_at, nom.move2_at, nom.deleted_at), charge_touch
    )
    exists = nom.created_at < d
    if spec.extract_type == "full":
        rows = np.flatnonzero(exists & (nom.deleted_at >= d) & (last_mod >= covers_s))
    else:
        lo = spec.since_s
        touched = _in(nom.created_at, lo, d) | _in(nom.move1_at, lo, d) | _in(nom.move2_at, lo, d) | _in(nom.deleted_at, lo, d)
        touched |= _person_charge_touch(nom_of_uid, ch, n, lo, d) >= lo
        rows = np.flatnonzero(touched & exists)
    return rows, last_mod


def persons_table(nom: Nominals, rows: np.ndarray, last_mod: np.ndarray, spec: DropSpec, geo: Geography) -> dict:
    d = spec.cutoff_s
    home = np.where(nom.move2_at[rows] < d, nom.lsoa2[rows], np.where(nom.move1_at[rows] < d, nom.lsoa1[rows], nom.lsoa0[rows]))
    dob = nom.dob_day[rows]
    return {
        "person_id": ("string", nom.person_id[rows], None),
        "date_of_birth": ("date", dob, dob < 0),
        "sex": ("string", nom.sex[rows], None),
        "self_defined_ethnicity": ("string", nom.ethnicity[rows], None),
        "home_lsoa_code": ("string", geo.lsoa_codes[home], None),
        "last_modified": ("timestamp", last_mod[rows], None),
        "record_status": ("string", np.where(nom.deleted_at[rows] < d, "deleted", "active"), None),
    }


def charges_rows(ch: Charges, spec: DropSpec, covers_day: int) -> np.ndarray:
    d = spec.cutoff_s
    if spec.extract_type == "full":
        return np.flatnonzero((ch.charge_day >= covers_day) & (ch.created_at < d) & (ch.deleted_at >= d))
    lo = spec.since_s
    return np.flatnonzero(_in(ch.created_at, lo, d) | _in(ch.deleted_at, lo, d))


def charges_table(
    ch: Charges, rows: np.ndarray, spec: DropSpec, crimes: CrimeTable, covers_s: int,
    person_id_of_uid: np.ndarray, ref_codes: tuple[str, ...],
) -> dict:
    d = spec.cutoff_s
    crime = ch.crime[rows]
    has_crime = (crime >= 0) & (crimes.recorded_at[np.maximum(crime, 0)] >= covers_s)
    deleted = ch.deleted_at[rows] < d
    return {
        "charge_id": ("string", ch.charge_id[rows], None),
        "person_id": ("string", person_id_of_uid[ch.pool_uid[rows]], None),
        "crime_id": ("string", np.where(has_crime, crimes.crime_id[np.maximum(crime, 0)], None), None),
        "charge_date": ("date", ch.charge_day[rows], None),
        "offence_code": ("string", np.array(ref_codes, dtype=object)[ch.code[rows]], None),
        "last_modified": ("timestamp", np.where(deleted, ch.deleted_at[rows], ch.created_at[rows]), None),
        "record_status": ("string", np.where(deleted, "deleted", "active"), None),
    }


# --- writing --------------------------------------------------------------------


def _arrow_column(kind: str, values: np.ndarray, null: np.ndarray | None, fmt: str) -> pa.Array:
    mask = None if null is None else np.asarray(null, dtype=bool)
    if kind == "string":
        return pa.array(values, type=pa.string(), from_pandas=True)
    if kind == "integer":
        return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask)
    if kind == "date":
        return pa.array(np.asarray(values, dtype=np.int64).astype("datetime64[D]"), type=pa.date32(), mask=mask)
    if kind == "timestamp":
        ts = _ts(np.where(mask, 0, values) if mask is not None else values)
        if fmt == "parquet":  # parquet has no second unit: milliseconds, whole seconds
            return pa.array(ts.astype("datetime64[ms]"), type=pa.timestamp("ms"), mask=mask)
        return pa.array(np.datetime_as_string(ts, unit="s"), type=pa.string(), mask=mask)
    raise ValueError(kind)


def to_arrow(table_name: str, cols: dict, order: np.ndarray, fmt: str) -> pa.Table:
    spec = TABLE_SPECS[table_name]
    if list(cols) != spec.column_names:
        raise AssertionError(f"{table_name}: columns {list(cols)} differ from the contract")
    arrays = []
    for name in spec.column_names:
        kind, values, null = cols[name]
        values = np.asarray(values)[order]
        null = None if null is None else np.asarray(null)[order]
        arrays.append(_arrow_column(kind, values, null, fmt))
    return pa.Table.from_arrays(arrays, names=spec.column_names)


def with_duplicates(n_rows: int, share: float, key_order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row order (sorted by key) with a few rows repeated right after themselves."""
    k = rng.binomial(n_rows, share) if n_rows else 0
    reps = np.ones(n_rows, dtype=np.int64)
    if k:
        reps[rng.choice(n_rows, size=k, replace=False)] = 2
    return np.repeat(key_order, reps[key_order])


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
        return
    with open(path, "wb") as raw:
        sink = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) if fmt == "csv.gz" else raw
        try:
            for lo in range(0, max(table.num_rows, 1), CSV_CHUNK_ROWS):
                buf = pa.BufferOutputStream()
                part = table.slice(lo, CSV_CHUNK_ROWS)
                pacsv.write_csv(part, buf, write_options=pacsv.WriteOptions(include_header=(lo == 0), quoting_style="needed"))
                sink.write(buf.getvalue().to_pybytes())
        finally:
            if sink is not raw:
                sink.close()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_drop(connect_dir: Path, spec: DropSpec, covers_from: date, tables: dict[str, pa.Table], fmt: str) -> dict:
    """Write one drop atomically; returns its manifest."""
    name = spec.extract_date.isoformat()
    final = connect_dir / name
    tmp = connect_dir / f".{name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files = {}
    for table_name in ("persons", "crimes", "charges"):
        file_name = f"{table_name}.{fmt}"
        path = tmp / file_name
        write_table(tables[table_name], path, fmt)
        files[file_name] = {"rows": int(tables[table_name].num_rows), "sha256": sha256_of(path)}
    manifest = {
        "contract_version": CONTRACT_VERSION,
        "extract_date": name,
        "extract_type": spec.extract_type,
        "covers_from": covers_from.isoformat(),
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return manifest
