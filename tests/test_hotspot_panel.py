"""The panel's SQL agrees with a plain Python reading of the time rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.hotspot import engine
from wmp_pipeline.hotspot.baselines import prospective_weight
from wmp_pipeline.hotspot.periods import period_index

START = date(2023, 1, 2)  # a Monday
SIZE = 250
X0, Y0 = 400_000, 280_000


def _events(rows):
    """rows: (ix, iy, committed week offset, known week offset, signals dict).

    An event with no signal at week 0 in a far cell starts the data at START."""
    rows = [(8, 8, 0, 0, {})] + list(rows)
    out = []
    for i, (ix, iy, ew, kw, sig) in enumerate(rows):
        when = datetime.combine(START + timedelta(weeks=ew), datetime.min.time()) + timedelta(days=2)
        known = datetime.combine(START + timedelta(weeks=kw), datetime.min.time()) + timedelta(days=3)
        row = {
            "event_id": f"E{i}",
            "easting": X0 + ix * SIZE + 10 if ix is not None else None,
            "northing": Y0 + iy * SIZE + 10 if iy is not None else None,
            "event_time": when,
            "known_time": known,
            "knife_injury": False,
            "serious_violence": False,
        }
        row.update(sig)
        out.append(row)
    df = pd.DataFrame(out)
    df["easting"] = df["easting"].astype("Int64")
    df["northing"] = df["northing"].astype("Int64")
    return df


CFG = engine.HotspotConfig.weekly(
    related=(),
    windows=(1, 4, 13),
    baseline_windows=(4, 13),
    backtest_periods=4,
    train_periods=8,
    footprint_buffer_m=3 * SIZE,
)


def _panel(events, weeks_to_forecast: int, cfg=CFG):
    con = duckdb.connect()
    name = engine.prepare_events(con, events)
    cells = engine.build_cells(con, name, cfg)
    fd = START + timedelta(weeks=weeks_to_forecast)
    info = engine.build_panel(con, name, cells, cfg, fd, first_date=START)
    df = con.execute("SELECT * FROM hotspot_panel").df()
    return con, info, df, cells


def _value(df, ix, iy, week, col):
    cid = f"{SIZE}m_{X0 + ix * SIZE}_{Y0 + iy * SIZE}"
    t = period_index(START + timedelta(weeks=week), "week")
    row = df[(df.cell_id == cid) & (df.t == t)]
    assert len(row) == 1, (cid, week)
    return row[col].iloc[0]


def test_a_crime_counts_from_the_week_after_it_is_known_until_its_window_ends():
    ev = _events([(2, 2, 3, 3, {"serious_violence": True})])
    _, info, df, _ = _panel(ev, 30)
    assert _value(df, 2, 2, 3, "serious_violence_c1") == 0  # its own week: not yet in the past
    assert _value(df, 2, 2, 4, "serious_violence_c1") == 1
    assert _value(df, 2, 2, 5, "serious_violence_c1") == 0
    assert _value(df, 2, 2, 7, "serious_violence_c4") == 1
    assert _value(df, 2, 2, 8, "serious_violence_c4") == 0
    assert _value(df, 2, 2, 16, "serious_violence_c13") == 1
    assert _value(df, 2, 2, 17, "serious_violence_c13") == 0
    # the 8 neighbours see it in their ring-1 counts, not their own
    assert _value(df, 3, 3, 4, "serious_violence_c1_r1") == 1
    assert _value(df, 3, 3, 4, "serious_violence_c1") == 0
    assert _value(df, 4, 4, 4, "serious_violence_c1_r1") == 0


def test_a_late_recorded_crime_joins_its_own_week_only_once_known():
    # happened in week 5, recorded in week 9
    ev = _events([(2, 2, 5, 9, {"knife_injury": True, "serious_violence": True})])
    _, _, df, _ = _panel(ev, 30)
    for week in range(6, 10):
        assert _value(df, 2, 2, week, "knife_injury_c4") == 0
        assert _value(df, 2, 2, week, "knife_injury_c13") == 0
    assert _value(df, 2, 2, 10, "knife_injury_c4") == 0  # window 6..9 no longer holds week 5
    assert _value(df, 2, 2, 10, "knife_injury_c13") == 1
    # the target counts it where and when it happened
    assert _value(df, 2, 2, 2, "y_knife_injury") == 1  # weeks 2..5
    assert _value(df, 2, 2, 5, "y_knife_injury") == 1
    assert _value(df, 2, 2, 6, "y_knife_injury") == 0


def test_crimes_recorded_after_the_forecast_date_are_not_in_the_panel():
    ev = _events([(2, 2, 10, 12, {"serious_violence": True}), (2, 2, 11, 30, {"serious_violence": True})])
    _, info, df, _ = _panel(ev, 20)
    assert info.event_counts["known_after_forecast"] == 1
    assert _value(df, 2, 2, 10, "y_serious_violence") == 1
    assert _value(df, 2, 2, 20, "serious_violence_c13") == 1


def test_crimes_without_coordinates_are_counted_not_placed():
    ev = _events([(2, 2, 3, 3, {"serious_violence": True}), (None, None, 3, 3, {"serious_violence": True})])
    _, info, df, _ = _panel(ev, 20)
    assert info.event_counts["without_coordinates"] == 1
    assert info.event_counts["serious_violence_without_coordinates"] == 1
    assert df["y_serious_violence"].sum() > 0
    assert df.groupby("t")["serious_violence_c1"].sum().max() == 1


def test_targets_are_null_where_the_window_is_not_over():
    ev = _events([(2, 2, 3, 3, {"serious_violence": True})])
    _, info, df, _ = _panel(ev, 20)
    last_complete = info.as_of_period - CFG.horizon_periods
    assert df[df.t <= last_complete]["y_serious_violence"].notna().all()
    assert df[df.t > last_complete]["y_serious_violence"].isna().all()


def test_prospective_score_weights_distance_and_recency():
    ev = _events([(2, 2, 3, 3, {"knife_injury": True})])
    _, _, df, _ = _panel(ev, 20)
    assert _value(df, 2, 2, 4, "knife_injury_ph") == pytest.approx(1.0)
    assert _value(df, 2, 2, 5, "knife_injury_ph") == pytest.approx(0.5)
    assert _value(df, 3, 2, 4, "knife_injury_ph") == pytest.approx(0.5)
    assert _value(df, 3, 3, 4, "knife_injury_ph") == pytest.approx(1 / (1 + np.sqrt(2)))
    assert _value(df, 4, 2, 4, "knife_injury_ph") == 0  # 500 m: outside 400 m
    assert _value(df, 2, 2, 12, "knife_injury_ph") == 0  # 8 weeks later: outside the window
    assert prospective_weight(250.0, 1, CFG) == pytest.approx(0.25)


def test_panel_matches_a_brute_force_count_on_random_events():
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(300):
        ew = int(rng.integers(0, 40))
        kw = ew + (int(rng.integers(3, 9)) if rng.random() < 0.2 else 0)
        rows.append((int(rng.integers(0, 6)), int(rng.integers(0, 6)), ew, kw, {"serious_violence": True,
                                                                                   "knife_injury": bool(rng.random() < 0.3)}))
    ev = _events(rows)
    _, info, df, _ = _panel(ev, 45)
    ep = np.array([r[2] for r in rows])
    kp = np.array([r[3] for r in rows])
    ix = np.array([r[0] for r in rows])
    iy = np.array([r[1] for r in rows])
    base = period_index(START, "week")
    for week in (20, 30, 41):
        t = week
        for cx, cy in ((2, 2), (0, 5), (5, 0)):
            own = (ix == cx) & (iy == cy)
            ring = (np.maximum(abs(ix - cx), abs(iy - cy)) == 1)
            known = kp < t
            for w in (1, 4, 13):
                inw = known & (ep >= t - w) & (ep < t)
                assert _value(df, cx, cy, week, f"serious_violence_c{w}") == (own & inw).sum()
                assert _value(df, cx, cy, week, f"serious_violence_c{w}_r1") == (ring & inw).sum()
            rate = (own & known).sum() / (t + base - info.data_start_period)
            assert _value(df, cx, cy, week, "serious_violence_rate") == pytest.approx(rate, rel=1e-5)
            if t + 4 <= 45:
                y = (own & (ep >= t) & (ep < t + 4) & (kp < 45)).sum()
                assert _value(df, cx, cy, week, "y_serious_violence") == y


def test_monthly_periods_use_calendar_months():
    ev = _events([(2, 2, 0, 0, {"serious_violence": True}), (2, 2, 3, 3, {"serious_violence": True}),
                  (2, 2, 5, 5, {"serious_violence": True})])
    cfg = engine.HotspotConfig.monthly(related=(), footprint_buffer_m=3 * SIZE, backtest_periods=1, train_periods=2)
    con = duckdb.connect()
    name = engine.prepare_events(con, ev)
    cells = engine.build_cells(con, name, cfg)
    info = engine.build_panel(con, name, cells, cfg, date(2023, 4, 1), first_date=date(2023, 1, 1))
    df = con.execute("SELECT * FROM hotspot_panel WHERE cell_id = '250m_400500_280500' ORDER BY t").df()
    feb = df[df.forecast_date == pd.Timestamp(2023, 2, 1)]
    assert feb["serious_violence_c1"].iloc[0] == 2  # 4 and 25 January; 8 February is not in January
    assert df[df.forecast_date == pd.Timestamp(2023, 3, 1)]["serious_violence_c1"].iloc[0] == 1
    with pytest.raises(ValueError, match="first of a month"):
        engine.build_panel(con, name, cells, cfg, date(2023, 4, 3))
    assert info.as_of_period == period_index(date(2023, 4, 1), "month")
