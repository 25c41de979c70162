"""The data-quality summary tables analysts see next to the forecasts."""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from wmp_pipeline.contract import TABLES
from wmp_pipeline.defs.ingest.assets import DROP_LOG_KEY, QUARANTINE_KEY, RAW_TABLE_KEYS
from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline.defs.ingest.resources import IngestResource
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.ingest.load import drop_sequence_gaps, latest_refusals
from wmp_pipeline.quality.force_area import force_area_bbox
from wmp_pipeline.quality.gx.store import drops_to_report, results_for
from wmp_pipeline.quality.metadata import markdown_table
from wmp_pipeline.quality.reconciliation import reconcile_drops
from wmp_pipeline.quality.summary import (
    DROP_REFUSALS_TABLE,
    DROP_SEQUENCE_TABLE,
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
    EXPECTATION_RESULTS_TABLE: "Great Expectations results (blocking / warning) for the CONNECT drops of the latest ingest.",
    DROP_SEQUENCE_TABLE: "Gaps in the weekly CONNECT drop sequence (missing drops), never silent.",
    DROP_REFUSALS_TABLE: "CONNECT drops the latest ingest refused, with the reason.",
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
def data_quality_summary(
    context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource, ingest: IngestResource
):
    """Recount every drop, summarise the quarantine by rule, tabulate the stored suite results of the
    latest ingest's drops (no suite runs again), and list missing and refused drops."""
    bbox = force_area_bbox(pipeline.settings())
    with warehouse.connect() as con:
        report = reconcile_drops(con)
        quarantine = quarantine_summary(con)
        drops = drops_to_report(con)
        results = [r for t in TABLES for r in results_for(con, t, drops, bbox)]
        expectations = expectation_results_frame(results)
        gaps = drop_sequence_gaps(con, ingest.config().expected_interval_days)
        refusals = latest_refusals(con)
        counts = write_quality_tables(con, report, quarantine, expectations, drop_gaps=gaps, refusals=refusals)
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
        asset_key=AssetKey(DROP_SEQUENCE_TABLE),
        metadata={"rows": counts[DROP_SEQUENCE_TABLE], "missing_drops": int(sum(g["missing_drops"] for g in gaps))},
    )
    yield MaterializeResult(
        asset_key=AssetKey(DROP_REFUSALS_TABLE),
        metadata={"rows": counts[DROP_REFUSALS_TABLE]},
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
