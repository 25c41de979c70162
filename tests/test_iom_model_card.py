"""The model card renders for every training configuration it documents."""

from __future__ import annotations

import pandas as pd
import pytest

from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.iom.features import feature_catalogue
from wmp_pipeline.iom.model_card import write_model_card

METADATA = {
    "version": "iom-20261123-abcdef12",
    "trained_for": "2026-11-23",
    "trained_at": "2026-11-23T06:10:00",
    "training_window": {"first_week": "2023-01-02", "last_week": "2025-11-17"},
    "training_data_sha256": "0" * 64,
    "n_training_rows": 1234,
    "n_training_positives": 56,
}


@pytest.mark.parametrize("max_fit_rows, expected", [(None, "all rows"), (150_000, "at most 150,000 rows")])
def test_card_states_how_many_rows_the_model_was_fitted_on(tmp_path, max_fit_rows, expected):
    summary = pd.DataFrame({"roc_auc": [0.75, 0.74, 0.65], "precision_at_250": [0.58, 0.57, 0.41]},
                           index=pd.Index(["xgboost", "logistic", "harm_score"], name="model"))
    fairness = pd.DataFrame({"attribute": ["sex"], "group": ["F"], "n": [10], "base_rate": [0.1], "auc": [float("nan")], "flags": [""]})
    config = IomConfig(max_fit_rows=max_fit_rows)
    path = write_model_card(tmp_path, METADATA, summary, fairness, feature_catalogue(), config)
    text = path.read_text()
    assert expected in text
    assert "| xgboost | 0.750 | 0.580 |" in text
    assert "| sex | F | 10 | 0.1000 | n/a |  |" in text
