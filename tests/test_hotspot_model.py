"""Training rows, labels as known at the fit date, model files, and the backtest."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.hotspot_data import forecast_truth_frame, synthetic_events, truth_frame
from wmp_pipeline.hotspot import engine
from wmp_pipeline.hotspot.backtest import backtest_origins, refit_schedule
from wmp_pipeline.hotspot.model import newest_model, training_frame, training_periods
from wmp_pipeline.hotspot.periods import period_index
from wmp_pipeline.hotspot.predictions import prob_at_least_one, top_n

START = date(2022, 1, 3)
WEEKS = 130
FORECAST = START + timedelta(weeks=WEEKS)


@pytest.fixture(scope="module")
def built():
    con = duckdb.connect()
    cfg = engine.HotspotConfig.weekly(backtest_periods=12, train_periods=30, refit_every=6)
    events = engine.prepare_events(con, synthetic_events(weeks=WEEKS, start=START))
    cells = engine.build_cells(con, events, cfg)
    info = engine.build_panel(con, events, cells, cfg, FORECAST)
    return con, cfg, cells, info


def test_training_periods_end_a_horizon_before_the_fit_and_keep_the_stride(built):
    _, cfg, _, info = built
    F = info.as_of_period - 10
    periods = training_periods(cfg, F, info)
    assert max(periods) == F - cfg.horizon_periods
    assert np.all(np.diff(periods) == cfg.train_stride)
    assert min(periods) > F - cfg.horizon_periods - cfg.train_periods
    assert min(periods) >= info.first_period


def test_labels_only_count_crimes_recorded_before_the_fit_date():
    base = datetime(2023, 1, 2)
    rows = [
        # anchor events so the panel starts early
        dict(event_id="a", easting=400_100, northing=280_100, event_time=base, known_time=base, knife_injury=False, serious_violence=False),
        # happened in week 30, recorded in week 50 (late)
        dict(event_id="late", easting=400_100, northing=280_100, event_time=base + timedelta(weeks=30, days=1),
             known_time=base + timedelta(weeks=50, days=1), knife_injury=False, serious_violence=True),
        dict(event_id="prompt", easting=400_100, northing=280_100, event_time=base + timedelta(weeks=31, days=1),
             known_time=base + timedelta(weeks=31, days=2), knife_injury=False, serious_violence=True),
    ]
    con = duckdb.connect()
    cfg = engine.HotspotConfig.weekly(related=(), windows=(1, 4), baseline_windows=(1, 4), train_periods=40, train_stride=1,
                                      zero_history_keep=1.0, backtest_periods=2, footprint_buffer_m=250)
    events = engine.prepare_events(con, pd.DataFrame(rows))
    cells = engine.build_cells(con, events, cfg)
    info = engine.build_panel(con, events, cells, cfg, date(2023, 1, 2) + timedelta(weeks=60), first_date=date(2023, 1, 9))
    t0 = period_index(date(2023, 1, 2), "week")
    _, y_before, _ = training_frame(con, cfg, info, "serious_violence", t0 + 40)  # fit before the late record
    _, y_after, _ = training_frame(con, cfg, info, "serious_violence", t0 + 60)
    # each crime falls in 4 training windows (4-week targets, stride 1)
    assert y_before.sum() == 4
    assert y_after.sum() == 8


def test_zero_rows_are_sampled_and_weighted_back_up(built):
    con, cfg, _, info = built
    X_all, y_all, w_all = training_frame(con, cfg.replace(zero_history_keep=1.0, zero_label_keep=1.0), info,
                                         "serious_violence", info.as_of_period)
    assert np.all(w_all == 1.0)
    X, y, w = training_frame(con, cfg.replace(zero_history_keep=0.25, zero_label_keep=0.25), info,
                             "serious_violence", info.as_of_period)
    assert set(np.unique(w)) == {1.0, 4.0}
    assert np.all(w[y > 0] == 1.0)
    assert y.sum() == y_all.sum()  # every positive row kept
    n_zero = (y_all == 0).sum()
    assert abs((y == 0).sum() - 0.25 * n_zero) < 5 * np.sqrt(0.25 * 0.75 * n_zero)
    assert w.sum() == pytest.approx(len(y_all), rel=0.1)


def test_fit_save_load_and_newest_model(built, tmp_path):
    con, cfg, _, info = built
    m = engine.fit(con, cfg, info, "knife_injury", FORECAST - timedelta(weeks=8))
    later = engine.fit(con, cfg, info, "knife_injury")
    for model in (m, later):
        model.save(tmp_path)
    assert newest_model(tmp_path, "knife_injury", FORECAST).version == later.version
    assert newest_model(tmp_path, "knife_injury", FORECAST - timedelta(weeks=1)).version == m.version
    assert newest_model(tmp_path, "serious_violence", FORECAST) is None
    loaded = newest_model(tmp_path, "knife_injury", FORECAST)
    a = engine.predict(con, later, info)
    b = engine.predict(con, loaded, info)
    assert np.allclose(a["predicted_count"], b["predicted_count"])
    assert (a["predicted_count"] >= 0).all()
    with pytest.raises(ValueError, match="after the panel"):
        engine.fit(con, cfg, info, "knife_injury", FORECAST + timedelta(weeks=1))


def test_backtest_schedule():
    cfg = engine.HotspotConfig.weekly(backtest_periods=52, refit_every=13)
    origins = backtest_origins(cfg, 1000)
    assert origins[-1] == 1000 - 4 and len(origins) == 52
    schedule = refit_schedule(cfg, origins)
    assert len(set(schedule.values())) == 4
    assert all(f <= t for t, f in schedule.items())


def test_backtest_beats_recent_counts_and_stays_below_the_ceiling(built):
    con, cfg, _, info = built
    # the ceiling rows (4-week windows) and the weekly rows (for the diagnostic)
    truth = pd.concat([forecast_truth_frame(weeks=WEEKS, start=START),
                       truth_frame(weeks=WEEKS, start=START).assign(window_periods=1)], ignore_index=True)
    result = engine.run_backtest(con, cfg, info, truth=truth)
    per = result.per_origin
    assert per["t"].nunique() == cfg.backtest_periods
    assert set(per["model"]) == {"xgboost_poisson", "last_4_weeks", "last_52_weeks", "prospective_hotspot",
                                  engine.CEILING, engine.CEILING_SUMMED_WEEKLY}
    assert per["hit_rate"].between(0, 1).all()
    table = engine.summary_table(result.overall, (0.05,)).set_index(["target", "model"])
    for target in cfg.targets:
        model = table.loc[(target, "xgboost_poisson"), "hit_rate@5%"]
        assert model > table.loc[(target, "last_4_weeks"), "hit_rate@5%"]
        assert model < table.loc[(target, engine.CEILING), "hit_rate@5%"] + 0.05
        # without self-excitation the summed weekly truth is the expectation given the past
        assert table.loc[(target, engine.CEILING_SUMMED_WEEKLY), "hit_rate@5%"] == pytest.approx(
            table.loc[(target, engine.CEILING), "hit_rate@5%"])


def test_backtest_ceiling_needs_rows_of_the_horizon(built):
    """Weekly rows alone (window 1) give only the diagnostic, never the ceiling."""
    con, cfg, _, info = built
    weekly = truth_frame(weeks=WEEKS, start=START)
    result = engine.run_backtest(con, cfg, info, truth=weekly, targets=("knife_injury",))
    assert engine.CEILING not in set(result.per_origin["model"])
    assert engine.CEILING_SUMMED_WEEKLY in set(result.per_origin["model"])


def test_prediction_table_has_one_row_per_cell_and_target(built):
    con, cfg, cells, info = built
    models = {t: engine.fit(con, cfg, info, t) for t in cfg.targets}
    table = engine.predict_latest(con, cfg, info, cells, models)
    assert list(table.columns) == engine.PREDICTION_COLUMNS
    n = int(cells["in_force_area"].sum())
    assert (table.groupby("target")["cell_id"].nunique() == n).all()
    assert len(table) == n * len(cfg.targets)
    assert table["prob_at_least_one"].between(0, 1).all()
    assert (table.groupby("target")["in_top_n"].sum() == top_n(n, cfg)).all()
    first = table[table["rank"] == 1]
    assert (first["predicted_count"].to_numpy() == table.groupby("target")["predicted_count"].max().to_numpy()).all()
    assert (table["forecast_week"] == FORECAST).all()


def test_poisson_probability():
    assert prob_at_least_one([0.0, np.log(2.0)]) == pytest.approx([0.0, 0.5])


def test_config_round_trips_through_json():
    cfg = engine.HotspotConfig.monthly(targets=("violence",), related=("robbery",))
    again = engine.HotspotConfig.from_json(cfg.to_json())
    assert again == cfg and again.fingerprint() == cfg.fingerprint()
    with pytest.raises(ValueError):
        engine.HotspotConfig.weekly(period="day")


def test_a_monthly_source_runs_end_to_end():
    """The police.uk shape: month-stamped events, known the month after, other signal names."""
    ev = synthetic_events(weeks=160, start=START)
    month = pd.to_datetime(ev["event_time"]).dt.to_period("M")
    monthly = pd.DataFrame(
        {
            "event_id": ev["event_id"],
            "easting": ev["easting"],
            "northing": ev["northing"],
            "event_time": month.dt.start_time,
            "known_time": (month + 1).dt.start_time,
            "violence": ev["serious_violence"],
            "weapons": ev["weapon_possession"],
            "robbery": ev["robbery"],
        }
    )
    cfg = engine.HotspotConfig.monthly(targets=("violence",), related=("weapons", "robbery"), backtest_periods=6, train_periods=12)
    con = duckdb.connect()
    events = engine.prepare_events(con, monthly)
    cells = engine.build_cells(con, events, cfg)
    info = engine.build_panel(con, events, cells, cfg, date(2025, 1, 1))
    result = engine.run_backtest(con, cfg, info)
    assert result.per_origin["forecast_date"].nunique() == 6
    assert set(result.per_origin["model"]) == {"xgboost_poisson", "last_1_months", "last_12_months", "prospective_hotspot"}
    table = engine.predict_latest(con, cfg, info, cells, {"violence": engine.fit(con, cfg, info, "violence")})
    assert (table["forecast_week"] == date(2025, 1, 1)).all()


def test_fits_are_reproducible(built):
    con, cfg, _, info = built
    a = engine.predict(con, engine.fit(con, cfg, info, "serious_violence"), info)
    b = engine.predict(con, engine.fit(con, cfg, info, "serious_violence"), info)
    assert np.array_equal(a["predicted_count"].to_numpy(), b["predicted_count"].to_numpy())
