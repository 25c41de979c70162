"""Harm bands: the five categories an offender's harm score places them in.

The bands and their thresholds are the force's published IOM definitions
(days of imprisonment, Cambridge Crime Harm Index style). The same defaults
are dbt vars in ``dbt_project.yml`` (``band_*_from``), so the Python and SQL
statements of the definition can be cross-checked by tests.

==============  =========================  ==========
band            harm score (days)          code
==============  =========================  ==========
low             score < 10                 ``low``
low-medium      10 <= score < 100          ``low_medium``
high-medium     100 <= score < 365         ``high_medium``
high            365 <= score < 1825        ``high``
super high      score >= 1825              ``super_high``
==============  =========================  ==========

Lower bounds are inclusive: a score of exactly 365 is *high*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Band codes in increasing order of harm (as stored in tables).
BANDS: tuple[str, ...] = ("low", "low_medium", "high_medium", "high", "super_high")

#: Plain labels for people (dashboards, model cards).
BAND_LABELS: dict[str, str] = {
    "low": "low",
    "low_medium": "low-medium",
    "high_medium": "high-medium",
    "high": "high",
    "super_high": "super high",
}


@dataclass(frozen=True)
class BandThresholds:
    """Inclusive lower bounds (harm days) of the bands above *low*."""

    low_medium_min: float = 10.0
    high_medium_min: float = 100.0
    high_min: float = 365.0
    super_high_min: float = 1825.0

    def __post_init__(self) -> None:
        bounds = self.bounds()
        if any(b <= a for a, b in zip(bounds, bounds[1:])) or bounds[0] <= 0:
            raise ValueError(f"band thresholds must be positive and strictly increasing, got {bounds}")

    def bounds(self) -> tuple[float, float, float, float]:
        return (self.low_medium_min, self.high_medium_min, self.high_min, self.super_high_min)

    @classmethod
    def from_dbt_vars(cls, dbt_vars: dict) -> BandThresholds:
        """Build from the dbt var names used by the IOM models (missing ones keep defaults)."""
        names = {
            "band_low_medium_from": "low_medium_min",
            "band_high_medium_from": "high_medium_min",
            "band_high_from": "high_min",
            "band_super_high_from": "super_high_min",
        }
        return cls(**{attr: float(dbt_vars[var]) for var, attr in names.items() if var in dbt_vars})


DEFAULT_THRESHOLDS = BandThresholds()


def band_for_score(score: float, thresholds: BandThresholds = DEFAULT_THRESHOLDS) -> str:
    """The band code of one harm score (lower bounds inclusive)."""
    if score is None or np.isnan(score):
        raise ValueError("a harm score is required to place someone in a band")
    if score < 0:
        raise ValueError(f"harm scores are sums of non-negative weights, got {score}")
    return BANDS[int(np.searchsorted(thresholds.bounds(), score, side="right"))]


def bands_for_scores(scores, thresholds: BandThresholds = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Vectorised :func:`band_for_score` for an array of scores."""
    values = np.asarray(scores, dtype=float)
    if np.isnan(values).any():
        raise ValueError("a harm score is required to place someone in a band")
    if (values < 0).any():
        raise ValueError("harm scores are sums of non-negative weights")
    idx = np.searchsorted(np.asarray(thresholds.bounds()), values, side="right")
    return np.asarray(BANDS, dtype=object)[idx]


def is_high_harm(score: float, thresholds: BandThresholds = DEFAULT_THRESHOLDS) -> bool:
    """High or super high: the state the IOM model estimates the chance of reaching."""
    return score >= thresholds.high_min
