"""Report assets: the weekly briefing, the transparency record and the dbt docs site.

Thin wrappers over :mod:`wmp_pipeline.reports`: each opens the warehouse,
calls the pure builder, writes its files under ``artifacts/`` and attaches
counts and a preview as metadata (never an offender key or person id).
"""

from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    DagsterEventType,
    MaterializeResult,
    MetadataValue,
    asset,
)

from wmp_pipeline import tables
from wmp_pipeline.defs.partitions import forecast_date_of, force_week_partitions
from wmp_pipeline.defs.project import dbt_project
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.progress import Progress
from wmp_pipeline.reports.briefing import CheckResult, build_briefing, write_briefing
from wmp_pipeline.reports.briefing import model as briefing_model
from wmp_pipeline.reports.charts import data_uri
from wmp_pipeline.reports.dbt_docs import DBT_DOCS_SUBDIR, docs_inputs, generate_dbt_docs, read_stamp, write_stamp
from wmp_pipeline.reports.transparency import TRANSPARENCY_READS, build_record, fairness_flags, render_markdown, write_record

GROUP = "reports"

def _writers_of(*table_names: str) -> list[AssetKey]:
    """One dependency per asset that writes one of the tables (from :mod:`wmp_pipeline.tables`)."""
    return [AssetKey.from_user_string(w) for w in tables.writers(*table_names)]


#: The assets that write the tables the briefing reads.
BRIEFING_DEPS = _writers_of(*briefing_model.READS)

#: The tables and model files the transparency record reads (hotspot_models: the model files).
TRANSPARENCY_DEPS = [*_writers_of(*TRANSPARENCY_READS), AssetKey("hotspot_models")]

#: dbt docs describe the dbt models as built: run after the marts.
DBT_DOCS_DEPS = _writers_of(
    tables.INT_CRIMES_CLASSIFIED, tables.INT_CHARGES_HARM, tables.IOM_OFFENDER_WEEK, tables.MART_UNKNOWN_OFFENCE_CODES
)


def run_check_results(context: AssetExecutionContext) -> list[CheckResult]:
    """The asset check results recorded so far in this run (from the Dagster instance)."""
    out = []
    for entry in context.instance.all_logs(context.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if ev is None:
            continue
        severity = getattr(ev.severity, "value", str(ev.severity))
        out.append(CheckResult(asset=ev.asset_key.to_user_string(), check=ev.check_name, passed=bool(ev.passed),
                               severity=str(severity), description=ev.description or ""))
    return out


@asset(
    name="weekly_briefing",
    group_name=GROUP,
    kinds={"python", "duckdb", "html"},
    deps=BRIEFING_DEPS,
    partitions_def=force_week_partitions,
    description=(
        "One self-contained HTML file per week (artifacts/briefings/briefing_<forecast date>.html) in place of the "
        "Qlik dashboards: hotspot maps and top-20 tables for knife crime and serious violence, 12-month trends, the ranked "
        "low-medium harm IOM list, model performance against baselines and this week's data quality. Opens offline."
    ),
)
def weekly_briefing(context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource):
    settings = pipeline.settings()
    forecast_date = forecast_date_of(context)
    checks = run_check_results(context)
    with Progress("weekly briefing", total=6, log=context.log) as progress:
        with warehouse.connect() as con:
            briefing = build_briefing(con, settings, forecast_date, checks=checks or None, progress=progress)
        path = write_briefing(briefing, settings)
    if briefing.sections_unavailable:
        context.log.warning("Briefing sections not available this week: " + "; ".join(briefing.sections_unavailable))
    metadata = {
        "path": MetadataValue.path(str(path)),
        "forecast_date": forecast_date.isoformat(),
        "size_kb": round(briefing.summary["bytes"] / 1024, 1),
        "images": briefing.summary["images"],
        "table_rows": briefing.summary["table_rows"],
        "sections_unavailable": MetadataValue.md("\n".join(f"- {t}" for t in briefing.sections_unavailable) or "_none_"),
        "check_results_from": "Dagster instance (this run)" if checks else "dq_expectation_results table",
    }
    if briefing.preview_png:
        metadata["preview"] = MetadataValue.md(f"![knife crime hotspot map]({data_uri(briefing.preview_png)})")
    return MaterializeResult(metadata=metadata)


@asset(
    name="transparency_record",
    group_name=GROUP,
    kinds={"python", "duckdb", "markdown", "html"},
    deps=TRANSPARENCY_DEPS,
    partitions_def=force_week_partitions,
    description=(
        "The week's algorithmic transparency record for the three tools (IOM model; knife crime and serious violence "
        "4-week predictions) in the sections of the UK Algorithmic Transparency Recording Standard, generated from the "
        "pipeline's metadata (model versions, data windows, metrics, fairness table) and the force's FOI answers. "
        "Markdown and HTML under artifacts/transparency/."
    ),
)
def transparency_record(context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource):
    settings = pipeline.settings()
    forecast_date = forecast_date_of(context)
    with Progress("transparency record", total=2, log=context.log) as progress:
        with warehouse.connect() as con:
            record = build_record(con, settings, forecast_date)
            flags = fairness_flags(con, forecast_date)
        progress.update(1, note="gathered")
        paths = write_record(record, settings)
        progress.update(1, note="written")
    return MaterializeResult(
        metadata={
            "markdown": MetadataValue.path(str(paths["md"])),
            "html": MetadataValue.path(str(paths["html"])),
            "tools": len(record.tools),
            "facts_version": record.facts_version,
            "fairness_groups_flagged": flags if flags is not None else "not available",
            "record": MetadataValue.md(render_markdown(record)),
        }
    )


class DbtDocsConfig(Config):
    """``force``: regenerate the docs site even when nothing it shows has changed."""

    force: bool = False


@asset(
    name="dbt_docs",
    group_name=GROUP,
    kinds={"dbt", "html"},
    deps=DBT_DOCS_DEPS,
    partitions_def=force_week_partitions,
    description=(
        "The analysts' documentation site (`dbt docs generate --static`) of the week's warehouse: every model and seed "
        "with descriptions, columns, tests, lineage and the built tables' types. artifacts/dbt_docs/static_index.html "
        "opens from disk; index.html needs a web server (python -m http.server). Regenerated only when the dbt "
        "project, dbt or the documented tables' columns changed."
    ),
)
def dbt_docs(
    context: AssetExecutionContext, config: DbtDocsConfig, warehouse: WarehouseResource, pipeline: PipelineSettingsResource
):
    settings = pipeline.settings()
    out = settings.artifacts_dir / DBT_DOCS_SUBDIR
    with warehouse.connect() as con:
        inputs = docs_inputs(con, str(warehouse.path), manifest_path=Path(dbt_project.manifest_path))
    stamp = read_stamp(out)
    if stamp.get("inputs") == inputs and not config.force:
        context.log.info(f"dbt docs: unchanged since {stamp.get('generated_at')}, not regenerated")
        return MaterializeResult(
            metadata={
                "static_page": MetadataValue.path(str(out / "static_index.html")),
                "directory": MetadataValue.path(str(out)),
                "regenerated": False,
                "why": f"dbt project, dbt version and documented tables unchanged since {stamp.get('generated_at')}",
                "nodes": stamp.get("nodes", 0),
                "catalog_tables": stamp.get("catalog_tables", 0),
                "seconds": 0.0,
            }
        )
    why = "forced" if config.force else ("first generation" if not stamp else "the dbt project, dbt or the documented tables changed")
    docs = generate_dbt_docs(str(warehouse.path), out, log=context.log)
    write_stamp(out, inputs, docs)
    return MaterializeResult(
        metadata={
            "static_page": MetadataValue.path(str(docs.static_page)),
            "directory": MetadataValue.path(str(docs.directory)),
            "regenerated": True,
            "why": why,
            "nodes": docs.nodes,
            "catalog_tables": docs.catalog_tables,
            "seconds": round(docs.seconds, 1),
        }
    )

assets = [weekly_briefing, transparency_record, dbt_docs]
