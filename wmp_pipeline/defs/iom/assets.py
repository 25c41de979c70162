"""IOM assets: weekly offender snapshots, the escalation model, its fairness audit and the analyst scores.

Thin wrappers: the steps are :mod:`wmp_pipeline.iom.runner`, the checks and
summaries :mod:`wmp_pipeline.iom.checks`; the settings arrive once, as the
``iom`` resource (:class:`~wmp_pipeline.defs.iom.resources.IomResource`).
Metadata carries counts, metrics, plots and aggregate tables only: never a
person identifier or an offender key.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from wmp_pipeline.defs.iom.resources import IomResource
from wmp_pipeline.defs.partitions import forecast_date_for_partition, weekly_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.iom import checks, runner
from wmp_pipeline.iom.config import horizon_in_words
from wmp_pipeline.markdown import png_markdown

GROUP = "iom"
OFFENDER_WEEK = AssetKey("iom_offender_week")
CHARGES_HARM = AssetKey("int_charges__harm")
PERSONS = AssetKey("stg_connect__persons")
SNAPSHOTS = AssetKey("iom_snapshots")
MODEL = AssetKey("iom_model")
FAIRNESS = AssetKey("iom_fairness_audit")
RISK_SCORES = AssetKey("iom_risk_scores")


def _check_result(outcome: checks.CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else AssetCheckSeverity.WARN,
        metadata={**outcome.metadata, **{k: MetadataValue.md(v) for k, v in outcome.markdown.items()}},
    )


@asset(
    key=SNAPSHOTS,
    group_name=GROUP,
    kinds={"python", "duckdb", "sql"},
    deps=[OFFENDER_WEEK, CHARGES_HARM, PERSONS],
    partitions_def=weekly_partitions,
    description="The forecast week's snapshot of every IOM-eligible offender (charged in the last 730 days, not yet "
    "high harm): features known at the snapshot date and the audit attributes (sex, age band, ethnicity group; not "
    "features). The training and test weeks are built by iom_model when it retrains (iom_training_snapshots).",
    check_specs=[AssetCheckSpec("forecast_week_covers_every_eligible_offender", asset=SNAPSHOTS)],
)
def iom_snapshots(context: AssetExecutionContext, warehouse: WarehouseResource, iom: IomResource):
    forecast_date = forecast_date_for_partition(context.partition_key)
    with warehouse.connect() as con:
        result = runner.run_snapshots(con, forecast_date, iom.config(), log=context.log)
        eligible = runner.eligible_in_offender_week(con, forecast_date)
    return MaterializeResult(
        metadata={
            "forecast_week": forecast_date.isoformat(),
            "rows": result.rows,
            "eligible_on_forecast_week": result.eligible_on_forecast_date,
            "seconds": round(result.seconds, 1),
        },
        check_results=[_check_result(checks.snapshot_coverage(eligible, result.eligible_on_forecast_date))],
    )


@asset(
    key=MODEL,
    group_name=GROUP,
    kinds={"python", "duckdb", "xgboost"},
    deps=[SNAPSHOTS],
    partitions_def=weekly_partitions,
    description="The escalation model, retrained every few weeks: a rolling-origin backtest of the candidates "
    "(monotone xgboost, logistic regression, rank by harm score) chooses the champion by precision at the list size "
    "(a win within noise keeps the simpler model); the champion is fitted, calibrated and served. Model, version, "
    "training window and data hash under artifacts/models/iom, a model card under artifacts/model_cards; metrics in "
    "iom_model_metrics, the choice and the operating point in iom_model_selection and iom_operating_point. When "
    "retraining fails, the previous model keeps serving and the selection table says why.",
    check_specs=[
        AssetCheckSpec("served_model_is_the_backtest_champion", asset=MODEL),
        AssetCheckSpec("calibration_error_within_goal", asset=MODEL),
    ],
)
def iom_model(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
    iom: IomResource,
):
    forecast_date = forecast_date_for_partition(context.partition_key)
    config = iom.config()
    with warehouse.connect() as con:
        result = runner.run_training(
            con, pipeline.settings(), forecast_date, config, force=iom.force_retrain, run_id=context.run_id[:12], log=context.log
        )
    if result.kept_previous:
        context.log.warning(result.reason)
    selection = result.selection
    meta = {
        "model_version": result.model_version,
        "trained_for": result.trained_for.isoformat(),
        "retrained_now": result.retrained,
        "why": result.reason,
        "served_model": selection.get("champion", "xgboost"),
        "runner_up": selection.get("runner_up") or "none",
        "horizon": horizon_in_words(config.windows.horizon_days),
        "horizon_weeks": config.horizon_weeks,
    }
    if result.retrained:
        meta.update(
            {
                "margin_over_runner_up": checks.rounded(selection.get("margin")),
                "choice": selection.get("reason", ""),
                "ece_pooled": checks.rounded(result.calibration.get("ece")),
                "brier_skill_pooled": checks.rounded(result.calibration.get("brier_skill")),
                "mean_test_metrics": MetadataValue.md(checks.metrics_markdown(result.summary, config)),
                "operating_point": MetadataValue.md(checks.operating_markdown(result.operating)),
                "test_weeks": int((result.origins["status"] == "tested").sum()) if len(result.origins) else 0,
                "training_rows": result.n_training_rows,
                "model_card": MetadataValue.path(result.model_card),
                **{k: round(v, 1) for k, v in result.timings.items()},
            }
        )
        if result.calibration_png:
            meta["calibration_plot"] = MetadataValue.md(png_markdown(result.calibration_png, "calibration"))
        if result.lift_png:
            meta["lift_chart"] = MetadataValue.md(png_markdown(result.lift_png, "cumulative gains"))
    outcomes = checks.served_model_checks(selection, result.calibration, result.kept_previous, result.reason, runner.ECE_GOAL)
    return MaterializeResult(metadata=meta, check_results=[_check_result(o) for o in outcomes])


@asset(
    key=FAIRNESS,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    deps=[MODEL],
    partitions_def=weekly_partitions,
    description="Fairness audit of the served model's rolling-origin test predictions by sex, age band and "
    "ethnicity group at the operating point (the list size a week): n, base rate, selection rate, FPR, FNR, PPV, "
    "AUC, calibration, with flags beyond the documented tolerance (docs/iom.md); groups under the minimum size "
    "suppressed. Rows in iom_fairness_audit.",
    check_specs=[AssetCheckSpec("error_rates_within_tolerance", asset=FAIRNESS)],
)
def iom_fairness_audit(context: AssetExecutionContext, warehouse: WarehouseResource, iom: IomResource):
    with warehouse.connect() as con:
        table, run_id = runner.run_fairness(con, iom.config())
    check = _check_result(checks.fairness_check(table))
    if table.empty:
        return MaterializeResult(metadata={"audited": False, "why": "no backtest predictions yet"}, check_results=[check])
    meta, markdown = checks.fairness_summary(table)
    return MaterializeResult(
        metadata={"run_id": run_id, **meta, **{k: MetadataValue.md(v) for k, v in markdown.items()}},
        check_results=[check],
    )


@asset(
    key=RISK_SCORES,
    group_name=GROUP,
    kinds={"python", "duckdb", "xgboost"},
    deps=[MODEL, SNAPSHOTS, OFFENDER_WEEK],
    partitions_def=weekly_partitions,
    description="Analyst table: every charged offender's harm score and band for the week; for those not yet "
    "high harm, the calibrated probability of becoming high harm within the horizon (horizon_weeks), the review "
    "rank (low-medium first, then by probability) and three reasons (ages given as age bands). Pseudonymous "
    "offender_key only; the re-identification table restricted_person_keys stays in the working database.",
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
    iom: IomResource,
):
    forecast_date = forecast_date_for_partition(context.partition_key)
    config = iom.config()
    with warehouse.connect() as con:
        result = runner.run_scoring(con, pipeline.settings(), forecast_date, config)
        week, columns, unkeyed = checks.risk_week(con, forecast_date)
    summary = checks.risk_score_summary(week, config.operating_top_k)
    return MaterializeResult(
        metadata={
            "forecast_week": forecast_date.isoformat(),
            "model_version": result.model_version,
            "served_model": result.model_kind,
            "horizon_weeks": config.horizon_weeks,
            "offenders_scored": result.rows,
            "eligible_with_probability": result.eligible,
            "mean_probability": round(result.mean_probability, 4),
            "seconds": round(result.seconds, 1),
            **{k: MetadataValue.md(v) for k, v in summary.items()},
        },
        check_results=[_check_result(o) for o in checks.risk_score_checks(week, columns, unkeyed)],
    )


assets = [iom_snapshots, iom_model, iom_fairness_audit, iom_risk_scores]
