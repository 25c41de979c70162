"""Monotone trees: the direction table and a fit that honours it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wmp_pipeline.iom.features import Feature, feature_catalogue, monotone_direction
from wmp_pipeline.iom.models import XgbEscalationModel


def test_direction_table():
    by_name = {f.name: monotone_direction(f) for f in feature_catalogue()}
    assert by_name["n_charges_365d"] == 1 and by_name["harm_score"] == 1 and by_name["charges_decay_90d"] == 1
    assert by_name["days_since_last_charge"] == -1 and by_name["days_since_last_violent"] == -1
    assert by_name["age_at_snapshot"] == 0 and by_name["harm_change_on_year"] == 0
    assert by_name["days_since_first_charge"] == 0


def test_monotone_fit_never_lowers_risk_with_more_charges():
    rng = np.random.default_rng(1)
    n = 4000
    x = pd.DataFrame({"n_charges_365d": rng.poisson(2.0, n).astype(float), "age_at_snapshot": rng.uniform(14, 60, n)})
    # a risk that dips at 5 charges in the data: unconstrained trees follow the noise, constrained ones may not
    p = 1 / (1 + np.exp(-(-3 + 0.5 * x["n_charges_365d"] - 1.5 * (x["n_charges_365d"] == 5))))
    y = (rng.random(n) < p).astype(int)
    features = [Feature("n_charges_365d", "{v} charges"), Feature("age_at_snapshot", "aged {v}", "years")]
    constraints = "(" + ",".join(str(monotone_direction(f)) for f in features) + ")"
    params = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.3, "monotone_constraints": constraints}
    model = XgbEscalationModel([f.name for f in features], params).fit(x, y)
    grid = pd.DataFrame({"n_charges_365d": np.arange(0, 12, dtype=float), "age_at_snapshot": 25.0})
    scores = model.score(grid)
    assert np.all(np.diff(scores) >= -1e-7)
    free = XgbEscalationModel([f.name for f in features], {k: v for k, v in params.items() if k != "monotone_constraints"}).fit(x, y)
    assert np.any(np.diff(free.score(grid)) < 0)  # the dip is learnable, so the constraint did the work
