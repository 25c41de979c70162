"""The data-quality summary tables analysts see next to the forecasts."""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from wmp_pipeline.contract import TABLES
from wmp_pipeline.defs.ingest.assets import DROP_LOG_KEY, QUARANTINE_KEY, RAW_TABLE_KEYS
from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.quality.gx_suites import run_connect_suite
from wmp_pipeline.quality.metadata import markdown_table
from wmp_pipeline.quality.reconciliation import reconcile_drops
from wmp_pipeline.quality.summary import (
    EXPECTATION_RESULTS_TABLE,
    QUARANTINE_SUMMARY_TABLE,
    RECONCILIATION_TABLE,
    expectation_results_frame,
    quarantine_summary,
    write_quality_tables,
)

_RAW_DEPS = [*RAW_TABLE_KEYS.values(), QUARANTINE_KEY, DROP_LOG_KEY]
_DESCRIPTIONS = {
    RECONCILIATION_TABLE: "Per CONNECT drop and file: delivered = loaded + quarantined.",
    QUARANTINE_SUMMARY_TABLE: "Quarantined CONNECT rows per drop, table and broken rule (values removed).",
    EXPECTATION_RESULTS_TABLE: "Great Expectations results (blocking / warning) for the latest CONNECT drop.",
}


@multi_asset(
    name="data_quality_summary",
    group_name="quality",
    partitions_def=force_week_partitions,
    specs=[
        AssetSpec(AssetKey(name), deps=_RAW_DEPS, description=text, kinds={"python", "duckdb"}, group_name="quality")
        for name, text in _DESCRIPTIONS.items()
    ],
)
def data_quality_summary(context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource):
    """Recount every drop, summarise the quarantine by rule, and record the latest drop's suite results."""
    settings = pipeline.settings()
    with warehouse.connect() as con:
        report = reconcile_drops(con)
        quarantine = quarantine_summary(con)
        results = [run_connect_suite(con, t, settings=settings) for t in TABLES]
        expectations = expectation_results_frame(results)
        counts = write_quality_tables(con, report, quarantine, expectations)
    failed = expectations[~expectations["success"]] if not expectations.empty else expectations
    yield MaterializeResult(
        asset_key=AssetKey(RECONCILIATION_TABLE),
        metadata={
            "rows": counts[RECONCILIATION_TABLE],
            "balanced": bool(report.balanced),
            "problems": MetadataValue.md("\n".join(f"- {p}" for p in report.problems) or "_none_"),
        },
    )
    yield MaterializeResult(
        asset_key=AssetKey(QUARANTINE_SUMMARY_TABLE),
        metadata={
            "rows": counts[QUARANTINE_SUMMARY_TABLE],
            "rows_open": int(quarantine["rows_open"].sum()) if not quarantine.empty else 0,
            "by_rule": MetadataValue.md(
                markdown_table(quarantine.groupby(["table_name", "rule"], as_index=False)[["rows_quarantined", "rows_open"]].sum())
                if not quarantine.empty
                else "_none_"
            ),
        },
    )
    yield MaterializeResult(
        asset_key=AssetKey(EXPECTATION_RESULTS_TABLE),
        metadata={
            "rows": counts[EXPECTATION_RESULTS_TABLE],
            "failed": len(failed),
            "failed_expectations": MetadataValue.md(
                markdown_table(failed[["table_name", "expectation", "severity", "unexpected_count", "top_unexpected_values"]])
                if not failed.empty
                else "_none_"
            ),
        },
    )


assets = [data_quality_summary]
