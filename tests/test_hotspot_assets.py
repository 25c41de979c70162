"""The hotspot assets materialise in-process on a small warehouse and pass their checks."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import materialize

from tests.hotspot_data import asset_resources, int_crimes_frame, forecast_truth_frame, synthetic_events
from wmp_pipeline.defs.hotspot import assets as hotspot_assets
from wmp_pipeline.defs.partitions import default_force_week, partition_for_forecast_date
from wmp_pipeline.hotspot.connect_source import CONNECT_SIGNALS, FORECAST_TRUTH_FILE, events_sql

START = pd.Timestamp("2022-01-03")
WEEKS = 120


@pytest.fixture(scope="module")
def warehouse_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hotspot_assets")
    db = root / "wmp.duckdb"
    con = duckdb.connect(str(db))
    crimes = int_crimes_frame(synthetic_events(weeks=WEEKS, start=START.date()))
    con.register("crimes_df", crimes)
    con.execute("CREATE TABLE int_crimes__classified AS SELECT * FROM crimes_df")
    con.close()
    truth = forecast_truth_frame(weeks=WEEKS, start=START.date()).rename(
        columns={"period_start": "forecast_date", "window_periods": "horizon_weeks"}
    )
    (root / "truth").mkdir()
    truth.to_parquet(root / "truth" / FORECAST_TRUTH_FILE)
    return root


def test_events_sql_shapes_int_crimes_as_engine_events(warehouse_dir):
    con = duckdb.connect(str(warehouse_dir / "wmp.duckdb"), read_only=True)
    df = con.execute(events_sql() + " LIMIT 5").df()
    con.close()
    assert {"event_id", "easting", "northing", "event_time", "known_time", *CONNECT_SIGNALS} <= set(df.columns)


def test_weekly_hotspot_assets_materialise_with_passing_checks(warehouse_dir):
    forecast = (START + timedelta(weeks=WEEKS)).date()
    partition = partition_for_forecast_date(forecast)
    run_config = {
        "ops": {
            "hotspot_panel": {"config": {"backtest_weeks": 8, "train_weeks": 24}},
            "hotspot_backtest": {"config": {"refit_every_weeks": 4}},
        }
    }
    cells = materialize([hotspot_assets.hotspot_cells], resources=asset_resources(warehouse_dir), partition_key=default_force_week(partition))
    assert cells.success
    result = materialize(
        hotspot_assets.assets,
        partition_key=default_force_week(partition),
        resources=asset_resources(warehouse_dir),
        run_config=run_config,
        selection=[a.key for a in hotspot_assets.assets if a.key.path[0] != "hotspot_cells"],
    )
    assert result.success
    checks = [e for e in result.get_asset_check_evaluations()]
    assert checks and all(c.passed for c in checks), [(c.check_name, c.passed) for c in checks]

    con = duckdb.connect(str(warehouse_dir / "wmp.duckdb"), read_only=True)
    preds = con.execute("SELECT * FROM hotspot_predictions").df()
    n_cells = con.execute("SELECT count(*) FROM hotspot_cells WHERE in_force_area").fetchall()[0][0]
    metrics = con.execute("SELECT * FROM hotspot_backtest_metrics").df()
    con.close()
    assert len(preds) == 2 * n_cells
    assert (pd.to_datetime(preds["forecast_week"]).dt.date == forecast).all()
    assert set(metrics["model"]) >= {"xgboost_poisson", "ceiling", "prospective_hotspot"}
    assert set(metrics["scope"]) == {"origin", "overall"}
    maps = list((warehouse_dir / "artifacts" / "maps").iterdir())
    assert any(p.suffix == ".png" for p in maps) and sum(p.suffix == ".geojson" for p in maps) == 2
    models = list((warehouse_dir / "artifacts" / "models" / "hotspot").glob("*.ubj"))
    assert len(models) == 2

    materialised = result.asset_materializations_for_node("hotspot_predictions")[0]
    assert materialised.metadata["map"].value.startswith("![top hotspot cells](data:image/png;base64,")
    assert os.path.exists(materialised.metadata["map_png"].value)


def test_scoring_refuses_a_panel_of_another_week(warehouse_dir):
    from wmp_pipeline.hotspot import runner

    con = duckdb.connect(str(warehouse_dir / "wmp.duckdb"))
    try:
        with pytest.raises(LookupError, match="materialise hotspot_panel"):
            runner.panel_for(con, (START + timedelta(weeks=WEEKS - 1)).date())
    finally:
        con.close()


def test_hotspot_steps_on_the_tiny_pipeline(tiny_pipeline, tmp_path):
    """The real int_crimes__classified of the tiny preset: cells, panel, backtest with the
    generator's truth, models and the analyst table (on a copy of the warehouse)."""
    import shutil

    from wmp_pipeline.hotspot import runner
    from wmp_pipeline.hotspot.config import HotspotConfig
    from wmp_pipeline.hotspot.connect_source import load_truth

    db = tmp_path / "wmp.duckdb"
    shutil.copy(tiny_pipeline.duckdb_path, db)
    cfg = HotspotConfig.weekly(backtest_periods=8, train_periods=26, refit_every=4)
    con = duckdb.connect(str(db))
    try:
        cells = runner.build_cells_table(con, cfg)
        info = runner.build_panel_table(con, cfg, tiny_pipeline.forecast_date)
        assert info.n_units == int(cells["in_force_area"].sum())
        known = info.event_counts["knife_injury_known"]
        assert known > 0 and info.event_counts["known_before_forecast"] > known
        truth = load_truth(tiny_pipeline.truth_dir)
        assert truth is not None
        # the generator's cell ids are the engine's
        assert truth["cell_id"].isin(set(cells["cell_id"])).mean() > 0.9
        result, rows = runner.run_backtest_table(con, tiny_pipeline.forecast_date, truth=truth)
        assert {"ceiling", "xgboost_poisson"} <= set(rows["model"])
        assert rows["hit_rate"].dropna().between(0, 1).all()
        runner.train_or_reuse_models(con, tiny_pipeline.forecast_date, tmp_path / "artifacts")
        table, paths = runner.score_week(con, tiny_pipeline.forecast_date, tmp_path / "artifacts")
    finally:
        con.close()
    assert len(table) == 2 * info.n_units
    assert table["predicted_count"].notna().all()
    assert paths["png"].exists()
