"""Which candidate serves the weekly list: the champion of the rolling-origin backtest.

The candidates (simplest first: rank by harm score, logistic regression,
monotone xgboost) are scored on the same test weeks. The **primary metric**
is precision in the operating list (the ``operating_top_k`` highest
probabilities a week, default 250): the share of the people an offender
manager would research who do go on to reach high harm. ROC AUC breaks ties.

A more complex candidate wins over a simpler one only when it beats it
**beyond noise**: in a paired bootstrap over the test weeks (each draw
resamples the weeks with replacement and compares the two candidates' mean
precision on the same weeks) it must come out ahead in at least
``win_confidence`` of the draws (default 95 %). So the champion is the
simplest candidate that the leader (best mean, tie-break ROC AUC) does not
beat beyond noise; when the leader beats everything simpler, the leader
serves. The served model can thus trail the leader only by a margin the
backtest cannot tell from noise, never by more.

Pure functions of the long metrics table of :func:`.backtest.metrics_table`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from wmp_pipeline.iom.config import CANDIDATES, TIEBREAK_METRIC

#: how each candidate is named to a reader
LABELS = {
    "xgboost": "monotone gradient-boosted trees (xgboost)",
    "logistic": "regularised logistic regression",
    "harm_score": "rank by current harm score",
}


def complexity(name: str) -> int:
    return CANDIDATES.index(name) if name in CANDIDATES else len(CANDIDATES)


@dataclass
class Selection:
    """The champion choice of one training run (stored in model metadata and ``iom_model_selection``)."""

    champion: str
    runner_up: str | None
    leader: str
    primary_metric: str
    tiebreak_metric: str
    #: mean over test weeks, per candidate
    primary: dict[str, float]
    tiebreak: dict[str, float]
    #: champion's primary minus runner-up's (mean over the paired weeks), and its 90 % bootstrap interval
    margin: float
    margin_low: float
    margin_high: float
    #: share of bootstrap draws in which the champion beat the runner-up
    win_share: float
    #: True when the leader was not served because its win over a simpler candidate was within noise
    kept_simpler: bool
    n_weeks: int
    reason: str
    #: candidates with no test-week metrics (failed to fit at every origin), with why
    excluded: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Mean of ``a - b`` over ``draws`` resamples (with replacement) of the paired weeks."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(diff) == 0:
        return np.array([np.nan])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(draws, len(diff)))
    return diff[idx].mean(axis=1)


def _paired(weekly: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    both = weekly[[a, b]].dropna()
    return both[a].to_numpy(float), both[b].to_numpy(float)


def select_champion(
    metrics: pd.DataFrame,
    primary_metric: str,
    candidates: tuple[str, ...] = CANDIDATES,
    draws: int = 2000,
    win_confidence: float = 0.95,
    seed: int = 0,
    tiebreak_metric: str = TIEBREAK_METRIC,
) -> Selection:
    """Choose the champion from the per-week rows (``scope == 'test_week'``) of ``metrics``.

    Raises ``ValueError`` naming what is missing when no candidate has a
    test week with the primary metric.
    """
    weekly_rows = metrics[metrics["scope"] == "test_week"] if "scope" in metrics else metrics[metrics["test_week"].notna()]
    weekly = weekly_rows[weekly_rows["metric"] == primary_metric].pivot(index="test_week", columns="model", values="value")
    ties = weekly_rows[weekly_rows["metric"] == tiebreak_metric].pivot(index="test_week", columns="model", values="value")
    excluded = {c: "no rolling-origin test week was scored" for c in candidates if c not in weekly.columns or weekly[c].isna().all()}
    present = sorted((c for c in candidates if c not in excluded), key=complexity)
    if not present:
        raise ValueError(
            f"no candidate ({', '.join(candidates)}) has a rolling-origin test week with {primary_metric}: "
            "too little history with complete outcomes to compare them"
        )
    primary = {c: float(weekly[c].mean()) for c in present}
    tiebreak = {c: float(ties[c].mean()) if c in ties.columns else float("nan") for c in present}

    def key(c: str) -> tuple[float, float, int]:
        # higher primary, then higher tie-break, then the simpler model
        t = tiebreak[c]
        return (primary[c], t if t == t else -np.inf, -complexity(c))

    leader = max(present, key=key)
    champion, kept_simpler, reason = leader, False, ""
    for i, simpler in enumerate(c for c in present if complexity(c) < complexity(leader)):
        a, b = _paired(weekly, leader, simpler)
        share = float((paired_bootstrap(a, b, draws, seed + i) > 0).mean())
        if share < win_confidence:
            champion, kept_simpler = simpler, True
            reason = (
                f"{leader} led on {primary_metric} ({primary[leader]:.4f} vs {primary[simpler]:.4f}) but beat the simpler "
                f"{simpler} in only {share:.0%} of {draws} paired bootstrap draws over {len(a)} test weeks "
                f"(a win needs {win_confidence:.0%}): the simpler model serves"
            )
            break
    if not reason:
        beaten = [c for c in present if complexity(c) < complexity(champion)]
        reason = (
            f"{champion} has the best {primary_metric} ({primary[champion]:.4f})"
            + (f" and beats the simpler {', '.join(beaten)} beyond noise" if beaten else ", and it is the simplest candidate")
        )
    others = [c for c in present if c != champion]
    runner_up = max(others, key=key) if others else None
    if runner_up is not None:
        a, b = _paired(weekly, champion, runner_up)
        boot = paired_bootstrap(a, b, draws, seed + 97)
        margin = float(np.mean(a - b)) if len(a) else float("nan")
        low, high = (float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))) if len(a) else (float("nan"),) * 2
        win_share = float((boot > 0).mean()) if len(a) else float("nan")
        n_weeks = len(a)
    else:
        margin = low = high = win_share = float("nan")
        n_weeks = int(weekly[champion].notna().sum())
    return Selection(
        champion=champion,
        runner_up=runner_up,
        leader=leader,
        primary_metric=primary_metric,
        tiebreak_metric=tiebreak_metric,
        primary=primary,
        tiebreak=tiebreak,
        margin=margin,
        margin_low=low,
        margin_high=high,
        win_share=win_share,
        kept_simpler=kept_simpler,
        n_weeks=n_weeks,
        reason=reason,
        excluded=excluded,
    )
