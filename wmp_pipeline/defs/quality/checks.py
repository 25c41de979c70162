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

The two GX checks of a table come from one suite run (a ``multi_asset_check``).
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
from wmp_pipeline.defs.ingest.assets import RAW_TABLE_KEYS
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.quality.gx_suites import run_connect_suite
from wmp_pipeline.quality.metadata import reconciliation_check_metadata, suite_check_metadata
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
                description=f"Blocking Great Expectations rules (expectations/connect_{table}.json) on the latest drop.",
            ),
            AssetCheckSpec(
                WARNING_CHECK,
                asset=key,
                description=f"Warning Great Expectations rules (expectations/connect_{table}.json) on the latest drop.",
            ),
        ],
        compute_kind="great_expectations",
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource):
        with warehouse.connect() as con:
            result = run_connect_suite(con, table, settings=pipeline.settings())
        failed_blocking = result.failures("blocking")
        failed_warning = result.failures("warning")
        context.log.info(
            f"raw.connect_{table} drop {result.drop_id}: {result.rows_validated:,} of {result.rows_in_drop:,} rows validated "
            f"in {result.elapsed_s:.1f}s; {len(failed_blocking)} blocking and {len(failed_warning)} warning expectation(s) failed"
        )
        yield AssetCheckResult(
            asset_key=key,
            check_name=BLOCKING_CHECK,
            passed=not failed_blocking,
            severity=AssetCheckSeverity.ERROR,
            metadata=_dagster_metadata(suite_check_metadata(result, "blocking")),
            description="; ".join(o.label for o in failed_blocking) or None,
        )
        yield AssetCheckResult(
            asset_key=key,
            check_name=WARNING_CHECK,
            passed=not failed_warning,
            severity=AssetCheckSeverity.WARN,
            metadata=_dagster_metadata(suite_check_metadata(result, "warning")),
            description="; ".join(o.label for o in failed_warning) or None,
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


asset_checks = [*(_suite_checks(t) for t in TABLES), *(_reconciliation_check(t) for t in TABLES)]
