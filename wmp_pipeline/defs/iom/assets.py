"""IOM assets: weekly offender snapshots, the escalation model, its fairness audit and the analyst scores.

Thin wrappers over :mod:`wmp_pipeline.iom.runner`. Metadata carries counts,
metrics, plots and aggregate tables only: never a person identifier or an
offender key.
"""


import math
import re

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from wmp_pipeline.defs.partitions import forecast_date_of, force_week_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.iom import artifacts, runner
from wmp_pipeline.iom.config import DEFAULT_CONFIG, IomConfig
from wmp_pipeline.markdown import markdown_table, png_markdown
from wmp_pipeline.iom.scoring import RISK_SCORE_COLUMNS

GROUP = "iom"
OFFENDER_WEEK = AssetKey("iom_offender_week")
CHARGES_HARM = AssetKey("int_charges__harm")
PERSONS = AssetKey("stg_connect__persons")
SNAPSHOTS = AssetKey("iom_snapshots")
MODEL = AssetKey("iom_model")
FAIRNESS = AssetKey("iom_fairness_audit")
RISK_SCORES = AssetKey("iom_risk_scores")

#: columns that must never appear in an analyst table
IDENTIFYING_COLUMNS = {"person_id", "date_of_birth", "self_defined_ethnicity", "home_lsoa_code", "sex"}
OFFENDER_KEY_PATTERN = re.compile(r"^OFF-[0-9A-F]{16}$")
SUMMARY_METRICS = ["roc_auc", "pr_auc", "brier", "precision_at_100", "precision_at_250", "precision_at_500", "recall_at_250"]


class IomModelConfig(Config):
    """Retraining cadence: retrain when the newest model is this many weeks old (0 = every week)."""

    retrain_every_weeks: int = DEFAULT_CONFIG.retrain_every_weeks
    force_retrain: bool = False


def _iom_config(retrain_every_weeks: int = DEFAULT_CONFIG.retrain_every_weeks) -> IomConfig:
    return IomConfig(retrain_every_weeks=retrain_every_weeks)


def _metrics_md(summary: pd.DataFrame) -> str:
    if summary is None or len(summary) == 0:
        return "_no test week could be evaluated_"
    cols = [c for c in SUMMARY_METRICS if c in summary.columns]
    return markdown_table(summary[cols].reset_index())


@asset(
    key=SNAPSHOTS,
    group_name=GROUP,
    kinds={"python", "duckdb", "sql"},
    deps=[OFFENDER_WEEK, CHARGES_HARM, PERSONS],
    partitions_def=force_week_partitions,
    description="Weekly snapshots of every IOM-eligible offender (charged in the last 730 days, not yet high harm): "
    "features known at the snapshot date, the 365-day escalation label where complete, and the audit attributes "
    "(sex, age band, ethnicity group; not features). Training and test weeks are built only when retraining is due.",
    check_specs=[AssetCheckSpec("forecast_week_covers_every_eligible_offender", asset=SNAPSHOTS)],
)
def iom_snapshots(
    context: AssetExecutionContext,
    config: IomModelConfig,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
):
    forecast_date = forecast_date_of(context)
    cfg = _iom_config(config.retrain_every_weeks)
    settings = pipeline.settings()
    newest = artifacts.newest_model(settings.artifacts_dir, on_or_before=forecast_date, features=runner.features_for(cfg))
    due, reason = artifacts.retraining_due(
        newest, forecast_date, cfg.retrain_every_weeks, [f.name for f in runner.features_for(cfg)]
    )
    with_training = due or config.force_retrain
    with warehouse.connect() as con:
        result = runner.run_snapshots(con, forecast_date, cfg, with_training=with_training, log=context.log)
        eligible = con.execute(
            "select count(*) from iom_offender_week where week = ? and is_eligible", [forecast_date]
        ).fetchall()[0][0]
    return MaterializeResult(
        metadata={
            "forecast_week": forecast_date.isoformat(),
            "rows": result.rows,
            "snapshot_weeks": result.weeks,
            "training_weeks_built": with_training,
            "why": reason if with_training else "no retraining due: only the forecast week is built",
            "test_weeks": len(result.test_weeks),
            "eligible_on_forecast_week": result.eligible_on_forecast_date,
            "labelled_rows": result.labelled_rows,
            "positive_rows": result.positives,
            "seconds": round(result.seconds, 1),
        },
        check_results=[
            AssetCheckResult(
                check_name="forecast_week_covers_every_eligible_offender",
                passed=int(eligible) == result.eligible_on_forecast_date,
                severity=AssetCheckSeverity.ERROR,
                metadata={"eligible_in_iom_offender_week": int(eligible), "snapshot_rows": result.eligible_on_forecast_date},
            )
        ],
    )


@asset(
    key=MODEL,
    group_name=GROUP,
    kinds={"python", "duckdb", "xgboost"},
    deps=[SNAPSHOTS],
    partitions_def=force_week_partitions,
    description="The escalation model (xgboost, calibrated), retrained every few weeks with a rolling-origin "
    "backtest against logistic regression and 'rank by current harm score'. Saves the model with its version, "
    "training window and data hash under artifacts/models/iom and a model card under artifacts/model_cards; "
    "metrics in iom_model_metrics.",
    check_specs=[AssetCheckSpec("model_beats_both_baselines", asset=MODEL)],
)
def iom_model(
    context: AssetExecutionContext,
    config: IomModelConfig,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
):
    forecast_date = forecast_date_of(context)
    cfg = _iom_config(config.retrain_every_weeks)
    settings = pipeline.settings()
    with warehouse.connect() as con:
        result = runner.run_training(
            con, settings, forecast_date, cfg, force=config.force_retrain, run_id=context.run_id[:12], log=context.log
        )
    if result.retrained:
        summary = result.summary
    else:
        saved = artifacts.newest_model(settings.artifacts_dir, on_or_before=forecast_date, features=runner.features_for(cfg))
        summary = pd.DataFrame.from_dict(saved.metadata.get("mean_test_metrics", {}), orient="index")
    meta = {
        "model_version": result.model_version,
        "trained_for": result.trained_for.isoformat(),
        "retrained_now": result.retrained,
        "why": result.reason,
        "mean_test_metrics": MetadataValue.md(_metrics_md(summary)),
    }
    if result.retrained:
        tested = result.origins[result.origins["status"] == "tested"] if len(result.origins) else result.origins
        meta.update(
            {
                "test_weeks": len(tested),
                "skipped_test_weeks": int(len(result.origins) - len(tested)),
                "training_rows": result.n_training_rows,
                "model_card": MetadataValue.path(result.model_card),
                **{k: round(v, 1) for k, v in result.timings.items()},
            }
        )
        if result.calibration_png:
            meta["calibration_plot"] = MetadataValue.md(png_markdown(result.calibration_png, "calibration"))
        if result.lift_png:
            meta["lift_chart"] = MetadataValue.md(png_markdown(result.lift_png, "cumulative gains"))
    beats, detail = _beats_baselines(summary)
    return MaterializeResult(
        metadata=meta,
        check_results=[
            AssetCheckResult(
                check_name="model_beats_both_baselines",
                passed=beats,
                severity=AssetCheckSeverity.WARN,
                metadata=detail,
            )
        ],
    )


def _beats_baselines(summary: pd.DataFrame) -> tuple[bool, dict]:
    """xgboost's mean test ROC AUC and precision in the top 250 above both baselines'."""
    needed = {"xgboost", "logistic", "harm_score"}
    if summary is None or not needed <= set(summary.index) or "roc_auc" not in summary.columns:
        return False, {"reason": "no backtest metrics for all three models"}
    detail = {}
    ok = True
    for metric in ("roc_auc", "precision_at_250"):
        if metric not in summary.columns:
            ok = False
            continue
        model = float(summary.loc["xgboost", metric])
        for base in ("logistic", "harm_score"):
            other = float(summary.loc[base, metric])
            detail[f"{metric}_vs_{base}"] = round(model - other, 4)
            ok = ok and not math.isnan(model) and model > other
    return ok, detail


@asset(
    key=FAIRNESS,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    deps=[MODEL],
    partitions_def=force_week_partitions,
    description="Fairness audit of the newest model's rolling-origin test predictions by sex, age band and "
    "ethnicity group at the operating point (top 250 a week): n, base rate, selection rate, FPR, FNR, PPV, AUC, "
    "calibration, with flags beyond the documented tolerance (docs/iom.md). Rows in iom_fairness_audit.",
    check_specs=[AssetCheckSpec("error_rates_within_tolerance", asset=FAIRNESS)],
)
def iom_fairness_audit(context: AssetExecutionContext, warehouse: WarehouseResource):
    cfg = DEFAULT_CONFIG
    with warehouse.connect() as con:
        table, run_id = runner.run_fairness(con, cfg)
    if table.empty:
        return MaterializeResult(
            metadata={"audited": False, "why": "no backtest predictions yet"},
            check_results=[
                AssetCheckResult(check_name="error_rates_within_tolerance", passed=False, severity=AssetCheckSeverity.WARN,
                                 metadata={"reason": "no backtest predictions to audit"})
            ],
        )
    cols = ["attribute", "group", "n", "base_rate", "selection_rate", "fpr", "fnr", "ppv", "auc", "mean_score", "flags"]
    # selection-rate differences follow base-rate differences: the check looks at error rates and calibration
    error_flags = table["flags"].str.split(",").apply(lambda fs: [f for f in fs if f and f != "selection_rate"])
    flagged = table[error_flags.str.len() > 0]
    return MaterializeResult(
        metadata={
            "run_id": run_id,
            "model_version": str(table["model_version"].iloc[0]),
            "threshold": round(float(table["threshold"].iloc[0]), 4),
            "groups": len(table),
            "groups_flagged": int(table["flagged"].sum()),
            "audit": MetadataValue.md(markdown_table(table[cols])),
        },
        check_results=[
            AssetCheckResult(
                check_name="error_rates_within_tolerance",
                passed=flagged.empty,
                severity=AssetCheckSeverity.WARN,
                metadata={"flagged": MetadataValue.md(markdown_table(flagged[cols]) if len(flagged) else "_none_")},
            )
        ],
    )


@asset(
    key=RISK_SCORES,
    group_name=GROUP,
    kinds={"python", "duckdb", "xgboost"},
    deps=[MODEL, SNAPSHOTS, OFFENDER_WEEK],
    partitions_def=force_week_partitions,
    description="Analyst table: every charged offender's harm score and band for the week; for those not yet "
    "high harm, the calibrated probability of becoming high harm within 365 days, the review rank (low-medium "
    "first, then by probability) and three reasons. Pseudonymous offender_key only; the re-identification "
    "table restricted_person_keys stays in the working database.",
    check_specs=[
        AssetCheckSpec("no_person_identifiers", asset=RISK_SCORES),
        AssetCheckSpec("probabilities_in_unit_interval", asset=RISK_SCORES),
        AssetCheckSpec("ranks_complete_and_unique", asset=RISK_SCORES),
    ],
)
def iom_risk_scores(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
):
    forecast_date = forecast_date_of(context)
    settings = pipeline.settings()
    with warehouse.connect() as con:
        result = runner.run_scoring(con, settings, forecast_date, DEFAULT_CONFIG)
        week = con.execute("select * from iom_risk_scores where week = ?", [forecast_date]).df()
        columns = [r[0] for r in con.execute("select column_name from information_schema.columns where table_name = 'iom_risk_scores'").fetchall()]
        unkeyed = con.execute(
            "select count(*) from iom_risk_scores s where week = ? and not exists "
            "(select 1 from restricted_person_keys k where k.offender_key = s.offender_key)",
            [forecast_date],
        ).fetchall()[0][0]
    bad_columns = sorted(IDENTIFYING_COLUMNS & set(columns))
    bad_keys = int((~week["offender_key"].astype(str).str.match(OFFENDER_KEY_PATTERN)).sum())
    probs = week["probability"].dropna()
    prob_ok = bool(((probs >= 0) & (probs <= 1)).all())
    missing_prob = int(((week["band"].isin(["high", "super_high"])) == week["probability"].notna()).sum())
    ranks = week["rank"].dropna().astype(int).sort_values().to_numpy()
    ranks_ok = bool(len(ranks) == len(probs) and (ranks == range(1, len(ranks) + 1)).all())

    by_band = (
        week.groupby("band", sort=False)
        .agg(offenders=("offender_key", "size"), mean_probability=("probability", "mean"), max_probability=("probability", "max"))
        .reindex(["low", "low_medium", "high_medium", "high", "super_high"])
        .dropna(how="all")
        .reset_index()
    )
    top = week[week["rank"].notna() & (week["rank"] <= 250)]
    reason_features = (
        top["reason_1"].dropna().str.replace(r"[0-9,.+\-]+", "N", regex=True).value_counts().head(8).rename_axis("top reason (values masked)").reset_index()
    )
    return MaterializeResult(
        metadata={
            "forecast_week": forecast_date.isoformat(),
            "model_version": result.model_version,
            "offenders_scored": result.rows,
            "eligible_with_probability": result.eligible,
            "mean_probability": round(result.mean_probability, 4),
            "by_band": MetadataValue.md(markdown_table(by_band)),
            "most_common_first_reason_in_top_250": MetadataValue.md(markdown_table(reason_features)),
            "seconds": round(result.seconds, 1),
        },
        check_results=[
            AssetCheckResult(
                check_name="no_person_identifiers",
                passed=not bad_columns and bad_keys == 0 and unkeyed == 0 and columns[: len(RISK_SCORE_COLUMNS)] == RISK_SCORE_COLUMNS,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "identifying_columns": ", ".join(bad_columns) or "none",
                    "malformed_offender_keys": bad_keys,
                    "keys_missing_from_restricted_table": int(unkeyed),
                },
            ),
            AssetCheckResult(
                check_name="probabilities_in_unit_interval",
                passed=prob_ok and missing_prob == 0,
                severity=AssetCheckSeverity.ERROR,
                metadata={"with_probability": len(probs), "eligibility_mismatches": missing_prob},
            ),
            AssetCheckResult(
                check_name="ranks_complete_and_unique",
                passed=ranks_ok,
                severity=AssetCheckSeverity.ERROR,
                metadata={"ranked": len(ranks), "with_probability": len(probs)},
            ),
        ],
    )


assets = [iom_snapshots, iom_model, iom_fairness_audit, iom_risk_scores]
