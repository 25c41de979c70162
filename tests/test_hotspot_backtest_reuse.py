"""Scoring-only weeks reuse the stored hotspot backtest; retraining weeks rerun it.

The hotspot models retrain every ``retrain_every_weeks``; the backtest
follows the same cadence, judged on the models saved before the week (so it
does not matter whether hotspot_models or hotspot_backtest runs first).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import materialize

from tests.hotspot_data import asset_resources, int_crimes_frame, synthetic_events
from wmp_pipeline.defs.hotspot import assets as hotspot_assets
from wmp_pipeline.defs.partitions import default_force_week, partition_for_forecast_date

START = pd.Timestamp("2022-01-03")
WEEKS = 110
FIRST = (START + timedelta(weeks=100)).date()
RUN_CONFIG = {
    "ops": {
        "hotspot_panel": {"config": {"backtest_weeks": 6, "train_weeks": 20}},
        "hotspot_backtest": {"config": {"refit_every_weeks": 6}},
    }
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hotspot_backtest_reuse")
    events = synthetic_events(weeks=WEEKS, start=START.date())
    crimes = int_crimes_frame(events)
    con = duckdb.connect(str(root / "wmp.duckdb"))
    con.register("crimes_df", crimes)
    con.execute("CREATE TABLE int_crimes__classified AS SELECT * FROM crimes_df")
    con.close()
    (root / "truth").mkdir()  # no generator truth: no ceiling
    assert materialize([hotspot_assets.hotspot_cells], resources=asset_resources(root), partition_key=default_force_week(partition_for_forecast_date(FIRST))).success
    return root


def _week(root: Path, weeks_after_first: int, names: tuple[str, ...], run_config: dict = RUN_CONFIG) -> dict:
    """Materialise ``names`` for the forecast week ``FIRST + weeks_after_first``; metadata by asset name."""
    forecast = FIRST + timedelta(weeks=weeks_after_first)
    result = materialize(
        hotspot_assets.assets,
        partition_key=default_force_week(partition_for_forecast_date(forecast)),
        resources=asset_resources(root),
        run_config={"ops": {k: v for k, v in run_config["ops"].items() if k in names}},
        selection=[a.key for a in hotspot_assets.assets if a.key.path[0] in names],
    )
    assert result.success
    return {
        name: {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}
        for name in names
    }


def _runs(root: Path) -> list[str]:
    with duckdb.connect(str(root / "wmp.duckdb"), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT DISTINCT run_id FROM hotspot_backtest_metrics ORDER BY 1").fetchall()]


def test_backtest_reruns_only_in_retraining_weeks(root):
    both = ("hotspot_panel", "hotspot_models", "hotspot_backtest")

    # week 0: no model, no backtest: both run
    first = _week(root, 0, both)
    assert first["hotspot_models"]["retrained"] == 2
    assert first["hotspot_backtest"]["reused"] is False
    assert _runs(root) == [first["hotspot_backtest"]["run_id"]]

    # week 1: models a week old (cadence 4): the week-0 backtest is reused, no rows written
    second = _week(root, 1, both)
    assert second["hotspot_models"]["retrained"] == 0
    reused = second["hotspot_backtest"]
    assert reused["reused"] is True
    assert reused["run_id"] == first["hotspot_backtest"]["run_id"]
    assert reused["reused_backtest_of"] == FIRST.isoformat()
    assert "no retraining due" in reused["why"]
    assert reused["origins"] == first["hotspot_backtest"]["origins"]
    assert reused["summary"] == first["hotspot_backtest"]["summary"]
    assert _runs(root) == [first["hotspot_backtest"]["run_id"]]

    # week 1 again with another refit cadence: the configuration changed, the backtest reruns
    changed = {"ops": {**RUN_CONFIG["ops"], "hotspot_backtest": {"config": {"refit_every_weeks": 3}}}}
    rerun = _week(root, 1, ("hotspot_backtest",), changed)["hotspot_backtest"]
    assert rerun["reused"] is False and "configuration changed" in rerun["why"]
    assert len(_runs(root)) == 2

    # week 4: retraining is due. The models run first (in their own run) and retrain;
    # the backtest, judged on the models saved before this week, reruns all the same.
    _week(root, 4, ("hotspot_panel",))
    fourth_models = _week(root, 4, ("hotspot_models",))["hotspot_models"]
    assert fourth_models["retrained"] == 2
    fourth = _week(root, 4, ("hotspot_backtest",))["hotspot_backtest"]
    assert fourth["reused"] is False and "retrain this week" in fourth["why"]
    assert len(_runs(root)) == 3

    # re-running week 4 finds its own stored backtest
    again = _week(root, 4, ("hotspot_backtest",))["hotspot_backtest"]
    assert again["reused"] is True and again["run_id"] == fourth["run_id"]


def test_backtest_can_be_forced(root):
    _week(root, 2, ("hotspot_panel",))
    forced = {"ops": {**RUN_CONFIG["ops"], "hotspot_backtest": {"config": {"refit_every_weeks": 6, "force_rerun": True}}}}
    meta = _week(root, 2, ("hotspot_backtest",), forced)["hotspot_backtest"]
    assert meta["reused"] is False and meta["why"] == "forced"
