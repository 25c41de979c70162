"""Group fairness measures for a risk score, and the tolerance that flags a group.

:func:`fairness_table` is the core: one row per group with the confusion
rates at an operating threshold, the AUC within the group and the group's
calibration (mean predicted vs observed). :func:`fairness_audit` adds, for
each group, the same measures for *everyone else* and flags the measures on
which the group differs from the rest beyond :class:`FairnessTolerance`.

Conventions
-----------
- A person is *selected* (predicted positive) when ``y_score >= threshold``.
- Rates are fractions in [0, 1].
- ``fpr = FP / negatives``, ``fnr = FN / positives``, ``ppv = TP / selected``.
- A rate whose denominator is zero in a group is **NaN**, not 0: a group
  with no negatives has no false positive rate, a group nobody was selected
  from has no PPV. AUC is NaN when a group holds only one class.
- Missing group values are reported as the group ``"(missing)"``, never
  dropped, so the group sizes add up to the whole.
- ``mean_score`` is the mean of ``y_score``; when the score is a calibrated
  probability, ``calibration_gap = mean_score - base_rate`` is the group's
  calibration-in-the-large (positive: the model over-predicts for the group).

Flags are prompts for human review, not verdicts. Differences in selection
rate between groups are expected wherever base rates differ; the table shows
base rates beside them so a reviewer can tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wmp_pipeline.evaluation.classification import roc_auc

MISSING_GROUP = "(missing)"

#: The first columns of :func:`fairness_table`, in order.
FAIRNESS_COLUMNS = ["group", "n", "base_rate", "selection_rate", "fpr", "fnr", "ppv", "auc"]

#: rate -> (numerator column, denominator column) used for significance tests
_RATES = {
    "selection_rate": ("selected", "n"),
    "fpr": ("false_positives", "negatives"),
    "fnr": ("false_negatives", "positives"),
    "ppv": ("true_positives", "selected"),
}


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _group_labels(groups) -> np.ndarray:
    values = pd.Series(groups, dtype="object")
    return values.where(values.notna(), MISSING_GROUP).astype(str).to_numpy()


def _confusion(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    selected = s >= threshold
    positives = float(y.sum())
    n = float(len(y))
    tp = float((selected & (y == 1)).sum())
    fp = float((selected & (y == 0)).sum())
    fn = positives - tp
    sel = float(selected.sum())
    return {
        "n": n,
        "positives": positives,
        "negatives": n - positives,
        "selected": sel,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "base_rate": _ratio(positives, n),
        "selection_rate": _ratio(sel, n),
        "fpr": _ratio(fp, n - positives),
        "fnr": _ratio(fn, positives),
        "ppv": _ratio(tp, sel),
        "auc": roc_auc(y, s) if len(y) else float("nan"),
        "mean_score": float(s.mean()) if len(s) else float("nan"),
    }


def _validated(y_true, y_score, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    g = _group_labels(groups)
    if not (len(y) == len(s) == len(g)):
        raise ValueError(f"y_true, y_score and groups differ in length: {len(y)}, {len(s)}, {len(g)}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if np.isnan(s).any():
        raise ValueError("y_score holds NaN")
    return y, s, g


def fairness_table(y_true, y_score, groups, threshold: float) -> pd.DataFrame:
    """One row per group: size, base rate and the model's behaviour at ``threshold``.

    Parameters
    ----------
    y_true : array of 0/1 outcomes.
    y_score : array of scores (probabilities for the calibration columns).
    groups : array of group labels (any hashable; missing values become
        ``"(missing)"``).
    threshold : a person is selected when ``y_score >= threshold``.

    Returns
    -------
    DataFrame sorted by group with columns ``group, n, base_rate,
    selection_rate, fpr, fnr, ppv, auc`` followed by ``mean_score,
    calibration_gap, positives, negatives, selected, true_positives,
    false_positives, false_negatives``. Undefined rates are NaN (see the
    module docstring).
    """
    y, s, g = _validated(y_true, y_score, groups)
    rows = []
    for label in sorted(set(g)):
        mask = g == label
        row = {"group": label, **_confusion(y[mask], s[mask], threshold)}
        rows.append(row)
    columns = FAIRNESS_COLUMNS + [
        "mean_score",
        "calibration_gap",
        "positives",
        "negatives",
        "selected",
        "true_positives",
        "false_positives",
        "false_negatives",
    ]
    table = pd.DataFrame(rows, columns=[c for c in columns if c != "calibration_gap"])
    table["calibration_gap"] = table["mean_score"] - table["base_rate"]
    table["n"] = table["n"].astype("int64")
    for c in ("positives", "negatives", "selected", "true_positives", "false_positives", "false_negatives"):
        table[c] = table[c].astype("int64")
    return table[columns]


@dataclass(frozen=True)
class FairnessTolerance:
    """When a group's measure is flagged as different from everyone else's.

    A rate (selection rate, FPR, FNR, PPV) is flagged when **both**

    - it is materially different: the ratio group/rest is outside
      ``[min_ratio, 1 / min_ratio]`` (default 0.8 to 1.25, the "four-fifths"
      rule of thumb applied in both directions), and
    - the difference is unlikely to be noise: a two-proportion z-test gives
      ``|z| >= z_min`` (default 3, roughly p < 0.003 two-sided, a strict
      level because many groups and measures are tested at once).

    AUC is flagged when it differs from the rest's AUC by more than
    ``auc_tolerance`` (default 0.05) and the group has at least
    ``min_class_size`` positives and negatives. Calibration is flagged when
    the group's observed/expected ratio (positives over the sum of predicted
    probabilities) is outside ``[min_ratio, 1/min_ratio]`` and the binomial
    z of observed vs expected has ``|z| >= z_min``. Groups smaller than
    ``min_group_size`` are never flagged: they are too small to say.
    """

    min_ratio: float = 0.8
    z_min: float = 3.0
    auc_tolerance: float = 0.05
    min_group_size: int = 30
    min_class_size: int = 10

    def describe(self) -> str:
        return (
            f"rates flagged when group/rest ratio is outside [{self.min_ratio:g}, {1 / self.min_ratio:g}] "
            f"and |z| >= {self.z_min:g}; AUC flagged when |group - rest| > {self.auc_tolerance:g} "
            f"(>= {self.min_class_size} of each class); calibration flagged when observed/expected is outside "
            f"[{self.min_ratio:g}, {1 / self.min_ratio:g}] and |z| >= {self.z_min:g}; "
            f"groups under {self.min_group_size} never flagged"
        )


def two_proportion_z(x1: float, n1: float, x2: float, n2: float) -> float:
    """z statistic of the difference between x1/n1 and x2/n2 (pooled SE); NaN if undefined."""
    if n1 <= 0 or n2 <= 0:
        return float("nan")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0 if p1 == p2 else float("inf")
    return float((p1 - p2) / se)


def _outside_ratio(value: float, rest: float, min_ratio: float) -> bool:
    if np.isnan(value) or np.isnan(rest):
        return False
    if rest == 0:
        return value > 0
    ratio = value / rest
    return ratio < min_ratio or ratio > 1 / min_ratio


def fairness_audit(
    y_true,
    y_score,
    groups,
    threshold: float,
    tolerance: FairnessTolerance = FairnessTolerance(),
    attribute: str | None = None,
) -> pd.DataFrame:
    """:func:`fairness_table` plus, per group, the rest's measures and the flags.

    Adds ``<measure>_rest`` for selection_rate, fpr, fnr, ppv, auc and
    base_rate, ``observed_expected`` (positives / sum of scores),
    ``calibration_z``, ``flags`` (comma-separated measures flagged, empty
    when none) and ``flagged``. With ``attribute`` set, a first column
    ``attribute`` names the grouping (e.g. ``"sex"``).
    """
    y, s, g = _validated(y_true, y_score, groups)
    table = fairness_table(y, s, g, threshold)
    rest_rows, flags, oe, cal_z = [], [], [], []
    for row in table.itertuples(index=False):
        mask = g == row.group
        rest = _confusion(y[~mask], s[~mask], threshold)
        rest_rows.append({f"{k}_rest": rest[k] for k in ("base_rate", "selection_rate", "fpr", "fnr", "ppv", "auc")})
        expected = float(s[mask].sum())
        variance = float((s[mask] * (1 - s[mask])).sum())
        ratio_oe = _ratio(row.positives, expected)
        z_cal = (row.positives - expected) / np.sqrt(variance) if variance > 0 else float("nan")
        oe.append(ratio_oe)
        cal_z.append(z_cal)
        flagged: list[str] = []
        if row.n >= tolerance.min_group_size and rest["n"] > 0:
            for rate, (num, den) in _RATES.items():
                value, other = getattr(row, rate), rest[rate]
                z = two_proportion_z(getattr(row, num), getattr(row, den), rest[num], rest[den])
                if _outside_ratio(value, other, tolerance.min_ratio) and abs(z) >= tolerance.z_min:
                    flagged.append(rate)
            enough = min(row.positives, row.negatives) >= tolerance.min_class_size
            if enough and not np.isnan(row.auc) and not np.isnan(rest["auc"]):
                if abs(row.auc - rest["auc"]) > tolerance.auc_tolerance:
                    flagged.append("auc")
            if not np.isnan(ratio_oe) and not np.isnan(z_cal):
                if _outside_ratio(ratio_oe, 1.0, tolerance.min_ratio) and abs(z_cal) >= tolerance.z_min:
                    flagged.append("calibration")
        flags.append(",".join(flagged))
    out = pd.concat([table, pd.DataFrame(rest_rows, index=table.index)], axis=1)
    out["observed_expected"] = oe
    out["calibration_z"] = cal_z
    out["flags"] = flags
    out["flagged"] = out["flags"] != ""
    if attribute is not None:
        out.insert(0, "attribute", attribute)
    return out


#: columns a suppressed group keeps
SUPPRESSION_KEEP = ("run_id", "model_version", "model", "attribute", "threshold", "group", "list_size", "weeks")


def suppress_small_groups(table: pd.DataFrame, min_size: int, size_column: str = "n") -> pd.DataFrame:
    """Blank every measure of the groups with fewer than ``min_size`` people (analyst-facing tables).

    A suppressed row keeps its attribute and group label, has ``suppressed``
    true, NULL size and measures and no flags, so a reader sees that the
    group exists but not how many people are in it nor how they fared (with
    so few people, a rate can point to a person). Other rows are unchanged.
    """
    out = table.copy()
    small = out[size_column].astype(float) < min_size
    out["suppressed"] = small.to_numpy()
    if not small.any():
        return out
    for column in out.columns:
        if column in SUPPRESSION_KEEP or column == "suppressed":
            continue
        if column == "flags":
            out[column] = out[column].astype(object)
            out.loc[small, column] = ""
        elif column == "flagged":
            out[column] = out[column].fillna(False).astype(bool)
            out.loc[small, column] = False
        else:
            if pd.api.types.is_integer_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
                out[column] = out[column].astype("Float64" if pd.api.types.is_integer_dtype(out[column]) else "boolean")
            out.loc[small, column] = None
    return out
