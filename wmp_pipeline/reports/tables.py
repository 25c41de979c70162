"""Tolerant reads of the working database for the reports.

The reports are the last step of the weekly run and read tables that other
assets write. A table that is missing this week (a step that was skipped or
failed, a first run) must give the reader a plain "not available this week"
note, never a crash, so every read here goes through :func:`table_exists`
and :func:`table_columns` first.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from wmp_pipeline.warehouse import split_name, table_columns, table_exists

__all__ = ["Unavailable", "missing_columns", "query", "require", "split_name", "table_columns", "table_exists"]


@dataclass(frozen=True)
class Unavailable:
    """Why a report section cannot be shown this week (said to the reader as is)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


def missing_columns(con: duckdb.DuckDBPyConnection, name: str, needed: list[str] | tuple[str, ...]) -> list[str]:
    have = set(table_columns(con, name))
    return [c for c in needed if c not in have]


def require(con: duckdb.DuckDBPyConnection, name: str, needed: list[str] | tuple[str, ...] = ()) -> Unavailable | None:
    """``None`` when ``name`` exists with the ``needed`` columns, else why not."""
    if not table_exists(con, name):
        return Unavailable(f"Not available this week: the table {name} has not been built.")
    missing = missing_columns(con, name, needed)
    if missing:
        return Unavailable(f"Not available this week: the table {name} lacks the columns {', '.join(missing)}.")
    return None


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def quote(name: str) -> str:
    """Quote a (possibly schema-qualified) identifier."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))
