"""Rules of the dbt project that a reviewer would otherwise check by eye (read from the parsed manifest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wmp_pipeline.defs.project import dbt_project
from wmp_pipeline.settings import DBT_PROJECT_DIR


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(Path(dbt_project.manifest_path).read_text())


def _models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_model_has_a_unit_test(manifest):
    tested = {t["model"] for t in manifest["unit_tests"].values()}
    assert {m["name"] for m in _models(manifest)} <= tested


def test_marts_are_named_after_their_folder(manifest):
    """The one naming rule for marts: ``mart_<entity>`` at the top of models/marts/,
    ``<domain>_<entity>`` in models/marts/<domain>/ (e.g. iom_offender_week)."""
    marts = [m for m in _models(manifest) if m["fqn"][1] == "marts"]
    assert marts
    for m in marts:
        folder = m["fqn"][2] if len(m["fqn"]) > 3 else "mart"
        assert m["name"].startswith(f"{folder}_"), m["original_file_path"]


def test_raw_sources_say_when_rows_were_loaded(manifest):
    for source in manifest["sources"].values():
        assert source["config"].get("loaded_at_field"), source["unique_id"]
    connect = [s for s in manifest["sources"].values() if s["source_name"] == "connect" and s["name"] != "connect_quarantine"]
    assert connect and all(s["config"]["freshness"]["error_after"]["count"] for s in connect)


@pytest.mark.slow
def test_connect_sources_are_fresh_after_a_load(tiny_pipeline, tmp_path):
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "WMP_DUCKDB_PATH": str(tiny_pipeline.duckdb_path), "DBT_TARGET_PATH": str(tmp_path / "target")}
    proc = subprocess.run(
        [str(dbt), "source", "freshness", "--select", "source:connect"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "PASS" in proc.stdout
