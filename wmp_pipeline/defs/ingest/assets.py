"""Raw CONNECT tables: apply every new drop in the landing folder."""


from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from wmp_pipeline.contract import TABLES
from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.forces import ForceInputError, require_input
from wmp_pipeline.ingest.drops import DropRefused
from wmp_pipeline.ingest.load import RAW_SCHEMA, ingest_landing, raw_table
from wmp_pipeline.markdown import markdown_table

POLICEUK_JOB_HINT = "policeuk_weekly_job (wmp run --force <slug> chooses it)"
RAW_TABLE_KEYS = {t: AssetKey([RAW_SCHEMA, f"connect_{t}"]) for t in TABLES}
QUARANTINE_KEY = AssetKey([RAW_SCHEMA, "connect_quarantine"])
DROP_LOG_KEY = AssetKey([RAW_SCHEMA, "connect_drop_log"])

_DESCRIPTIONS = {
    "persons": "Every delivered valid CONNECT persons row, with drop and file lineage.",
    "crimes": "Every delivered valid CONNECT crimes row, with drop and file lineage.",
    "charges": "Every delivered valid CONNECT charges row, with drop and file lineage.",
}


@multi_asset(
    name="connect_drops",
    group_name="ingest",
    partitions_def=force_week_partitions,
    specs=[
        *(
            AssetSpec(key, description=_DESCRIPTIONS[t], kinds={"python", "duckdb"}, group_name="ingest", skippable=False)
            for t, key in RAW_TABLE_KEYS.items()
        ),
        AssetSpec(
            QUARANTINE_KEY,
            description="Delivered rows that broke the contract, with drop, file, row number and reasons. "
            "A row stays until a later drop delivers a valid row with the same key.",
            kinds={"python", "duckdb"},
            group_name="ingest",
        ),
        AssetSpec(
            DROP_LOG_KEY,
            description="One row per applied CONNECT drop, with per-file delivered / loaded / quarantined counts.",
            kinds={"python", "duckdb"},
            group_name="ingest",
        ),
    ],
)
def connect_drops(context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource):
    """Verify and apply, in extract-date order, every CONNECT drop that has landed and is not yet applied.

    A refused drop (stale, changed re-delivery, checksum / row-count mismatch,
    missing or unreadable file) fails this step with the drop and reason
    named; drops applied before it stay applied, nothing else changes.
    """
    settings = pipeline.settings()
    force = pipeline.force()
    if force.is_policeuk:
        raise ForceInputError(f"force '{force.slug}' is a police.uk force: it has no CONNECT drops; run it with {POLICEUK_JOB_HINT}")
    require_input(force, settings)  # a missing or empty landing folder fails here, naming force and folder
    with warehouse.connect() as con:
        report = ingest_landing(con, settings.connect_dir, log=context.log)
        counts = {t: con.execute(f"select count(*) from {raw_table(t)}").fetchone()[0] for t in TABLES}
        open_quarantine = con.execute(
            f"select count(*) from {RAW_SCHEMA}.connect_quarantine where resolved_by_drop_id is null"
        ).fetchone()[0]
        n_drops = con.execute(f"select count(*) from {RAW_SCHEMA}.connect_drop_log").fetchone()[0]
    context.log.info(report.summary())
    if report.refused:
        raise DropRefused(report.refused[0].drop_id, "; ".join(f"{r.drop_id}: {r.reason}" for r in report.refused))
    drops_md = markdown_table(
        [
            {"drop": r.drop_id, "type": r.extract_type, "delivered": r.rows_delivered, "loaded": r.rows_loaded, "quarantined": r.rows_quarantined}
            for r in report.applied
        ]
    )
    for t, key in RAW_TABLE_KEYS.items():
        yield MaterializeResult(
            asset_key=key,
            metadata={
                "rows_total": counts[t],
                "rows_loaded_this_run": sum(r.files[t].rows_loaded for r in report.applied),
                "rows_quarantined_this_run": sum(r.files[t].rows_quarantined for r in report.applied),
            },
        )
    yield MaterializeResult(asset_key=QUARANTINE_KEY, metadata={"open_quarantined_rows": open_quarantine})
    yield MaterializeResult(
        asset_key=DROP_LOG_KEY,
        metadata={
            "drops_applied_total": n_drops,
            "drops_applied_this_run": len(report.applied),
            "applied_this_run": MetadataValue.md(drops_md),
        },
    )


assets = [connect_drops]
