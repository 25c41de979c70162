"""Reading one drop's rows of ``raw.connect_<table>`` from DuckDB for a suite run.

Only the columns the suite names plus lineage are read. A drop larger than
``max_rows`` is sampled by key hash, and every row whose key is null or
repeated is added back, so the blocking key rules (not null, unique) stay
exact while the other rates are estimated; the note returned says so.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd

from wmp_pipeline.contract import TABLE_SPECS
from wmp_pipeline.quality.gx.results import DropInfo

#: Above this many rows in a drop, the suite runs on a key-hash sample.
DEFAULT_MAX_ROWS = 500_000
#: Lineage columns read with every suite so a failing row can be found in its file.
LINEAGE_COLUMNS = ("_drop_id", "_file_name", "_row_number")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def latest_drop(con: duckdb.DuckDBPyConnection, table: str | None = None) -> DropInfo | None:
    """The newest applied drop: from ``raw.connect_drop_log``, else from the table's own lineage."""
    if _table_columns(con, "raw", "connect_drop_log"):
        row = con.execute(
            "select drop_id, extract_date, extract_type from raw.connect_drop_log order by extract_date desc, drop_id desc limit 1"
        ).fetchone()
        if row:
            return DropInfo(row[0], row[1], row[2])
    if table and {"_drop_id", "_extract_date", "_extract_type"} <= set(_table_columns(con, "raw", f"connect_{table}")):
        row = con.execute(
            f"select _drop_id, _extract_date, _extract_type from raw.connect_{table} order by _extract_date desc limit 1"
        ).fetchone()
        if row:
            return DropInfo(row[0], row[1], row[2])
    return None


def _vectorisable(df: pd.DataFrame) -> pd.DataFrame:
    """Widen dtypes so GX's range checks run vectorised.

    DuckDB hands DATE / TIMESTAMP over as ``datetime64[us]`` and INTEGER as
    ``int32``; GX compares only ``datetime64[ns]``, ``int64`` and ``float64``
    columns vectorised (anything else goes through a per-value Python function,
    about 10x slower). Widening keeps the type family the suites check. Values
    outside the nanosecond range (before 1677 or after 2262) keep their unit.
    """
    for col in df.columns:
        dtype = df[col].dtype
        if isinstance(dtype, np.dtype) and np.issubdtype(dtype, np.signedinteger) and dtype != np.int64:
            df[col] = df[col].astype(np.int64)
        elif pd.api.types.is_datetime64_dtype(dtype) and str(dtype) != "datetime64[ns]":
            try:
                df[col] = df[col].astype("datetime64[ns]")
            except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
                pass
    return df


def read_drop_rows(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], drop_id: str, max_rows: int = DEFAULT_MAX_ROWS
) -> tuple[pd.DataFrame, int, str]:
    """The rows of one drop in ``raw.connect_<table>``: (frame, rows in the drop, sampling note).

    Only ``columns`` that exist are read (a missing one is reported by the
    suite's ``expect_column_to_exist``). Above ``max_rows``, a deterministic
    sample by key hash is taken, plus every row whose key is null or repeated.
    """
    spec = TABLE_SPECS[table]
    relation = f"raw.connect_{table}"
    present = set(_table_columns(con, "raw", f"connect_{table}"))
    wanted = [c for c in dict.fromkeys([*LINEAGE_COLUMNS, spec.key, *columns]) if c in present]
    if not wanted:
        return pd.DataFrame(), 0, ""
    total = con.execute(f"select count(*) from {relation} where _drop_id = ?", [drop_id]).fetchone()[0]
    select = ", ".join(_q(c) for c in wanted)
    order = " order by _file_name, _row_number" if {"_file_name", "_row_number"} <= present else ""
    if total <= max_rows or spec.key not in present:
        df = con.execute(f"select {select} from {relation} where _drop_id = ?{order}", [drop_id]).df()
        return _vectorisable(df.reset_index(drop=True)), total, ""
    modulus = math.ceil(total / max_rows)
    key = _q(spec.key)
    df = con.execute(
        f"""
        with d as (
            select {select}, count(*) over (partition by {key}) as _n_key
            from {relation} where _drop_id = ?
        )
        select {select} from d
        where {key} is null or _n_key > 1 or hash({key}) % {modulus} = 0
        {order}""",
        [drop_id],
    ).df()
    note = (
        f"sampled {len(df):,} of {total:,} rows (1 in {modulus} keys by hash, plus every row with a null or repeated "
        f"{spec.key}): key checks are exact, other counts and percentages are estimates from the sample"
    )
    return _vectorisable(df.reset_index(drop=True)), total, note
