"""The national analyst catalogue: built from every force's analyst file, marking failed forces.

The forces' files are the analyst file the ``tiny_run`` fixture publishes
(the whole weekly job on the tiny preset), served as two CONNECT forces,
plus a police.uk-shaped force; one force failed and one never published.
The cross-force queries of the README and docs/forces.md run on the result.
"""

from __future__ import annotations

import os
import shutil
import stat

import duckdb
import pandas as pd
import pytest

from tests.test_readme_queries import _BLOCK, section_text
from wmp_pipeline.catalogue import FORCES_TABLE, ForceStatus, build_catalogue
from wmp_pipeline.privacy.file_permissions import ANALYST_FILE_MODE
from wmp_pipeline.settings import PROJECT_ROOT

SECTION = "Querying every force at once"


def _policeuk_analyst_file(path):
    """A police.uk force's analyst file: predictions and backtest rows in the shapes its run writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        preds = pd.DataFrame({
            "target": ["robbery"] * 3, "forecast_week": pd.to_datetime(["2021-10-01"] * 3).date,
            "cell_id": ["250m_1_1", "250m_1_2", "250m_1_3"], "predicted_count": [2.5, 1.5, 0.5],
            "prob_at_least_one": [0.9, 0.7, 0.4], "rank": [1, 2, 3], "in_top_n": [True, False, False],
            "model_version": ["m1"] * 3,
        })
        metrics = pd.DataFrame({
            "run_id": ["r1"] * 2, "force_slug": ["city-of-london"] * 2, "scope": ["overall"] * 2,
            "target": ["robbery"] * 2, "model": ["xgboost_poisson", "last_12_periods"], "forecast_month": [None, None],
            "area_share": [0.05, 0.05], "hits": [40, 30], "n_crimes": [100, 100], "hit_rate": [0.4, 0.3],
            "pai": [8.0, 6.0], "n_outside_area": [0, 0], "config_fingerprint": ["f"] * 2,
            "created_at": pd.to_datetime(["2021-10-04"] * 2),
        })
        con.execute("CREATE TABLE hotspot_predictions AS SELECT * FROM preds")
        con.execute("CREATE TABLE policeuk_backtest_metrics AS SELECT * FROM metrics")


@pytest.fixture(scope="module")
def catalogue(tiny_run, tmp_path_factory):
    assert tiny_run.result.success
    root = tmp_path_factory.mktemp("catalogue")
    a = tiny_run.settings.analyst_db_path
    b = root / "b" / "wmp_analyst.duckdb"
    b.parent.mkdir()
    shutil.copy(a, b)
    c = root / "c" / "wmp_analyst.duckdb"
    _policeuk_analyst_file(c)
    failed = root / "d" / "wmp_analyst.duckdb"
    shutil.copy(a, failed.parent.mkdir() or failed)  # an older file of a force whose latest run failed
    forces = [
        ForceStatus("force-a", "Force A", "connect", a, run_status="ok"),
        ForceStatus("force-b", "Force B", "connect", b, run_status="ok"),
        ForceStatus("city-of-london", "City of London Police", "policeuk", c, run_status="ok"),
        ForceStatus("force-d", "Force D", "connect", failed, run_status="failed", detail="connect_drops: landing folder missing"),
        ForceStatus("force-e", "Force E", "connect", root / "e" / "wmp_analyst.duckdb"),
    ]
    path = root / "analyst" / "national_catalogue.duckdb"
    path.parent.mkdir()
    path.write_bytes(b"the previous catalogue")
    return build_catalogue(path, forces), path


def test_catalogue_unions_forces_with_a_force_column_and_marks_the_others(catalogue):
    result, path = catalogue
    assert result.path == path and stat.S_IMODE(os.stat(path).st_mode) == ANALYST_FILE_MODE
    assert not list(path.parent.glob(".*.tmp*"))  # swapped in whole, nothing staged left behind
    with duckdb.connect(str(path), read_only=True) as con:
        status = con.execute(f"SELECT force, status, detail FROM {FORCES_TABLE} ORDER BY force").df()
        assert dict(zip(status["force"], status["status"], strict=True)) == {
            "city-of-london": "ok", "force-a": "ok", "force-b": "ok", "force-d": "failed", "force-e": "no output",
        }
        assert "landing folder missing" in status.set_index("force").loc["force-d", "detail"]
        forces = {r[0] for r in con.execute("SELECT DISTINCT force FROM hotspot_predictions").fetchall()}
        assert forces == {"force-a", "force-b", "city-of-london"}  # the failed force's old rows are left out
        assert {r[0] for r in con.execute("SELECT DISTINCT force FROM iom_risk_scores").fetchall()} == {"force-a", "force-b"}
        per_force = con.execute("SELECT force, count(*) FROM iom_risk_scores GROUP BY force").fetchall()
        assert len({n for _, n in per_force}) == 1  # the same file twice: same rows, each under its force
        rates = con.execute("SELECT DISTINCT force, source FROM hotspot_hit_rates").fetchall()
        assert set(rates) == {("force-a", "connect"), ("force-b", "connect"), ("city-of-london", "policeuk")}
        columns = [r[0] for r in con.execute("DESCRIBE hotspot_predictions").fetchall()]
        assert columns[0] == "force"
    assert set(result.failed) == {"force-d", "force-e"}


def _examples() -> list:
    out = []
    for path in (PROJECT_ROOT / "README.md", PROJECT_ROOT / "docs" / "forces.md"):
        body = section_text(path.read_text(encoding="utf-8"), SECTION) if path.exists() else None
        for i, m in enumerate(_BLOCK.finditer(body or ""), start=1):
            if m.group(1) == "sql":
                out.append(pytest.param(m.group(2), id=f"{path.name}-{i}"))
    return out


EXAMPLES = _examples()


def test_readme_and_forces_guide_have_cross_force_queries():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("code", EXAMPLES)
def test_cross_force_example_runs_and_answers_for_several_forces(code, catalogue):
    _, path = catalogue
    with duckdb.connect(str(path), read_only=True) as con:
        for statement in [s for s in code.split(";") if s.strip()]:
            rows = con.execute(statement).df()
            assert not rows.empty, statement
            if "force" in rows.columns:
                assert rows["force"].nunique() >= 2, statement
