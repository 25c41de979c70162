"""Raw CONNECT tables: apply every new drop in the landing folder, validating each one."""


from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from wmp_pipeline.contract import TABLES
from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.forces import ForceInputError, require_input
from wmp_pipeline.defs.ingest.resources import IngestResource
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.ingest.load import RAW_SCHEMA, ingest_landing, raw_table
from wmp_pipeline.markdown import markdown_table
from wmp_pipeline.quality.force_area import force_area_bbox
from wmp_pipeline.quality.gx.store import drop_validator

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
def connect_drops(
    context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource, ingest: IngestResource
):
    """Verify, validate (Great Expectations, per drop) and apply every CONNECT drop that has landed and is not yet applied.

    A refused drop (bad folder name, future date, checksum / row-count
    mismatch, missing, unreadable or out-of-landing file, or a full drop whose
    volume or blocking expectations fail) is recorded and named in the log
    and metadata, and changes nothing; the other drops are applied. The
    ``drop_refusals`` check on the drop log fails while a refusal stands.
    """
    settings = pipeline.settings()
    force = pipeline.force()
    if force.is_policeuk:
        raise ForceInputError(f"force '{force.slug}' is a police.uk force: it has no CONNECT drops; run it with {POLICEUK_JOB_HINT}")
    require_input(force, settings)  # a missing or empty landing folder fails here, naming force and folder
    validator, store = drop_validator(force_area_bbox(settings))
    with warehouse.connect() as con:
        report = ingest_landing(
            con, settings.connect_dir, log=context.log, config=ingest.config(), validator=validator, store=store
        )
        counts = {t: con.execute(f"select count(*) from {raw_table(t)}").fetchone()[0] for t in TABLES}
        open_quarantine = con.execute(
            f"select count(*) from {RAW_SCHEMA}.connect_quarantine where resolved_by_drop_id is null"
        ).fetchone()[0]
        n_drops = con.execute(f"select count(*) from {RAW_SCHEMA}.connect_drop_log").fetchone()[0]
    context.log.info(report.summary())
    drops_md = markdown_table(
        [
            {
                "drop": r.drop_id,
                "type": r.extract_type,
                "delivered": r.rows_delivered,
                "loaded": r.rows_loaded,
                "quarantined": r.rows_quarantined,
                "blocking expectations": "passed" if all(v.passed("blocking") for v in r.validation.values()) else "FAILED",
            }
            for r in report.applied
        ]
    )
    refused_md = markdown_table([{"drop": r.drop_id, "reason": r.reason} for r in report.refused])
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
            "drops_refused_this_run": len(report.refused),
            "applied_this_run": MetadataValue.md(drops_md),
            "refused_this_run": MetadataValue.md(refused_md if report.refused else "_none_"),
            "skipped_this_run": MetadataValue.md("\n".join(f"- {n}: {note}" for n, note in report.skipped) or "_none_"),
        },
    )


assets = [connect_drops]
