"""The harm score, bands, eligibility and label definitions (pure Python)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.harm import (
    BANDS,
    BandThresholds,
    HarmWindows,
    band_for_score,
    bands_for_scores,
    escalation_label,
    harm_score,
    harm_weight,
    is_eligible,
    load_harm_weights,
    mondays,
    person_week_scores,
)
from wmp_pipeline.settings import REFERENCE_OFFENCE_CODES

D = date(2024, 6, 3)  # a Monday


@pytest.mark.parametrize(
    "score, band",
    [
        (0, "low"),
        (9.999, "low"),
        (10, "low_medium"),
        (99.5, "low_medium"),
        (100, "high_medium"),
        (364, "high_medium"),
        (365, "high"),
        (1824, "high"),
        (1825, "super_high"),
        (50000, "super_high"),
    ],
)
def test_band_edges_are_inclusive_lower_bounds(score, band):
    assert band_for_score(score) == band


def test_vectorised_bands_match_scalar():
    scores = np.array([0, 9, 10, 100, 364.5, 365, 1825, 2000])
    assert list(bands_for_scores(scores)) == [band_for_score(s) for s in scores]


def test_band_thresholds_configurable_and_validated():
    t = BandThresholds(low_medium_min=5, high_medium_min=50, high_min=200, super_high_min=1000)
    assert band_for_score(200, t) == "high"
    assert band_for_score(199, t) == "high_medium"
    assert BandThresholds.from_dbt_vars({"band_high_from": 300}).high_min == 300
    with pytest.raises(ValueError):
        BandThresholds(high_min=50)  # below high_medium_min
    with pytest.raises(ValueError):
        band_for_score(-1)
    assert BANDS[0] == "low" and BANDS[-1] == "super_high"


def test_harm_score_window_edges():
    dates = [D - timedelta(days=365), D - timedelta(days=366), D - timedelta(days=1), D]
    weights = [1, 10, 100, 1000]
    # d-365 is inside, d-366 outside, d-1 inside, d itself not yet known
    assert harm_score(dates, weights, D) == 101
    # a day later the charge dated d counts and d-365 has dropped out
    assert harm_score(dates, weights, D + timedelta(days=1)) == 1100
    assert harm_score([], [], D) == 0


def test_unknown_offence_codes_weigh_zero_and_are_flagged():
    weights = load_harm_weights(REFERENCE_OFFENCE_CODES)
    assert harm_weight("1", weights) == (5475.0, True)
    assert harm_weight("NOT-A-CODE", weights) == (0.0, False)


def test_eligibility_lookback_and_threshold():
    assert is_eligible([D - timedelta(days=730)], [1], D)
    assert not is_eligible([D - timedelta(days=731)], [1], D)
    assert not is_eligible([D], [1], D)  # charged on the day: not yet known
    assert not is_eligible([D - timedelta(days=10)], [365], D)  # already high
    assert is_eligible([D - timedelta(days=10)], [364], D)


def test_label_horizon_edges():
    old = D - timedelta(days=300)
    # a charge on d itself is in the horizon (score rises at d+1)
    assert escalation_label([old, D], [200, 165], D)
    # the last day that counts is d + 364 (score rises at d + 365, the horizon's end)
    assert escalation_label([D + timedelta(days=364)], [365], D)
    assert not escalation_label([D + timedelta(days=365)], [365], D)
    # charges before d count towards the trailing window of a later charge ...
    assert escalation_label([D - timedelta(days=30), D + timedelta(days=10)], [300, 65], D)
    # ... but only within 365 days of it
    assert not escalation_label([D - timedelta(days=400), D + timedelta(days=10)], [300, 65], D)
    # two charges in the horizon more than a year apart never add up
    assert not escalation_label([D + timedelta(days=1), D + timedelta(days=366)], [300, 300], D)
    assert escalation_label([D + timedelta(days=1), D + timedelta(days=365)], [300, 300], D, HarmWindows(horizon_days=366))


def test_mondays():
    ms = mondays(date(2024, 6, 1), date(2024, 6, 17))
    assert ms == [date(2024, 6, 3), date(2024, 6, 10), date(2024, 6, 17)]


def test_person_week_scores_reference():
    charges = pd.DataFrame(
        {
            "person_id": ["a", "a", "b"],
            "charge_date": [D - timedelta(days=3), D - timedelta(days=800), D + timedelta(days=2)],
            "harm_weight_days": [20, 1000, 400],
        }
    )
    weeks = [D, D + timedelta(days=7)]
    table = person_week_scores(charges, weeks)
    assert table.to_dict("records") == [
        {"person_id": "a", "week": D, "harm_score": 20.0, "is_eligible": True},
        {"person_id": "a", "week": D + timedelta(days=7), "harm_score": 20.0, "is_eligible": True},
        {"person_id": "b", "week": D + timedelta(days=7), "harm_score": 400.0, "is_eligible": False},
    ]
