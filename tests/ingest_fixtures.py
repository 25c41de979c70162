"""Fixtures shared by the ingest tests: an empty landing folder and a working DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest


@pytest.fixture
def connect_dir(tmp_path: Path) -> Path:
    d = tmp_path / "landing" / "connect"
    d.mkdir(parents=True)
    return d


@pytest.fixture
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "wh.duckdb"))
    yield c
    c.close()
