"""Time rhythms of recorded crime: season, long-run trend, day and hour.

Three scales, each a documented regularity of police recorded crime:

- **season**: violence and knife crime peak in summer (ONS, *The nature of
  violent crime*; Field 1992 on temperature and crime); property crime is
  much flatter. A cosine with a July peak, amplitude per category.
- **trend**: a gentle rise in recorded violence and fall in property crime
  over the history, as in the force's recent series.
- **hour of week**: violence peaks late on Friday and Saturday nights with
  the night-time economy; street robbery in the afternoon and evening;
  shoplifting in shop hours; burglary and vehicle crime in the evening and
  night. The profile only places events inside their week: weekly expected
  counts (the hotspot ground truth) do not depend on it.
"""

from __future__ import annotations

import numpy as np

from wmp_pipeline.generator.offences import CATEGORIES

#: seasonal amplitude per process category (relative swing around the yearly mean)
SEASON_AMPLITUDE = {"knife": 0.18, "sv": 0.10, "vwi": 0.14, "weapons": 0.10, "lead": 0.08, "other": 0.04}
#: day of year of the seasonal peak (mid-July)
SEASON_PEAK_DAY = 196.0
#: yearly growth of each category over the history
TREND_PER_YEAR = {"knife": 0.02, "sv": 0.01, "vwi": 0.02, "weapons": 0.02, "lead": 0.01, "other": -0.01}


def season_factor(category: str, day_of_year: np.ndarray) -> np.ndarray:
    """Multiplier of a category's yearly mean on the given days."""
    a = SEASON_AMPLITUDE[category]
    return 1.0 + a * np.cos(2.0 * np.pi * (np.asarray(day_of_year, dtype=float) - SEASON_PEAK_DAY) / 365.25)


def trend_factor(category: str, years_from_end: np.ndarray) -> np.ndarray:
    """Multiplier relative to the level at the end of the history (negative = past)."""
    return (1.0 + TREND_PER_YEAR[category]) ** np.asarray(years_from_end, dtype=float)


def category_time_factors(week_starts: np.ndarray, end_day: float) -> np.ndarray:
    """(n_categories, n_weeks) season x trend multipliers at the middle of each week.

    ``week_starts`` are day numbers (days since 1970-01-01) of Mondays.
    """
    mid = np.asarray(week_starts, dtype=float) + 3.5
    doy = (mid.astype("datetime64[D]") - mid.astype("datetime64[D]").astype("datetime64[Y]")).astype(float)
    years = (mid - end_day) / 365.25
    return np.stack([season_factor(c, doy) * trend_factor(c, years) for c in CATEGORIES])


def _profile(day: list[float], hour: list[float], night_boost: float) -> np.ndarray:
    """168 hour-of-week weights (Monday 00:00 first), Friday/Saturday nights boosted."""
    p = np.outer(np.asarray(day, float), np.asarray(hour, float))
    if night_boost != 1.0:
        for d in (4, 5):  # Friday and Saturday evenings ...
            p[d, 21:] *= night_boost
        for d in (5, 6):  # ... and the small hours that follow them
            p[d, :4] *= night_boost
    p = p.reshape(-1)
    return p / p.sum()


_NIGHT_HOURS = [6, 4, 3, 2, 1.2, 0.8, 0.8, 1, 1.5, 2, 2.3, 2.6, 3, 3, 3.2, 3.5, 4, 4.5, 5, 5.5, 6.2, 7, 7.5, 7]
HOUR_OF_WEEK: dict[str, np.ndarray] = {
    "night_violence": _profile([0.85, 0.82, 0.86, 0.92, 1.1, 1.35, 1.25], _NIGHT_HOURS, 1.9),
    "street": _profile([1, 1, 1, 1, 1.1, 1.1, 0.9],
                       [1.5, 1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 1.6, 1.8, 2, 2.3, 2.6, 2.8, 3.2, 4, 4.6, 4.8, 4.6, 4.2, 4, 3.6, 3, 2.2], 1.2),
    "property": _profile([1, 1, 1, 1, 1.05, 1.05, 1],
                         [3, 2.6, 2.2, 1.8, 1.5, 1.2, 1.2, 1.5, 1.8, 2, 2.1, 2.2, 2.3, 2.4, 2.5, 2.7, 3, 3.4, 3.8, 4, 4, 3.9, 3.6, 3.3], 1.0),
    "retail": _profile([1, 1, 1, 1, 1.1, 1.25, 0.7],
                       [0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 2, 3, 3.6, 4, 4.2, 4.2, 4.2, 4.3, 4.4, 4.2, 3.6, 2.6, 1.6, 0.9, 0.5, 0.2], 1.0),
    "domestic": _profile([1.05, 0.95, 0.95, 0.95, 1, 1.05, 1.1],
                         [2, 1.5, 1.1, 0.8, 0.6, 0.5, 0.7, 1.2, 1.8, 2.2, 2.4, 2.6, 2.8, 2.9, 3, 3.2, 3.4, 3.7, 4, 4.3, 4.4, 4.2, 3.6, 2.8], 1.15),
}


def sample_hour_of_week(family: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Hours since Monday 00:00 (0..167) drawn from a family's profile."""
    return rng.choice(168, size=n, p=HOUR_OF_WEEK[family])
