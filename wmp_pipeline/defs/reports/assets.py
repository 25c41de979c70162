"""Report assets: the weekly briefing, the transparency record and the dbt docs site.

Thin wrappers over :mod:`wmp_pipeline.reports`: each opens the warehouse,
calls the pure builder, writes its files under ``artifacts/`` and attaches
counts and a preview as metadata (never an offender key or person id).
"""

import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata as package_metadata
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

from wmp_pipeline.defs.partitions import forecast_date_of, force_week_partitions
from wmp_pipeline.defs.project import dbt_project
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.progress import Progress
from wmp_pipeline.reports.briefing import CheckResult, build_briefing, write_briefing
from wmp_pipeline.reports.charts import data_uri
from wmp_pipeline.reports.dbt_docs import DBT_DOCS_SUBDIR, generate_dbt_docs
from wmp_pipeline.reports.transparency import build_record, fairness_flags, render_markdown, write_record
from wmp_pipeline.settings import DBT_PROJECT_DIR

GROUP = "reports"

#: The tables the briefing reads, by asset key (table name; raw tables under ``raw``).
BRIEFING_DEPS = [
    AssetKey("hotspot_cells"),
    AssetKey("hotspot_predictions"),
    AssetKey("hotspot_backtest"),  # the asset that writes hotspot_backtest_metrics
    AssetKey("int_crimes__classified"),
    AssetKey("iom_offender_week"),
    AssetKey("iom_risk_scores"),
    AssetKey("iom_model_metrics"),
    AssetKey(["raw", "connect_drop_log"]),
    AssetKey(["raw", "connect_quarantine"]),
    AssetKey("mart_unknown_offence_codes"),
    AssetKey("dq_expectation_results"),
]

#: The tables and model files the transparency record reads.
TRANSPARENCY_DEPS = [
    AssetKey("hotspot_predictions"),
    AssetKey("hotspot_models"),
    AssetKey("hotspot_backtest"),
    AssetKey("int_crimes__classified"),
    AssetKey("int_charges__harm"),
    AssetKey("iom_risk_scores"),
    AssetKey("iom_model_metrics"),
    AssetKey("iom_fairness_audit"),
    AssetKey(["raw", "connect_drop_log"]),
]

#: dbt docs describe the dbt models as built: run after the marts.
DBT_DOCS_DEPS = [
    AssetKey("int_crimes__classified"),
    AssetKey("int_charges__harm"),
    AssetKey("iom_offender_week"),
    AssetKey("mart_unknown_offence_codes"),
]


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


#: Written next to the docs site: the fingerprint of what it was generated from.
DOCS_STAMP = "wmp_docs_inputs.json"
#: Folders of the dbt project that are outputs or caches, not sources of the docs.
_DBT_NON_SOURCES = {"target", "logs", "dbt_packages"}


class DbtDocsConfig(Config):
    """``force``: regenerate the docs site even when nothing it shows has changed."""

    force: bool = False


def _dbt_relations() -> set[tuple[str, str]] | None:
    """(schema, table) of every model, seed and source in the dbt manifest; None without a manifest."""
    try:
        manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    except (OSError, ValueError):
        return None
    out = {
        (n["schema"], n.get("alias") or n["name"])
        for n in manifest.get("nodes", {}).values()
        if n.get("resource_type") in ("model", "seed", "snapshot")
    }
    out |= {(n["schema"], n.get("identifier") or n["name"]) for n in manifest.get("sources", {}).values()}
    return out


def docs_inputs(con, database_path: str, project_dir: Path = DBT_PROJECT_DIR) -> str:
    """Fingerprint of everything the dbt docs site shows: the dbt project's files,
    dbt's version and the warehouse's columns (types, comments) of the relations dbt documents.

    The catalog of dbt-duckdb holds no row counts, so a week that only adds
    rows gives the same site.
    """
    h = hashlib.sha256()
    for pkg in ("dbt-core", "dbt-duckdb"):
        try:
            h.update(f"{pkg}={package_metadata.version(pkg)}\n".encode())
        except package_metadata.PackageNotFoundError:
            pass
    h.update(f"database={Path(database_path).stem}\n".encode())
    for path in sorted(Path(project_dir).rglob("*")):
        rel = path.relative_to(project_dir)
        if not path.is_file() or rel.parts[0] in _DBT_NON_SOURCES or any(part.startswith(".") for part in rel.parts):
            continue
        h.update(f"file={rel.as_posix()}\n".encode())
        h.update(path.read_bytes())
    relations = _dbt_relations()
    columns = con.execute(
        "select schema_name, table_name, column_index, column_name, data_type, coalesce(comment, '') "
        "from duckdb_columns() where database_name = current_database() and schema_name <> 'temp' order by all"
    ).fetchall()
    tables = con.execute(
        "select schema_name, table_name, 'table', coalesce(comment, '') from duckdb_tables() "
        "where database_name = current_database() and not temporary "
        "union all select schema_name, view_name, 'view', coalesce(comment, '') from duckdb_views() "
        "where database_name = current_database() and not internal and not temporary order by all"
    ).fetchall()
    for row in [*tables, *columns]:
        if relations is None or (row[0], row[1]) in relations:
            h.update(("\x1f".join(map(str, row)) + "\n").encode())
    return h.hexdigest()


def _read_stamp(out: Path) -> dict:
    try:
        stamp = json.loads((out / DOCS_STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if (out / "static_index.html").exists() else {}


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
        inputs = docs_inputs(con, str(warehouse.path))
    stamp = _read_stamp(out)
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
    generated_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    (out / DOCS_STAMP).write_text(
        json.dumps({"inputs": inputs, "generated_at": generated_at, "nodes": docs.nodes, "catalog_tables": docs.catalog_tables})
    )
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
