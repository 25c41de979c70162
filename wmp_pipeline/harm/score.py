"""The harm score, eligibility and the escalation label, as plain definitions.

These are the reference statements of the IOM definitions. The dbt models
(``int_iom__person_weeks``, ``iom_offender_week``) and the DuckDB snapshot
SQL compute the same things set-based at force scale; tests cross-check them
against these functions on small data.

Definitions (days are calendar days, dates are charge dates):

- **harm score at date d**: the sum of the harm weights of the person's
  active charges with ``d - window_days <= charge_date < d`` (default window
  365 days). Charges on ``d`` itself are not yet known at ``d``. There is no
  decay: a charge weighs fully for a year and then drops out.
- **unknown offence codes** weigh 0 (and are flagged upstream by
  ``is_known_offence_code``) so an unknown code never inflates a score.
- **eligible at d**: charged at least once in ``[d - lookback_days, d)``
  (default 730) and harm score at d below the high threshold (365).
- **label at d**: the score reaches the high threshold at some time ``t`` in
  ``(d, d + horizon_days]`` (default 365), i.e. some trailing window ending
  within the horizon sums to at least 365. Because the score only rises on a
  charge date, this is: some charge ``c`` with ``d <= c < d + horizon`` has
  ``sum(weights of charges in [c - window + 1, c]) >= high threshold``.
- **horizon complete** when ``d + horizon_days <= latest data date`` (the
  forecast date of the newest drop: charges before it are known).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from wmp_pipeline.harm.bands import DEFAULT_THRESHOLDS, BandThresholds


@dataclass(frozen=True)
class HarmWindows:
    """The day counts of the IOM definitions (defaults as published)."""

    window_days: int = 365
    lookback_days: int = 730
    horizon_days: int = 365

    @classmethod
    def from_dbt_vars(cls, dbt_vars: dict) -> HarmWindows:
        names = {
            "harm_window_days": "window_days",
            "harm_lookback_days": "lookback_days",
            "iom_horizon_days": "horizon_days",
        }
        return cls(**{attr: int(dbt_vars[var]) for var, attr in names.items() if var in dbt_vars})


DEFAULT_WINDOWS = HarmWindows()


def load_harm_weights(path: Path | str) -> dict[str, float]:
    """Offence code -> harm weight (days) from the ``ref_offence_codes`` seed CSV."""
    with open(path, newline="", encoding="utf-8") as f:
        return {row["offence_code"].strip(): float(row["harm_weight_days"]) for row in csv.DictReader(f)}


def harm_weight(offence_code: str, weights: dict[str, float]) -> tuple[float, bool]:
    """``(weight, is_known)``: unknown codes weigh 0 and are reported as unknown."""
    if offence_code in weights:
        return float(weights[offence_code]), True
    return 0.0, False


def _as_dates(values) -> np.ndarray:
    return np.asarray(pd.to_datetime(pd.Series(values, dtype="object")).values.astype("datetime64[D]"))


def harm_score(charge_dates, weights, at: date, window_days: int = DEFAULT_WINDOWS.window_days) -> float:
    """Harm score at ``at``: weights of charges dated in ``[at - window_days, at)``."""
    d = _as_dates(charge_dates)
    w = np.asarray(weights, dtype=float)
    if len(d) == 0:
        return 0.0
    at64 = np.datetime64(at, "D")
    inside = (d >= at64 - np.timedelta64(window_days, "D")) & (d < at64)
    return float(w[inside].sum())


def is_eligible(
    charge_dates,
    weights,
    at: date,
    windows: HarmWindows = DEFAULT_WINDOWS,
    thresholds: BandThresholds = DEFAULT_THRESHOLDS,
) -> bool:
    """Charged in ``[at - lookback, at)`` and not yet high harm at ``at``."""
    d = _as_dates(charge_dates)
    at64 = np.datetime64(at, "D")
    recent = ((d >= at64 - np.timedelta64(windows.lookback_days, "D")) & (d < at64)).any()
    return bool(recent) and harm_score(d, weights, at, windows.window_days) < thresholds.high_min


def escalation_label(
    charge_dates,
    weights,
    at: date,
    windows: HarmWindows = DEFAULT_WINDOWS,
    thresholds: BandThresholds = DEFAULT_THRESHOLDS,
) -> bool:
    """Does the score reach the high threshold at some ``t`` in ``(at, at + horizon]``?

    Evaluated literally: the score is a step function that can only rise on
    the day after a charge, so checking ``t = c + 1`` for every charge date
    ``c`` in ``[at, at + horizon)`` covers every candidate ``t``.
    """
    d = _as_dates(charge_dates)
    w = np.asarray(weights, dtype=float)
    at64 = np.datetime64(at, "D")
    end = at64 + np.timedelta64(windows.horizon_days, "D")
    for c in np.unique(d[(d >= at64) & (d < end)]):
        t = c + np.timedelta64(1, "D")
        if harm_score(d, w, t.astype(object), windows.window_days) >= thresholds.high_min:
            return True
    return False


def mondays(start: date, end: date) -> list[date]:
    """Mondays in ``[start, end]``."""
    first = start + timedelta(days=(7 - start.weekday()) % 7)
    out = []
    while first <= end:
        out.append(first)
        first += timedelta(days=7)
    return out


def person_week_scores(
    charges: pd.DataFrame,
    weeks: list[date],
    windows: HarmWindows = DEFAULT_WINDOWS,
    thresholds: BandThresholds = DEFAULT_THRESHOLDS,
) -> pd.DataFrame:
    """Reference (slow, obvious) person-week table for cross-checking the SQL.

    ``charges`` has ``person_id, charge_date, harm_weight_days``. Returns one
    row per person and Monday on which the person was charged within the
    lookback: ``person_id, week, harm_score, is_eligible``.
    """
    rows = []
    for person_id, g in charges.groupby("person_id", sort=True):
        d = _as_dates(g["charge_date"])
        w = g["harm_weight_days"].fillna(0).to_numpy(dtype=float)
        for week in weeks:
            at64 = np.datetime64(week, "D")
            in_lookback = ((d >= at64 - np.timedelta64(windows.lookback_days, "D")) & (d < at64)).any()
            if not in_lookback:
                continue
            score = harm_score(d, w, week, windows.window_days)
            rows.append((person_id, week, score, score < thresholds.high_min))
    return pd.DataFrame(rows, columns=["person_id", "week", "harm_score", "is_eligible"])
