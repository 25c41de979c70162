"""Harm scores and bands: the IOM definitions as pure functions."""

from wmp_pipeline.harm.bands import (
    BAND_LABELS,
    BANDS,
    DEFAULT_THRESHOLDS,
    BandThresholds,
    band_for_score,
    bands_for_scores,
    is_high_harm,
)
from wmp_pipeline.harm.score import (
    DEFAULT_WINDOWS,
    HarmWindows,
    escalation_label,
    harm_score,
    harm_weight,
    is_eligible,
    load_harm_weights,
    mondays,
    person_week_scores,
)

__all__ = [
    "BANDS",
    "BAND_LABELS",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_WINDOWS",
    "BandThresholds",
    "HarmWindows",
    "band_for_score",
    "bands_for_scores",
    "escalation_label",
    "harm_score",
    "harm_weight",
    "is_eligible",
    "is_high_harm",
    "load_harm_weights",
    "mondays",
    "person_week_scores",
]
