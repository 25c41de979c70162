"""Classification metrics for the IOM model, as pure functions of arrays.

Every function takes ``y_true`` (0/1) and ``y_score`` (higher = more likely
positive) and returns plain numbers or small DataFrames. Undefined values are
``NaN``, never an exception, so a test week with no positives still produces
a row that says so:

- ROC AUC is NaN when only one class is present (no ranking to assess).
- PR AUC (average precision) is NaN when there are no positives.
- Recall at k is NaN when there are no positives.

Ties in ``y_score`` are handled as a random order would on average (ROC AUC
by mid-ranks; precision at k counts tied items at the cut fractionally), so
a score with many ties, such as the current harm score baseline, is not
flattered or penalised by the arbitrary order of a sort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _arrays(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and y_score differ in length: {y.shape} vs {s.shape}")
    if np.isnan(s).any():
        raise ValueError("y_score holds NaN")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    return y, s


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values), dtype=float)
    boundaries = np.flatnonzero(np.diff(sorted_vals)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(values)]))
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + 1 + end) / 2.0
    return ranks


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg), ties count half)."""
    y, s = _arrays(y_true, y_score)
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _midranks(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y_true, y_score) -> float:
    """PR AUC as average precision: sum over thresholds of (R_n - R_{n-1}) * P_n.

    Tied scores form one threshold (as in scikit-learn), so ties are not
    broken in anyone's favour.
    """
    y, s = _arrays(y_true, y_score)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last_of_tie]
    predicted = last_of_tie + 1
    precision = tp / predicted
    recall = tp / n_pos
    recall_step = np.diff(np.r_[0.0, recall])
    return float((recall_step * precision).sum())


def brier_score(y_true, y_prob) -> float:
    """Mean squared difference between probability and outcome (lower is better)."""
    y, p = _arrays(y_true, y_prob)
    if len(y) == 0:
        return float("nan")
    if (p < 0).any() or (p > 1).any():
        raise ValueError("Brier score needs probabilities in [0, 1]")
    return float(np.mean((p - y) ** 2))


def brier_skill_score(y_true, y_prob) -> float:
    """``1 - Brier / Brier of the base rate``: the share of the base rate's squared error the
    probabilities remove (1 perfect, 0 no better than predicting the observed rate for everyone,
    negative worse). The reference is the observed rate of the same rows, the hardest constant
    forecast to beat. NaN when everyone has the same outcome."""
    y, p = _arrays(y_true, y_prob)
    if len(y) == 0:
        return float("nan")
    base = y.mean()
    reference = base * (1 - base)
    if reference == 0:
        return float("nan")
    return float(1.0 - brier_score(y, p) / reference)


def expected_calibration_error(y_true, y_prob, n_bins: int = 10, strategy: str = "quantile") -> float:
    """Expected calibration error: ``sum over bins of (n_bin / n) * |mean predicted - observed rate|``.

    Bins as :func:`calibration_table`; equal-count (``quantile``) bins by
    default, because when the base rate is a few per cent almost every
    probability falls in the first of ten equal-width bins.
    """
    y, p = _arrays(y_true, y_prob)
    if len(y) == 0:
        return float("nan")
    table = calibration_table(y, p, n_bins=n_bins, strategy=strategy)
    return float((table["n"] / len(y) * (table["mean_predicted"] - table["observed_rate"]).abs()).sum())


def wilson_interval(successes: float, trials: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default); ``(nan, nan)`` with no trials."""
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _expected_hits_top_k(y: np.ndarray, s: np.ndarray, k: int) -> float:
    """Expected positives among the k highest scores when ties are ordered at random."""
    k = min(k, len(y))
    if k <= 0:
        return 0.0
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    cut = s_sorted[k - 1]
    above = s_sorted > cut
    hits = y_sorted[above].sum()
    tied = s_sorted == cut
    n_tied = tied.sum()
    slots = k - above.sum()
    return float(hits + y_sorted[tied].sum() * slots / n_tied)


def precision_at_k(y_true, y_score, k: int) -> float:
    """Share of the k highest-scored people who turned out positive.

    When there are fewer than k people, all of them are the top k.
    """
    y, s = _arrays(y_true, y_score)
    k_eff = min(k, len(y))
    if k_eff == 0:
        return float("nan")
    return _expected_hits_top_k(y, s, k_eff) / k_eff


def recall_at_k(y_true, y_score, k: int) -> float:
    """Share of all positives that are among the k highest-scored people."""
    y, s = _arrays(y_true, y_score)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    return _expected_hits_top_k(y, s, k) / n_pos


def calibration_table(y_true, y_prob, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Mean predicted probability vs observed rate per bin.

    ``strategy='quantile'`` makes bins of equal size (informative when most
    probabilities are small); ``'uniform'`` uses equal-width bins on [0, 1].
    Columns: ``bin, n, mean_predicted, observed_rate, bin_low, bin_high``.
    """
    y, p = _arrays(y_true, y_prob)
    if len(y) == 0:
        return pd.DataFrame(columns=["bin", "n", "mean_predicted", "observed_rate", "bin_low", "bin_high"])
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0, 1, n_bins + 1)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    if len(edges) < 2:
        edges = np.array([p.min(), p.max()])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"bin": idx, "p": p, "y": y})
    out = frame.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean")).reset_index()
    out["bin_low"] = edges[out["bin"]]
    out["bin_high"] = edges[out["bin"] + 1]
    return out


def operating_point(y_true, y_score, weeks, k: int, groups=None, z: float = 1.96) -> pd.DataFrame:
    """The list of the ``k`` highest scores each week, pooled over the weeks, with 95 % intervals.

    For each week the ``k`` highest-scored people are *flagged* (ties at the
    cut share the places, as in :func:`precision_at_k`). Pooled over the
    weeks: ``n_flagged``, ``hits`` (flagged who turned out positive),
    ``positives`` (everyone positive), ``precision = hits / flagged`` and
    ``sensitivity = hits / positives``, each with its Wilson interval. With
    ``groups``, one row per group as well (the group's share of the same
    force-wide list: its hits over its flagged and over its positives),
    after the ``"all"`` row. A person on the list in several weeks counts
    once a week, so the intervals treat person-weeks as independent and are
    somewhat too narrow.
    """
    y, s = _arrays(y_true, y_score)
    weeks = np.asarray(weeks, dtype=object).ravel()
    g = np.full(len(y), "all", dtype=object) if groups is None else pd.Series(groups, dtype="object").fillna("(missing)").astype(str).to_numpy()
    flagged_share = np.zeros(len(y))
    for week in pd.unique(weeks):
        idx = np.flatnonzero(weeks == week)
        kk = min(k, len(idx))
        if kk == 0:
            continue
        sw = s[idx]
        order = np.argsort(-sw, kind="mergesort")
        cut = sw[order[kk - 1]]
        above = sw > cut
        tied = sw == cut
        share = np.where(above, 1.0, 0.0)
        share[tied] = (kk - above.sum()) / tied.sum()
        flagged_share[idx] = share

    def row(label: str, mask: np.ndarray) -> dict:
        flagged = float(flagged_share[mask].sum())
        hits = float((flagged_share[mask] * y[mask]).sum())
        positives = float(y[mask].sum())
        p_lo, p_hi = wilson_interval(hits, flagged, z)
        s_lo, s_hi = wilson_interval(hits, positives, z)
        return {
            "group": label, "n": int(mask.sum()), "weeks": int(len(pd.unique(weeks[mask]))), "list_size": k,
            "n_flagged": flagged, "hits": hits, "positives": positives,
            "precision": hits / flagged if flagged else float("nan"), "precision_low": p_lo, "precision_high": p_hi,
            "sensitivity": hits / positives if positives else float("nan"), "sensitivity_low": s_lo, "sensitivity_high": s_hi,
        }

    rows = [row("all", np.ones(len(y), dtype=bool))]
    if groups is not None:
        rows += [row(label, g == label) for label in sorted(set(g))]
    return pd.DataFrame(rows)


def lift_table(y_true, y_score, n_bins: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift by score decile (bin 1 = highest scores).

    ``lift`` is the positive rate in the bin over the overall rate;
    ``cumulative_recall`` the share of positives found by reviewing the bins
    down to this one. Ties are broken by the original order (stable).
    """
    y, s = _arrays(y_true, y_score)
    n = len(y)
    if n == 0 or y.sum() == 0:
        return pd.DataFrame(columns=["bin", "n", "positives", "rate", "lift", "cumulative_share", "cumulative_recall"])
    order = np.argsort(-s, kind="mergesort")
    y_sorted = y[order]
    bins = np.minimum((np.arange(n) * n_bins) // n, n_bins - 1) + 1
    frame = pd.DataFrame({"bin": bins, "y": y_sorted})
    out = frame.groupby("bin").agg(n=("y", "size"), positives=("y", "sum")).reset_index()
    base = y.mean()
    out["rate"] = out["positives"] / out["n"]
    out["lift"] = out["rate"] / base
    out["cumulative_share"] = out["n"].cumsum() / n
    out["cumulative_recall"] = out["positives"].cumsum() / y.sum()
    return out


def classification_summary(y_true, y_score, y_prob=None, top_k=(100, 250, 500), ece_bins: int = 10) -> dict[str, float]:
    """All headline metrics of one test week in one dict.

    ``y_prob`` (calibrated probabilities) is needed for the Brier score, the
    Brier skill and the expected calibration error; a ranking-only score
    passes ``None`` and gets NaN for them.
    """
    y, s = _arrays(y_true, y_score)
    out = {
        "n": float(len(y)),
        "positives": float(y.sum()),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "roc_auc": roc_auc(y, s),
        "pr_auc": average_precision(y, s),
        "brier": brier_score(y, y_prob) if y_prob is not None else float("nan"),
        "brier_skill": brier_skill_score(y, y_prob) if y_prob is not None else float("nan"),
        "ece": expected_calibration_error(y, y_prob, n_bins=ece_bins) if y_prob is not None else float("nan"),
    }
    for k in top_k:
        out[f"precision_at_{k}"] = precision_at_k(y, s, k)
        out[f"recall_at_{k}"] = recall_at_k(y, s, k)
    return out
