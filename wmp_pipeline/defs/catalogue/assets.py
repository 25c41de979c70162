"""The national analyst catalogue asset: downstream of every force's analyst file."""


from dagster import AssetExecutionContext, AssetKey, DagsterInstance, DagsterRunStatus, MaterializeResult, MetadataValue, RunsFilter, asset
from dagster._core.events import DagsterEventType

from wmp_pipeline.catalogue import ForceStatus, build_catalogue, catalogue_path
from wmp_pipeline.defs.resources import FORCE_TAG, PipelineSettingsResource
from wmp_pipeline.forces import settings_for
from wmp_pipeline.markdown import markdown_table

FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def run_failure_cause(instance: DagsterInstance, run_id: str) -> str:
    """The first failed step and its error message (one line), or the run's failure message."""
    records = instance.get_records_for_run(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and error.message.startswith(("Error occurred while", "dagster.")):
                error = error.cause
            message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name
            return f"{event.step_key}: {message}"[:500]
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.message:
            return event.message[:500]
    return "run failed"


def latest_force_run(instance: DagsterInstance, slug: str):
    """The newest finished run of ``slug`` (any week, either weekly job), or None."""
    runs = instance.get_runs(RunsFilter(tags={FORCE_TAG: slug}, statuses=FINISHED), limit=1)
    return runs[0] if runs else None


def force_statuses(instance: DagsterInstance, pipeline: PipelineSettingsResource) -> list[ForceStatus]:
    """Each registry force with its analyst file and the outcome of its newest finished run."""
    base = pipeline.base_settings()
    out = []
    for force in pipeline.registry().forces:
        run = latest_force_run(instance, force.slug)
        status, detail, run_id = "not run", "", ""
        if run is not None:
            run_id = run.run_id
            status = "ok" if run.status == DagsterRunStatus.SUCCESS else "failed"
            if status == "failed":
                detail = run_failure_cause(instance, run.run_id) if run.status == DagsterRunStatus.FAILURE else "run cancelled"
        out.append(
            ForceStatus(
                slug=force.slug, name=force.name, source=force.source,
                analyst_file=settings_for(force, base).analyst_db_path,
                run_status=status, detail=detail, run_id=run_id,
            )
        )
    return out


@asset(
    name="national_catalogue",
    group_name="publish",
    kinds={"python", "duckdb"},
    deps=[AssetKey("analyst_database")],
    description=(
        "One read-only DuckDB file over every force's published analyst tables, each with a `force` column "
        "(<data>/analyst/national_catalogue.duckdb), plus catalogue_forces (each force's status: ok, failed "
        "with the cause, no output) and the hotspot_hit_rates view. Built from the forces whose newest run "
        "succeeded; replaced atomically."
    ),
)
def national_catalogue(context: AssetExecutionContext, pipeline: PipelineSettingsResource) -> MaterializeResult:
    statuses = force_statuses(context.instance, pipeline)
    result = build_catalogue(catalogue_path(pipeline.base_settings().data_dir), statuses)
    for row in result.forces.itertuples():
        if row.status != "ok":
            context.log.warning(f"national catalogue: force {row.force} is {row.status}: {row.detail}")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(result.path)),
            "forces_ok": int((result.forces["status"] == "ok").sum()),
            "forces_not_ok": MetadataValue.text(", ".join(result.failed) or "none"),
            "forces": MetadataValue.md(markdown_table(result.forces[["force", "source", "status", "detail", "tables"]])),
            "rows_by_table": MetadataValue.md(markdown_table([{"table": t, "rows": n} for t, n in result.tables.items()])),
            "elapsed_s": result.elapsed_s,
        }
    )


assets = [national_catalogue]
