"""`wmp run` as a user starts it, on the tiny preset: one run per data folder, a killed run marked
failed at the next start, a short terminal, dbt's files under the data folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from wmp_pipeline.cli import EXIT_LOCKED
from wmp_pipeline.defs.runs import failure_summary
from wmp_pipeline.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from wmp_pipeline.warehouse import read_lock_holder, run_lock_path

from .conftest import TINY_END_DATE, TINY_SEED

pytestmark = pytest.mark.slow

RUN_ARGS = ["run", "--preset", "tiny", "--seed", str(TINY_SEED), "--end-date", TINY_END_DATE.isoformat()]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WMP_", "DBT_")) and k != "DAGSTER_HOME"}
    return {**env, "WMP_DATA_DIR": str(data_dir)}


def _wmp(data_dir: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wmp_pipeline.cli", *RUN_ARGS, *args],
        cwd=PROJECT_ROOT, env=_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )


def _until(condition, timeout_s: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the run exited {proc.returncode}: {proc.communicate()[1][-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _started_runs(home: Path):
    if not (home / "dagster.yaml").exists() or not (home / "history").exists():
        return []
    instance = DagsterInstance.from_config(str(home))
    return [r.dagster_run for r in instance.get_run_records() if r.dagster_run.status == DagsterRunStatus.STARTED]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> SimpleNamespace:
    """A first run, a second started while it runs, the first killed with -9 mid-run, then a third."""
    data_dir = tmp_path_factory.mktemp("cli_run")
    home = data_dir / "dagster_home"
    project_manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    project_manifest_before = project_manifest.stat().st_mtime_ns if project_manifest.exists() else None

    first = _wmp(data_dir)
    try:
        holder = _until(lambda: read_lock_holder(run_lock_path(data_dir)), 120, "the first run to take the lock", first)
        second = subprocess.run(
            [sys.executable, "-m", "wmp_pipeline.cli", *RUN_ARGS], cwd=PROJECT_ROOT, env=_env(data_dir),
            capture_output=True, text=True, timeout=120,
        )
        (killed_run,) = _until(lambda: _started_runs(home), 300, "the first run to start its Dagster run", first)
        time.sleep(3)  # well inside its steps
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    instance = DagsterInstance.from_config(str(home))
    assert instance.get_run_by_id(killed_run.run_id).status == DagsterRunStatus.STARTED

    third = _wmp(data_dir)
    out, err = third.communicate(timeout=900)
    return SimpleNamespace(
        data_dir=data_dir, home=home, first=first, holder=holder, second=second, killed_run=killed_run,
        third=third, out=out, err=err, instance=DagsterInstance.from_config(str(home)),
        project_manifest=project_manifest, project_manifest_before=project_manifest_before,
    )


def test_a_second_run_on_the_same_data_folder_stops_at_once_naming_the_first(runs):
    assert runs.holder.pid == runs.first.pid
    assert runs.second.returncode == EXIT_LOCKED
    last = runs.second.stderr.strip().splitlines()[-1]
    assert last.startswith("Not started: another pipeline run is using the data folder")
    assert f"held by process {runs.first.pid} on {socket.gethostname()}, started {runs.holder.started_at}" in last
    assert "cli.py run --preset tiny" in last  # its command


def test_the_run_killed_with_sigkill_is_marked_failed_at_the_next_start(runs):
    assert runs.third.returncode == 0, runs.err[-4000:]
    run = runs.instance.get_run_by_id(runs.killed_run.run_id)
    assert run.status == DagsterRunStatus.FAILURE
    (failure,) = failure_summary(runs.instance, run.run_id)
    assert f"process {runs.first.pid} on {socket.gethostname()} ended without finishing this run" in failure.message
    assert f"Run {run.run_id} was left unfinished by a process that is gone" in runs.out


def test_the_default_terminal_is_short_and_ends_with_the_results(runs):
    lines = (runs.out + runs.err).splitlines()
    # about 85 on the tiny preset since ingest reports each drop and file (5 drops) and GX each drop
    assert 10 <= len(lines) <= 90, "\n".join(lines)
    assert not [line for line in lines if " - DEBUG - " in line or '"info": {' in line]  # no Dagster DEBUG, no dbt JSON
    out = runs.out
    assert "Done in" in out and "Checks:" in out
    assert "knife_injury:" in out and "serious_violence:" in out and "IOM risk scores for" in out
    # the full logs are still kept: the run's event log and dbt's own log file
    (done,) = [r for r in runs.instance.get_run_records() if r.dagster_run.status == DagsterRunStatus.SUCCESS]
    assert len(runs.instance.all_logs(done.dagster_run.run_id)) > 3 * len(lines)
    assert list((runs.data_dir / "dbt" / "target").glob("wmp_dbt_models-*/dbt.log"))


def test_dbt_writes_under_the_data_folder_not_the_dbt_project(runs):
    assert (runs.data_dir / "dbt" / "target" / "manifest.json").exists()
    after = runs.project_manifest.stat().st_mtime_ns if runs.project_manifest.exists() else None
    assert after == runs.project_manifest_before
