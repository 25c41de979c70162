"""The analyst file: the analyst tables, copied out and swapped in atomically at the end of a run."""

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline import tables
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.publish.analyst_file import ANALYST_TABLES, publish_analyst_file
from wmp_pipeline.quality.metadata import markdown_table

#: One dependency per asset that writes an analyst table (from the table registry).
ANALYST_TABLE_KEYS = sorted({AssetKey.from_user_string(w) for w in tables.writers(*ANALYST_TABLES)}, key=lambda k: k.to_user_string())


@asset(
    name="analyst_database",
    deps=ANALYST_TABLE_KEYS,
    partitions_def=force_week_partitions,
    group_name="publish",
    kinds={"python", "duckdb"},
    description=(
        "The read-only DuckDB file analysts and dashboards open (WMP_ANALYST_DB_PATH): the analyst tables "
        "and dbt marts, no person identifiers, replaced atomically, read-only (mode 0440)."
    ),
)
def analyst_database(context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource) -> MaterializeResult:
    """Copy the analyst tables to a new file and ``os.replace`` it over the analyst file.

    Refuses (fails) if any table has a person-identifying column or holds a
    raw CONNECT person id; the previous analyst file then stays as it was.
    """
    settings = pipeline.settings()
    partition = context.run.tags.get("dagster/partition")
    source_run = context.run_id + (f" (partition {partition})" if partition else "")
    with warehouse.connect() as con:
        result = publish_analyst_file(con, settings.analyst_db_path, source_run=source_run, log=context.log)
    tables = pd.DataFrame([{"table": t.name, "rows": t.rows, "columns": t.columns} for t in result.tables])
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(result.path)),
            "tables_published": len(result.tables),
            "rows_published": int(sum(t.rows for t in result.tables)),
            "size_mb": round(result.size_bytes / 1e6, 2),
            "elapsed_s": result.elapsed_s,
            "published_at": result.published_at.isoformat(sep=" "),
            "tables": MetadataValue.md(markdown_table(tables, max_rows=50)),
            "skipped_not_built_yet": MetadataValue.md("\n".join(f"- {s}" for s in result.skipped) or "_none_"),
        }
    )


assets = [analyst_database]
