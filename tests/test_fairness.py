"""Group fairness table and audit flags (wmp_pipeline.evaluation.fairness)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.evaluation.fairness import (
    FAIRNESS_COLUMNS,
    MISSING_GROUP,
    FairnessTolerance,
    fairness_audit,
    fairness_table,
    two_proportion_z,
)
from wmp_pipeline.settings import PROJECT_ROOT

COMPAS = PROJECT_ROOT.parent / "shared" / "data" / "compas" / "compas-scores-two-years.csv"


def test_hand_computed_table():
    #          group a: y 1 1 0 0, score .9 .2 .8 .1  -> selected (>=.5): .9 .8
    #          group b: y 1 0 0,   score .6 .4 .3     -> selected: .6
    y = [1, 1, 0, 0, 1, 0, 0]
    s = [0.9, 0.2, 0.8, 0.1, 0.6, 0.4, 0.3]
    g = ["a", "a", "a", "a", "b", "b", "b"]
    t = fairness_table(y, s, g, threshold=0.5)
    assert list(t.columns[:8]) == FAIRNESS_COLUMNS
    a, b = t.iloc[0], t.iloc[1]
    assert (a.group, a.n, b.group, b.n) == ("a", 4, "b", 3)
    assert a.base_rate == 0.5 and a.selection_rate == 0.5
    assert a.fpr == 0.5 and a.fnr == 0.5 and a.ppv == 0.5
    # a: pairs (.9,.8)=1 (.9,.1)=1 (.2,.8)=0 (.2,.1)=1 -> 3/4
    assert a.auc == pytest.approx(0.75)
    assert b.fpr == 0.0 and b.fnr == 0.0 and b.ppv == 1.0 and b.auc == 1.0
    assert b.mean_score == pytest.approx(1.3 / 3)
    assert b.calibration_gap == pytest.approx(1.3 / 3 - 1 / 3)


def test_threshold_is_inclusive():
    t = fairness_table([1, 0], [0.5, 0.49], ["x", "x"], threshold=0.5)
    assert t.selection_rate.iloc[0] == 0.5 and t.ppv.iloc[0] == 1.0


def test_undefined_rates_are_nan():
    # group "pos" has no negatives: FPR undefined, AUC undefined
    # group "none" has nobody selected: PPV undefined
    y = [1, 1, 0, 1]
    s = [0.9, 0.8, 0.1, 0.2]
    g = ["pos", "pos", "none", "none"]
    t = fairness_table(y, s, g, threshold=0.5).set_index("group")
    assert math.isnan(t.loc["pos", "fpr"]) and math.isnan(t.loc["pos", "auc"])
    assert t.loc["pos", "fnr"] == 0.0
    assert math.isnan(t.loc["none", "ppv"])
    assert t.loc["none", "fnr"] == 1.0


def test_missing_groups_are_kept():
    t = fairness_table([1, 0, 1], [0.9, 0.1, 0.5], ["a", None, np.nan], threshold=0.5)
    assert set(t.group) == {"a", MISSING_GROUP}
    assert t.n.sum() == 3


def test_two_proportion_z_hand_computed():
    # 30/100 vs 10/100: pooled 0.2, se = sqrt(.2*.8*.02) = 0.0566 -> z = 3.536
    assert two_proportion_z(30, 100, 10, 100) == pytest.approx(0.2 / np.sqrt(0.2 * 0.8 * 0.02))


def test_audit_flags_a_real_difference_and_not_noise():
    rng = np.random.default_rng(1)
    n = 4000
    g = np.where(rng.random(n) < 0.5, "a", "b")
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.random(n) * 0.6 + 0.4 * y
    # group b: the model selects many more of its negatives (higher FPR)
    s = np.where((g == "b") & (y == 0), np.minimum(s + 0.3, 1.0), s)
    audit = fairness_audit(y, s, g, threshold=0.5, attribute="grp").set_index("group")
    assert "fpr" in audit.loc["b", "flags"] and audit.loc["b", "flagged"]
    assert audit.loc["a", "fpr_rest"] == pytest.approx(audit.loc["b", "fpr"])
    assert audit["attribute"].eq("grp").all()
    # the same data without the distortion: nothing flagged
    s_fair = rng.random(n) * 0.6 + 0.4 * y
    clean = fairness_audit(y, s_fair, g, threshold=0.5)
    # (these scores are not calibrated probabilities, so only rates and AUC are compared)
    assert not clean["flags"].str.contains("rate|fpr|fnr|ppv|auc").any()


def test_small_groups_are_never_flagged():
    y = [1, 0, 0, 0] * 10 + [1, 1]
    s = [0.9, 0.1, 0.1, 0.1] * 10 + [0.0, 0.0]
    g = ["big"] * 40 + ["tiny"] * 2
    audit = fairness_audit(y, s, g, threshold=0.5, tolerance=FairnessTolerance(min_group_size=5)).set_index("group")
    assert audit.loc["tiny", "flags"] == ""


def test_calibration_flag():
    rng = np.random.default_rng(2)
    n = 6000
    g = np.where(rng.random(n) < 0.5, "a", "b")
    p = rng.uniform(0.05, 0.5, n)
    y = (rng.random(n) < p).astype(int)
    p_reported = np.where(g == "b", p * 0.5, p)  # under-predicts group b by half
    audit = fairness_audit(y, p_reported, g, threshold=0.3).set_index("group")
    assert "calibration" in audit.loc["b", "flags"]
    assert audit.loc["b", "observed_expected"] == pytest.approx(2.0, rel=0.1)
    assert "calibration" not in audit.loc["a", "flags"]


@pytest.mark.skipif(not COMPAS.exists(), reason="shared COMPAS data not available")
def test_reproduces_published_compas_error_rates():
    """ProPublica's COMPAS two-year data, their filters, 'medium or high' = decile >= 5.

    Published figures (Angwin et al. 2016 analysis of the two-year file):
    false positive rate 42.3% for African-American vs 22.0% for Caucasian
    defendants; false negative rate 28.5% vs 49.6%.
    """
    df = pd.read_csv(COMPAS)
    df = df[
        df.days_b_screening_arrest.between(-30, 30)
        & (df.is_recid != -1)
        & (df.c_charge_degree != "O")
        & (df.score_text != "N/A")
    ]
    t = fairness_table(df.two_year_recid, df.decile_score, df.race, threshold=5).set_index("group")
    assert len(df) == 6172
    assert round(t.loc["African-American", "fpr"], 3) == 0.423
    assert round(t.loc["Caucasian", "fpr"], 3) == 0.220
    assert round(t.loc["African-American", "fnr"], 3) == 0.285
    assert round(t.loc["Caucasian", "fnr"], 3) == 0.496
    audit = fairness_audit(df.two_year_recid, df.decile_score, df.race, threshold=5).set_index("group")
    assert "fpr" in audit.loc["African-American", "flags"]
