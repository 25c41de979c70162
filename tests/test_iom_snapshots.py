"""IOM snapshots: features, labels and audit columns from hand-made tables."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.iom_tables import charge, make_connection, person
from wmp_pipeline.harm import escalation_label
from wmp_pipeline.iom.backtest import choose_test_weeks
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.iom.features import feature_catalogue
from wmp_pipeline.iom.snapshots import build_snapshots, newest_complete_monday, snapshot_dates

AS_OF = date(2024, 6, 3)
EARLY = date(2023, 5, 29)
WEEKS = [EARLY, AS_OF]


def _charges():
    return [
        charge("A", date(2023, 1, 10), "46"),
        charge("A", date(2024, 3, 1), "8N", crime_id="C1", knife=True),
        charge("A", date(2024, 5, 20), "105A", crime_id="C2"),
        charge("B", date(2024, 3, 5), "8N", crime_id="C1"),
        charge("C", date(2024, 4, 1), "ZZ9"),
        charge("C", date(2024, 5, 1), "9A"),
        charge("D", date(2023, 5, 1), "8N"),
        charge("D", date(2023, 9, 1), "34B"),
    ]


def _persons():
    return [
        person("A", date(2000, 6, 10)),
        person("B"),
        person("C", date(1990, 1, 1), sex="F", ethnicity=None),
        person("D", None, sex="U", ethnicity="B2"),
    ]


def _snapshots(charges=None, negative_rate=1.0, full_weeks=None):
    con = make_connection(charges or _charges(), _persons(), AS_OF)
    build_snapshots(con, AS_OF, WEEKS, full_weeks=full_weeks, negative_rate=negative_rate)
    frame = con.execute("select * from iom_snapshots").df()
    frame["week"] = pd.to_datetime(frame["week"]).dt.date
    return frame.set_index(["person_id", "week"]).sort_index()


def test_population_is_the_eligible():
    snap = _snapshots()
    assert sorted(snap.index) == [("A", EARLY), ("A", AS_OF), ("B", AS_OF), ("C", AS_OF), ("D", EARLY)]
    # D has 365 in the window on AS_OF: high harm, not eligible, not in the snapshots


def test_window_recency_and_history_features():
    a = _snapshots().loc[("A", AS_OF)]
    assert a["harm_score"] == 92  # 8N (90) + 105A (2); 2023-01-10 is outside the year
    assert a["n_charges_90d"] == 1  # 2024-03-01 is 94 days back
    assert a["n_charges_365d"] == 2
    assert a["n_charges_all"] == 3
    assert a["harm_all"] == 93
    assert a["max_weight_365d"] == 90
    assert a["n_violent_all"] == 2 and a["n_knife_all"] == 1 and a["n_weapon_all"] == 1
    assert a["n_violence_with_injury_365d"] == 1 and a["harm_violence_with_injury_365d"] == 90
    assert a["days_since_last_charge"] == 14
    assert a["days_since_first_charge"] == (AS_OF - date(2023, 1, 10)).days
    assert a["days_between_last_two_charges"] == 80
    assert a["days_since_last_violent"] == 14
    assert a["n_offence_groups_all"] == 3
    assert a["age_at_snapshot"] == 23  # birthday on 10 June not yet reached
    assert a["harm_previous_year"] == 1  # 2023-01-10 lies in [d-730, d-365)
    assert a["harm_change_on_year"] == 91


def test_decayed_features_match_the_formula():
    a = _snapshots().loc[("A", AS_OF)]
    ages = np.array([(AS_OF - d).days for d in (date(2023, 1, 10), date(2024, 3, 1), date(2024, 5, 20))])
    for tau in (45, 365, 1460):
        assert a[f"charges_decay_{tau}d"] == pytest.approx(np.exp(-ages / tau).sum())
    assert a["harm_decay_90d"] == pytest.approx((np.array([1, 90, 2]) * np.exp(-ages / 90)).sum())
    assert a["violent_decay_365d"] == pytest.approx(np.exp(-ages[1:] / 365).sum())


def test_co_defendants():
    snap = _snapshots()
    a, b = snap.loc[("A", AS_OF)], snap.loc[("B", AS_OF)]
    assert a["n_co_defendants_all"] == 1 and b["n_co_defendants_all"] == 1
    assert a["n_shared_crimes_all"] == 1
    assert a["co_defendants_max_harm_score"] == 90  # B's harm score on AS_OF
    assert b["co_defendants_max_harm_score"] == 92  # A's


def test_unknown_codes_weigh_nothing_but_are_counted():
    c = _snapshots().loc[("C", AS_OF)]
    assert c["harm_score"] == 2
    assert c["n_unknown_all"] == 1 and c["n_unknown_365d"] == 1 and c["harm_unknown_365d"] == 0
    assert (c["sex"], c["ethnicity_group"], c["age_band"]) == ("F", "NS", "25-34")


def test_labels_match_the_definition_and_need_a_complete_horizon():
    snap = _snapshots()
    d = snap.loc[("D", EARLY)]
    assert d["label"] == 1 and d["horizon_complete"]
    assert d["first_high_harm_date"].date() == date(2023, 9, 1)
    assert (d["sex"], d["ethnicity_group"], d["age_band"]) == ("U", "B", "unknown")
    assert snap.loc[("A", EARLY), "label"] == 0
    assert pd.isna(snap.loc[("A", AS_OF), "label"]) and not snap.loc[("A", AS_OF), "horizon_complete"]
    # the Python reference agrees on every labelled row
    ch = pd.DataFrame(_charges())
    for (pid, week), row in snap[snap["label"].notna()].iterrows():
        mine = ch[ch["person_id"] == pid]
        assert bool(row["label"]) == escalation_label(mine["charge_date"], mine["harm_weight_days"], week)


def test_future_charges_never_change_past_features():
    """Charges on or after the snapshot date change the label, never the features."""
    before = _snapshots()
    later = _charges() + [charge("A", EARLY, "5A"), charge("A", date(2023, 7, 1), "10D")]
    after = _snapshots(later)
    features = [f.name for f in feature_catalogue()]
    pd.testing.assert_series_equal(before.loc[("A", EARLY), features], after.loc[("A", EARLY), features])
    assert before.loc[("A", EARLY), "label"] == 0 and after.loc[("A", EARLY), "label"] == 1


def test_negative_sampling_keeps_positives_and_full_weeks():
    snap = _snapshots(negative_rate=0.01, full_weeks=[AS_OF])
    # D (positive) and everyone on the full week are kept; the negative A on EARLY may go
    assert ("D", EARLY) in snap.index
    assert {("A", AS_OF), ("B", AS_OF), ("C", AS_OF)} <= set(snap.index)
    assert snap.loc[("D", EARLY), "sample_weight"] == 1.0
    if ("A", EARLY) in snap.index:
        assert snap.loc[("A", EARLY), "sample_weight"] == pytest.approx(100.0)


def test_snapshot_dates_anchor_on_the_newest_complete_monday():
    cfg = IomConfig(snapshot_stride_weeks=4, min_history_days=182)
    as_of = date(2026, 11, 23)
    newest = newest_complete_monday(as_of, 365)
    assert newest == date(2025, 11, 17) and newest + timedelta(days=365) <= as_of
    dates = snapshot_dates(as_of, date(2021, 11, 22), cfg)
    assert dates[-1] == as_of and dates[-2] == newest
    assert all((newest - d).days % 28 == 0 for d in dates[:-1])
    assert dates[0] >= date(2021, 11, 22) + timedelta(days=182)
    tests = choose_test_weeks(dates, as_of, cfg)
    assert len(tests) == 13 and tests[-1] == newest and tests[0] == newest - timedelta(weeks=48)




def test_history_cap_option_keeps_every_feature_within_the_cap():
    names = [f.name for f in feature_catalogue(decay_days=(45, 90, 180, 365, 730), history_cap_days=730)]
    assert not [n for n in names if n.endswith("_all")] and "age_at_first_charge" not in names
    assert "n_offence_groups_730d" in names
    with pytest.raises(ValueError):
        feature_catalogue(history_cap_days=730)  # the 1460-day decay reaches past the cap


def test_capped_snapshots_build():
    con = make_connection(_charges(), _persons(), AS_OF)
    cfg = IomConfig(history_cap_days=730)
    features = feature_catalogue(decay_days=(45, 90, 180, 365, 730), history_cap_days=730)
    from wmp_pipeline.iom.snapshots import snapshot_statements

    for statement in snapshot_statements(cfg, features):
        params = {"as_of": AS_OF, "weeks": WEEKS, "full_weeks": WEEKS, "negative_rate": 1.0}
        con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement} or None).fetchall()
    a = con.execute("select * from iom_snapshots where person_id = 'A' and week = ?", [AS_OF]).df().iloc[0]
    assert a["days_since_first_charge"] == (AS_OF - date(2023, 1, 10)).days  # within the cap
    assert a["n_co_defendants_730d"] == 1
