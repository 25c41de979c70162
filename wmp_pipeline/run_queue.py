"""Many forces at once on Dagster's own machinery: the run queue of the local instance.

``wmp run --force all`` submits one run per force to the Dagster instance in
``DAGSTER_HOME``. The instance's ``QueuedRunCoordinator`` (configured in its
``dagster.yaml`` by :func:`write_instance_yaml`) starts at most
``max_concurrent_runs`` of them at once, and never two runs of the same
force (a tag concurrency limit on the force partition tag: one writer per
force's DuckDB file). The dagster-daemon dequeues them; each run executes
in its own process (the default run launcher, through the code location's
gRPC server), so one failing force does not stop the others. When every
run has finished, the national catalogue is rebuilt and a per-force summary
printed. The same runs can be started from the UI (a backfill of the force
x week partitions) while ``dagster dev`` (which runs the daemon) is up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: first line of a dagster.yaml this module wrote (and may therefore rewrite)
MARKER = "# written by wmp (wmp_pipeline/run_queue.py); remove this line to keep your own settings"
FORCE_TAG = "dagster/partition/force"


def default_workers() -> int:
    """The machine's cores (at least 1)."""
    return max(1, os.cpu_count() or 1)


def instance_yaml(workers: int) -> str:
    return (
        f"{MARKER}\n"
        "# At most max_concurrent_runs runs at once (one per core by default), never two of one force:\n"
        "# each force has one working DuckDB file, which has one writer.\n"
        "run_coordinator:\n"
        "  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        "  config:\n"
        f"    max_concurrent_runs: {int(workers)}\n"
        "    dequeue_interval_seconds: 2\n"
        "    tag_concurrency_limits:\n"
        f"      - key: \"{FORCE_TAG}\"\n"
        "        value:\n"
        "          applyLimitPerUniqueValue: true\n"
        "        limit: 1\n"
        "telemetry:\n"
        "  enabled: false\n"
    )


def write_instance_yaml(home: Path, workers: int | None = None) -> Path:
    """Write ``dagster.yaml`` with the run queue, unless the user wrote their own (no marker line).

    ``workers=None`` keeps the limit of an existing wmp-written file (default: the cores)."""
    path = Path(home) / "dagster.yaml"
    if path.exists():
        text = path.read_text()
        if not text.startswith(MARKER) and "run_queue:\n  max_concurrent_runs: 1\ntelemetry" not in text:
            return path  # the user's own instance settings win
        if workers is None and text.startswith(MARKER):
            return path
    path.write_text(instance_yaml(workers or default_workers()))
    return path


@dataclass
class ForceRun:
    force: str
    job: str
    partition: str
    run_id: str = ""
    status: str = "queued"
    cause: str = ""
    seconds: float = 0.0


def submit_runs(instance, workspace_file: Path, runs: list[ForceRun], tags: dict[str, str]) -> None:
    """Create and submit (queue) one run per :class:`ForceRun` through the workspace's code location."""
    from dagster import __version__ as dagster_version
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )

    opts = WorkspaceOpts(workspace=[str(workspace_file)])
    with get_workspace_from_cli_opts(instance, version=dagster_version, workspace_opts=opts) as workspace:
        location = get_code_location_from_workspace(workspace, None)
        repo = get_remote_repository_from_code_location(location, None)
        for run in runs:
            job = get_remote_job_from_remote_repo(repo, run.job)
            dims = dict(zip(("force", "week"), run.partition.split("|"), strict=True))
            run_tags = {
                **tags,
                "dagster/partition": run.partition,
                **{f"dagster/partition/{k}": v for k, v in dims.items()},
            }
            created = _create_run(
                instance=instance, code_location=location, remote_repo=repo, remote_job=job,
                run_config={}, tags=run_tags, op_selection=None, run_id=None,
            )
            instance.submit_run(created.run_id, workspace)
            run.run_id = created.run_id


def start_daemon(workspace_file: Path, log_file: Path) -> subprocess.Popen:
    """``dagster-daemon run`` for the duration of the command (it dequeues and launches the runs)."""
    daemon = Path(sys.executable).with_name("dagster-daemon")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab")
    return subprocess.Popen(
        [str(daemon), "run", "-w", str(workspace_file)],
        cwd=Path(workspace_file).parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_daemon(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_runs(instance, runs: list[ForceRun], poll_s: float = 2.0, on_change=None, daemon=None) -> None:
    """Poll the instance until every run has finished; fill in status, cause and duration."""
    from dagster import DagsterRunStatus

    from wmp_pipeline.defs.catalogue.assets import run_failure_cause

    finished = {DagsterRunStatus.SUCCESS: "ok", DagsterRunStatus.FAILURE: "failed", DagsterRunStatus.CANCELED: "cancelled"}
    pending = {r.run_id: r for r in runs if r.run_id}
    while pending:
        if daemon is not None and daemon.poll() is not None:
            raise RuntimeError(f"the dagster-daemon stopped (exit {daemon.returncode}) with runs still queued")
        for run_id, run in list(pending.items()):
            record = instance.get_run_record_by_id(run_id)
            if record is None:
                continue
            status = record.dagster_run.status
            label = finished.get(status, status.value.lower())
            if label != run.status:
                run.status = label
                if on_change:
                    on_change(run)
            if status in finished:
                if record.start_time and record.end_time:
                    run.seconds = round(record.end_time - record.start_time, 1)
                if status == DagsterRunStatus.FAILURE:
                    run.cause = run_failure_cause(instance, run_id)
                elif status == DagsterRunStatus.CANCELED:
                    run.cause = "run cancelled"
                del pending[run_id]
        if pending:
            time.sleep(poll_s)


def summary_lines(runs: list[ForceRun]) -> list[str]:
    width = max((len(r.force) for r in runs), default=5)
    lines = []
    for r in runs:
        outcome = "ok" if r.status == "ok" else f"{r.status.upper()}: {r.cause}"
        lines.append(f"  {r.force:<{width}}  {r.partition.split('|')[-1]}  {r.seconds:7.1f} s  {outcome}")
    return lines
