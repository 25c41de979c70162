"""Asset checks on the raw CONNECT tables: GX suites (blocking + warning) and reconciliation.

For each of ``raw.connect_persons|crimes|charges``:

- ``gx_blocking`` (blocking, severity ERROR): the suite's blocking
  expectations on the latest drop (keys present and unique, columns and types
  as loaded, table not empty, record_status known). A failure stops every
  downstream asset: forecasts on such data would be meaningless.
- ``gx_warnings`` (severity WARN): the rest (future or out-of-order dates,
  coordinates outside the force area, malformed LSOA codes, unknown offence
  codes, ...). Reported, never blocking.
- ``drop_reconciliation`` (blocking, severity ERROR): for every applied drop,
  rows delivered = rows loaded + rows quarantined.

The GX checks report every drop the latest ingest applied, one suite result
per drop, read from ``raw.connect_drop_expectations`` where ingest stored them
(the suites run once per drop, during ingest; see wmp_pipeline.quality.gx.store).

On ``raw.connect_drop_log``:

- ``drop_refusals`` (severity ERROR, not blocking): fails while the landing
  folder holds a drop the latest ingest refused (the state is unchanged by it;
  docs/data_quality.md says what the operator does);
- ``drop_sequence`` (severity WARN): fails when a weekly drop is missing
  between two applied drops.
"""

from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from wmp_pipeline.contract import TABLES
from wmp_pipeline.defs.ingest.assets import DROP_LOG_KEY, RAW_TABLE_KEYS
from wmp_pipeline.defs.ingest.resources import IngestResource
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.ingest.load import drop_sequence_gaps, latest_refusals
from wmp_pipeline.markdown import markdown_table
from wmp_pipeline.quality.force_area import force_area_bbox
from wmp_pipeline.quality.gx.store import drops_to_report, results_for
from wmp_pipeline.quality.metadata import drops_check_metadata, reconciliation_check_metadata
from wmp_pipeline.quality.reconciliation import reconcile_drops

BLOCKING_CHECK = "gx_blocking"
WARNING_CHECK = "gx_warnings"
RECONCILIATION_CHECK = "drop_reconciliation"


def _dagster_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: MetadataValue.md(v[1]) if isinstance(v, tuple) and v and v[0] == "md" else v for k, v in meta.items()}


def _suite_checks(table: str) -> AssetChecksDefinition:
    key = RAW_TABLE_KEYS[table]

    @multi_asset_check(
        name=f"connect_{table}_expectations",
        specs=[
            AssetCheckSpec(
                BLOCKING_CHECK,
                asset=key,
                blocking=True,
                description=f"Blocking Great Expectations rules (expectations/connect_{table}.json) on every drop the latest ingest applied.",
            ),
            AssetCheckSpec(
                WARNING_CHECK,
                asset=key,
                description=f"Warning Great Expectations rules (expectations/connect_{table}.json) on every drop the latest ingest applied.",
            ),
        ],
        compute_kind="great_expectations",
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource):
        with warehouse.connect() as con:
            results = results_for(con, table, drops_to_report(con), force_area_bbox(pipeline.settings()))
        failed_blocking = [f"{r.drop_id}: {o.label}" for r in results for o in r.failures("blocking")]
        failed_warning = [f"{r.drop_id}: {o.label}" for r in results for o in r.failures("warning")]
        for result in results:
            context.log.info(
                f"raw.connect_{table} drop {result.drop_id}: {result.rows_validated:,} of {result.rows_in_drop:,} rows validated; "
                f"{len(result.failures('blocking'))} blocking and {len(result.failures('warning'))} warning expectation(s) failed"
            )
        yield AssetCheckResult(
            asset_key=key,
            check_name=BLOCKING_CHECK,
            passed=not failed_blocking,
            severity=AssetCheckSeverity.ERROR,
            metadata=_dagster_metadata(drops_check_metadata(results, "blocking")),
            description="; ".join(failed_blocking) or None,
        )
        yield AssetCheckResult(
            asset_key=key,
            check_name=WARNING_CHECK,
            passed=not failed_warning,
            severity=AssetCheckSeverity.WARN,
            metadata=_dagster_metadata(drops_check_metadata(results, "warning")),
            description="; ".join(failed_warning) or None,
        )

    return _check


def _reconciliation_check(table: str) -> AssetChecksDefinition:
    key = RAW_TABLE_KEYS[table]

    @asset_check(
        asset=key,
        name=RECONCILIATION_CHECK,
        blocking=True,
        description=(
            f"Every {table} row each applied drop delivered is either in raw.connect_{table} "
            "or in raw.connect_quarantine: delivered = loaded + quarantined, per drop and file."
        ),
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.connect() as con:
            report = reconcile_drops(con).for_table(table)
        for problem in report.problems:
            context.log.error(problem)
        return AssetCheckResult(
            passed=report.balanced,
            severity=AssetCheckSeverity.ERROR,
            metadata=_dagster_metadata(reconciliation_check_metadata(report)),
            description=None if report.balanced else f"{len(report.problems)} file(s) do not reconcile",
        )

    return _check


@asset_check(
    asset=DROP_LOG_KEY,
    name="drop_refusals",
    description="No drop in the landing folder stands refused (a refused drop changed nothing; the operator accepts, replaces or removes it).",
)
def drop_refusals(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as con:
        refused = latest_refusals(con)
    return AssetCheckResult(
        passed=not refused,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "drops_refused": len(refused),
            "refused": MetadataValue.md(markdown_table([{"drop": d, "reason": r} for d, r in refused.items()]) if refused else "_none_"),
        },
        description="; ".join(f"{d}: {r}" for d, r in refused.items())[:2000] or None,
    )


@asset_check(
    asset=DROP_LOG_KEY,
    name="drop_sequence",
    description="No weekly CONNECT drop is missing between the first and the newest applied drop.",
)
def drop_sequence(warehouse: WarehouseResource, ingest: IngestResource) -> AssetCheckResult:
    with warehouse.connect() as con:
        gaps = drop_sequence_gaps(con, ingest.config().expected_interval_days)
    missing = sum(g["missing_drops"] for g in gaps)
    return AssetCheckResult(
        passed=not gaps,
        severity=AssetCheckSeverity.WARN,
        metadata={"missing_drops": missing, "gaps": MetadataValue.md(markdown_table(gaps) if gaps else "_none_")},
        description=f"{missing} drop(s) missing, expected on {', '.join(g['expected_dates'] for g in gaps)}" if gaps else None,
    )


asset_checks = [
    *(_suite_checks(t) for t in TABLES),
    *(_reconciliation_check(t) for t in TABLES),
    drop_refusals,
    drop_sequence,
]
