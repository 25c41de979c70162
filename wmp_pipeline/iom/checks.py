"""The IOM assets' checks and metadata summaries, as plain functions (no Dagster).

Each check returns a :class:`CheckOutcome`; the Dagster layer turns it into
an ``AssetCheckResult`` (``markdown`` values become markdown metadata). None
of these put a person identifier or an offender key into metadata.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from wmp_pipeline.harm import BANDS
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.iom.scoring import RISK_SCORE_COLUMNS
from wmp_pipeline.markdown import markdown_table

#: columns that must never appear in an analyst table
IDENTIFYING_COLUMNS = {"person_id", "date_of_birth", "self_defined_ethnicity", "home_lsoa_code", "sex"}
OFFENDER_KEY_PATTERN = re.compile(r"^OFF-[0-9A-F]{16}$")
#: the fairness audit's columns shown in metadata
AUDIT_SHOWN = ["attribute", "group", "n", "base_rate", "selection_rate", "fpr", "fnr", "ppv", "auc", "mean_score", "flags"]


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: str  # "ERROR" or "WARN"
    metadata: dict = field(default_factory=dict)
    #: metadata values that are markdown text
    markdown: dict = field(default_factory=dict)


def snapshot_coverage(eligible_in_offender_week: int, snapshot_rows: int) -> CheckOutcome:
    return CheckOutcome(
        "forecast_week_covers_every_eligible_offender",
        passed=int(eligible_in_offender_week) == int(snapshot_rows),
        severity="ERROR",
        metadata={"eligible_in_iom_offender_week": int(eligible_in_offender_week), "snapshot_rows": int(snapshot_rows)},
    )


def metrics_markdown(summary: pd.DataFrame, config: IomConfig) -> str:
    if summary is None or len(summary) == 0:
        return "_no test week could be evaluated_"
    wanted = ["roc_auc", "pr_auc", "brier", "brier_skill", "ece", *(f"precision_at_{k}" for k in config.top_k), f"recall_at_{config.operating_top_k}"]
    cols = [c for c in wanted if c in summary.columns]
    return markdown_table(summary[cols].reset_index())


def served_model_checks(selection: dict, calibration: dict, kept_previous: bool, reason: str, ece_goal: float) -> list[CheckOutcome]:
    """The served model is this run's backtest champion, and its pooled calibration error is within the goal."""
    champion = selection.get("champion", "")
    served = CheckOutcome(
        "served_model_is_the_backtest_champion",
        passed=bool(champion) and not kept_previous,
        severity="WARN",
        metadata={
            "champion": champion or "none recorded",
            "runner_up": selection.get("runner_up") or "none",
            "margin": rounded(selection.get("margin")),
            "kept_previous_model": kept_previous,
            "why": reason if kept_previous else selection.get("reason", ""),
        },
    )
    ece = calibration.get("ece")
    ece_ok = ece is not None and not math.isnan(float(ece)) and float(ece) <= ece_goal
    calibrated = CheckOutcome(
        "calibration_error_within_goal",
        passed=ece_ok,
        severity="WARN",
        metadata={"ece_pooled": rounded(ece), "goal": ece_goal, "brier_skill": rounded(calibration.get("brier_skill"))},
    )
    return [served, calibrated]


def rounded(value, digits: int = 4):
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else round(v, digits)


def operating_markdown(operating: pd.DataFrame) -> str:
    if operating is None or operating.empty:
        return "_not available_"
    cols = ["attribute", "group", "n_flagged", "positives", "sensitivity", "sensitivity_low", "sensitivity_high",
            "precision", "precision_low", "precision_high", "suppressed"]
    return markdown_table(operating[[c for c in cols if c in operating.columns]], floatfmt="{:.3f}")


def fairness_check(table: pd.DataFrame) -> CheckOutcome:
    """Error rates, AUC and calibration within tolerance for every group (selection-rate gaps follow base rates)."""
    if table.empty:
        return CheckOutcome("error_rates_within_tolerance", False, "WARN", {"reason": "no backtest predictions to audit"})
    error_flags = table["flags"].fillna("").str.split(",").apply(lambda fs: [f for f in fs if f and f != "selection_rate"])
    flagged = table[error_flags.str.len() > 0]
    shown = [c for c in AUDIT_SHOWN if c in table.columns]
    return CheckOutcome(
        "error_rates_within_tolerance",
        passed=flagged.empty,
        severity="WARN",
        markdown={"flagged": markdown_table(flagged[shown]) if len(flagged) else "_none_"},
    )


def fairness_summary(table: pd.DataFrame) -> tuple[dict, dict]:
    """``(metadata, markdown metadata)`` of the audit."""
    shown = [c for c in AUDIT_SHOWN if c in table.columns]
    meta = {
        "model": str(table["model"].iloc[0]) if "model" in table else "xgboost",
        "model_version": str(table["model_version"].iloc[0]),
        "threshold": round(float(table["threshold"].iloc[0]), 4),
        "groups": len(table),
        "groups_suppressed": int(table["suppressed"].sum()) if "suppressed" in table else 0,
        "groups_flagged": int(table["flagged"].fillna(False).astype(bool).sum()),
    }
    return meta, {"audit": markdown_table(table[shown])}


def risk_score_checks(week: pd.DataFrame, columns: list[str], unkeyed: int) -> list[CheckOutcome]:
    """The analyst table holds no identifier, probabilities exactly for the eligible, ranks 1..n."""
    bad_columns = sorted(IDENTIFYING_COLUMNS & set(columns))
    bad_keys = int((~week["offender_key"].astype(str).str.match(OFFENDER_KEY_PATTERN)).sum())
    probs = week["probability"].dropna()
    prob_ok = bool(((probs >= 0) & (probs <= 1)).all())
    missing_prob = int(((week["band"].isin(["high", "super_high"])) == week["probability"].notna()).sum())
    ranks = week["rank"].dropna().astype(int).sort_values().to_numpy()
    ranks_ok = bool(len(ranks) == len(probs) and (ranks == range(1, len(ranks) + 1)).all())
    return [
        CheckOutcome(
            "no_person_identifiers",
            passed=not bad_columns and bad_keys == 0 and unkeyed == 0 and columns[: len(RISK_SCORE_COLUMNS)] == RISK_SCORE_COLUMNS,
            severity="ERROR",
            metadata={
                "identifying_columns": ", ".join(bad_columns) or "none",
                "malformed_offender_keys": bad_keys,
                "keys_missing_from_restricted_table": int(unkeyed),
            },
        ),
        CheckOutcome(
            "probabilities_in_unit_interval",
            passed=prob_ok and missing_prob == 0,
            severity="ERROR",
            metadata={"with_probability": len(probs), "eligibility_mismatches": missing_prob},
        ),
        CheckOutcome(
            "ranks_complete_and_unique",
            passed=ranks_ok,
            severity="ERROR",
            metadata={"ranked": len(ranks), "with_probability": len(probs)},
        ),
    ]


def risk_score_summary(week: pd.DataFrame, list_size: int) -> dict:
    """Markdown summaries of a scored week: offenders per band and the commonest first reasons on the list."""
    by_band = (
        week.groupby("band", sort=False)
        .agg(offenders=("offender_key", "size"), mean_probability=("probability", "mean"), max_probability=("probability", "max"))
        .reindex(list(BANDS))
        .dropna(how="all")
        .reset_index()
    )
    top = week[week["rank"].notna() & (week["rank"] <= list_size)]
    reasons = (
        top["reason_1"].dropna().str.replace(r"[0-9,.+\-]+", "N", regex=True).value_counts().head(8)
        .rename_axis("top reason (values masked)").reset_index()
    )
    return {"by_band": markdown_table(by_band), f"most_common_first_reason_in_top_{list_size}": markdown_table(reasons)}


def risk_week(con, forecast_date: date) -> tuple[pd.DataFrame, list[str], int]:
    """The week's analyst rows, the table's columns, and rows whose key is missing from the restricted table."""
    week = con.execute("select * from iom_risk_scores where week = ?", [forecast_date]).df()
    columns = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_name = 'iom_risk_scores' order by ordinal_position"
    ).fetchall()]
    unkeyed = con.execute(
        "select count(*) from iom_risk_scores s where week = ? and not exists "
        "(select 1 from restricted_person_keys k where k.offender_key = s.offender_key)",
        [forecast_date],
    ).fetchall()[0][0]
    return week, columns, int(unkeyed)
