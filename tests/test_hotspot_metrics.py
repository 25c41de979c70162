"""Hit rate, PAI and top-area selection (wmp_pipeline.evaluation.spatial)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.evaluation.spatial import hit_rate, hit_rate_pai, pai, pool, top_k_indices, top_share_selection


def test_selection_takes_the_highest_scores_up_to_the_area_share():
    scores = np.array([5.0, 1.0, 3.0, 0.0, 4.0, 2.0, 0.5, 0.2, 0.1, 0.05])
    sel = top_share_selection(scores, 0.2)
    assert sel.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]


def test_ties_at_the_edge_are_selected_pro_rata():
    scores = np.array([3.0, 1.0, 1.0, 1.0, 0.0])
    sel = top_share_selection(scores, 0.4)  # 2 of 5 units: the 3.0 and a third of each tied 1.0
    assert sel == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3, 0])
    assert sel.sum() == pytest.approx(2.0)


def test_hit_rate_does_not_depend_on_the_order_of_tied_units():
    scores = np.array([0.0, 0.0, 0.0, 0.0])
    actual = np.array([4.0, 0.0, 0.0, 0.0])
    assert hit_rate(scores, actual, 0.25) == pytest.approx(0.25)  # random pick: 1 in 4
    assert hit_rate(scores[::-1], actual[::-1], 0.25) == pytest.approx(0.25)


def test_hit_rate_and_pai_values():
    scores = np.arange(100, dtype=float)
    actual = np.zeros(100)
    actual[99], actual[98], actual[0] = 3, 1, 4  # top 2% holds 4 of 8 crimes
    assert hit_rate(scores, actual, 0.02) == pytest.approx(0.5)
    assert pai(0.5, 0.02) == pytest.approx(25.0)
    table = hit_rate_pai(scores, actual, [0.01, 0.02])
    assert table["hits"].tolist() == pytest.approx([3.0, 4.0])
    assert table["pai"].tolist() == pytest.approx([37.5, 25.0])


def test_a_perfect_and_a_useless_forecast():
    rng = np.random.default_rng(0)
    actual = rng.poisson(0.3, 1000).astype(float)
    perfect = hit_rate(actual, actual, 0.05)
    useless = hit_rate(np.ones(1000), actual, 0.05)
    assert useless == pytest.approx(0.05)
    assert perfect > 0.2


def test_unequal_areas_are_budgeted_by_area():
    scores = np.array([3.0, 2.0, 1.0])
    area = np.array([1.0, 8.0, 1.0])
    sel = top_share_selection(scores, 0.5, area)  # budget 5 of 10: all of unit 0, half of unit 1
    assert sel == pytest.approx([1.0, 0.5, 0.0])


def test_no_crimes_gives_nan_not_zero():
    assert np.isnan(hit_rate(np.arange(5.0), np.zeros(5), 0.2))


def test_nan_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        top_share_selection(np.array([1.0, np.nan]), 0.5)


def test_top_k_indices_are_deterministic_under_ties():
    scores = np.array([1.0, 2.0, 2.0, 0.0])
    ids = np.array(["d", "c", "b", "a"])
    assert top_k_indices(scores, 2, ids).tolist() == [2, 1]  # the two 2.0s, "b" before "c"
    assert top_k_indices(scores, 3, ids).tolist() == [2, 1, 0]


def test_pooling_weights_weeks_by_their_crimes():
    rows = pd.DataFrame(
        {"model": ["m", "m"], "area_share": [0.01, 0.01], "hits": [1.0, 9.0], "n_crimes": [10.0, 10.0], "pai": [10.0, 90.0]}
    )
    pooled = pool(rows, ["model", "area_share"])
    assert pooled["hit_rate"].iloc[0] == pytest.approx(0.5)
    assert pooled["pai"].iloc[0] == pytest.approx(50.0)
    assert pooled["n_forecasts"].iloc[0] == 2
