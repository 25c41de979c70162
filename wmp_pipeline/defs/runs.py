"""The weekly run in Dagster's run history: the run lock, runs left behind by a killed process, and why a run failed.

- :func:`take_run_lock` is what every run does first (through the
  ``warehouse`` resource, or ``wmp run`` before it starts the job): hold the
  data folder's run lock (:func:`wmp_pipeline.warehouse.run_lock`), record the
  holder on the Dagster run as tags, and mark failed the runs a killed process
  left behind.
- :func:`fail_abandoned_runs`: a run whose process was killed (``kill -9``, a
  power cut) stays STARTED for ever in Dagster's history. Every run records its
  process in the tags :data:`PID_TAG` / :data:`HOST_TAG` and holds the run lock
  while it is alive; so once a new run holds the lock, any other run of that
  history still STARTING, STARTED or CANCELING whose tags name a process has
  lost that process, wherever it ran. It is reported failed with a message
  that says so. A run that never recorded a process (launched, then killed
  before its first step) counts as abandoned once it has not changed for
  :data:`UNTAGGED_GRACE_S`. QUEUED runs are left alone: they have no process
  yet and wait for the Dagster daemon.
- :func:`failure_summary`: the original error of every failed step, from the
  run's event log, in plain words, without Dagster's wrapper
  (``Error occurred while executing op ...``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from wmp_pipeline.warehouse import LockHolder, run_lock

PID_TAG = "wmp/pid"
#: the force of a force x week run (Dagster's multi-partition tag)
FORCE_TAG = "dagster/partition/force"
HOST_TAG = "wmp/host"
#: A run with no recorded process is abandoned once it has been unchanged this long.
UNTAGGED_GRACE_S = 600.0
_ALIVE_STATUSES = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
#: Dagster's own wrappers around the error a step raised: skipped to reach the cause.
_WRAPPERS = {
    "DagsterExecutionStepExecutionError",
    "DagsterUserCodeExecutionError",
    "DagsterResourceFunctionError",
    "DagsterExecutionInterruptedError",
}


def process_tags(pid: int | None = None, host: str | None = None) -> dict[str, str]:
    """The tags that name a run's process."""
    return {PID_TAG: str(pid or os.getpid()), HOST_TAG: host or socket.gethostname()}


def fail_abandoned_runs(
    instance: DagsterInstance, holder: LockHolder, exclude_run_ids: Sequence[str] = (), now: float | None = None,
    force: str | None = None, untagged_runs_are_mine: bool = True,
) -> list[str]:
    """Report failed every run of ``instance`` left STARTING/STARTED/CANCELING by a process that is gone.

    Call only while holding the data folder's run lock (``holder``): that is
    the proof that no other run's process is alive. Returns the run ids marked.
    With ``force``, only that force's runs are judged (each force has its own
    data folder and lock; runs of other forces may be alive in parallel); runs
    with no force tag count as this lock's only when ``untagged_runs_are_mine``.
    """
    now = time.time() if now is None else now
    marked = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=_ALIVE_STATUSES)):
        run = record.dagster_run
        if run.run_id in exclude_run_ids or run.run_id == holder.run_id:
            continue
        if force is not None:
            run_force = run.tags.get(FORCE_TAG)
            if (run_force is None and not untagged_runs_are_mine) or (run_force is not None and run_force != force):
                continue  # another force's run: another data folder, another lock
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid and int(pid) == holder.pid and host == holder.host:
            continue  # this very process (e.g. the run ``wmp run`` is about to start)
        updated = record.update_timestamp.timestamp() if record.update_timestamp else now
        if not pid and now - updated < UNTAGGED_GRACE_S:
            continue
        who = f"process {pid} on {host}" if pid else "its process"
        instance.report_run_failed(
            run,
            message=(
                f"Marked failed at the start of a later run: {who} ended without finishing this run "
                f"(killed, or the machine stopped); it was still {run.status.value} in the run history. "
                f"Found by process {holder.pid} on {holder.host}, which now holds the data folder's run lock. "
                "Any drop it was applying was rolled back; re-run its week if needed."
            ),
        )
        marked.append(run.run_id)
    return marked


@contextmanager
def take_run_lock(
    data_dir: Path, instance: DagsterInstance | None = None, run_id: str = "", log=None,
    force: str | None = None, untagged_runs_are_mine: bool = True, **lock_kwargs
) -> Iterator[LockHolder]:
    """Hold the run lock of ``data_dir``; name this run's process on its Dagster run; fail abandoned runs."""
    with run_lock(data_dir, run_id=run_id, **lock_kwargs) as holder:
        if instance is not None:
            if run_id:
                instance.add_run_tags(run_id, process_tags(holder.pid, holder.host))
            marked = fail_abandoned_runs(
                instance, holder, exclude_run_ids=[run_id] if run_id else [],
                force=force, untagged_runs_are_mine=untagged_runs_are_mine,
            )
            if marked and log is not None:
                log.warning(
                    f"marked {len(marked)} run(s) failed whose process had gone without finishing: {', '.join(marked)}"
                )
        yield holder


@dataclass(frozen=True)
class StepFailure:
    step: str
    error_class: str
    message: str

    def line(self) -> str:
        return f"{self.step}: {self.message}"


def _cause(error):
    """The error a step actually raised, below Dagster's wrappers."""
    while error is not None and error.cls_name in _WRAPPERS and (error.cause or error.context):
        error = error.cause or error.context
    return error


def _plain(error) -> str:
    message = (error.message or "").strip()
    head, sep, rest = message.partition(": ")
    if sep and error.cls_name and (head == error.cls_name or head.endswith("." + error.cls_name)):
        message = rest.strip()
    return message or error.cls_name or "unknown error"


def failure_summary(instance: DagsterInstance, run_id: str) -> list[StepFailure]:
    """The original error of each failed step of ``run_id`` (or of the run itself), from its event log."""
    failures = []
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}):
        event = entry.dagster_event
        error = getattr(event.event_specific_data, "error", None)
        if event.event_type == DagsterEventType.RUN_FAILURE:
            if failures:
                continue  # the run failed because its steps did: already said
            if error is None:
                message = (event.message or "").strip()
                if message and "Steps failed" not in message:
                    failures.append(StepFailure("run", "", message))
                continue
        if error is None:
            continue
        cause = _cause(error)
        failures.append(StepFailure(event.step_key or "run", cause.cls_name or "", _plain(cause)))
    return failures
