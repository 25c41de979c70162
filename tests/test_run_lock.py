"""One run per data folder: the run lock, runs left behind by a killed process, why a run failed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, Definitions, in_process_executor, job, op

from wmp_pipeline.dbt_runtime import dbt_parse, dbt_target_dir
from wmp_pipeline.defs.resources import WarehouseResource, build_resources
from wmp_pipeline.defs.runs import PID_TAG, failure_summary, take_run_lock
from wmp_pipeline.settings import PROJECT_ROOT
from wmp_pipeline.warehouse import RunLockHeld, held_run_lock, read_lock_holder, run_lock, run_lock_path

from .conftest import use_data_dir


def _helper(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.run_lock_helpers", *args],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_line(proc: subprocess.Popen, expected: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        if proc.poll() is not None:
            raise AssertionError(f"helper exited {proc.returncode} before '{expected}': {proc.stderr.read()[-3000:]}")
    raise AssertionError(f"helper did not print '{expected}' within {timeout_s}s")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_second_run_fails_at_once_naming_the_holder_and_a_killed_holder_frees_the_lock(tmp_path):
    holder_proc = _helper("hold", str(tmp_path))
    try:
        _wait_for_line(holder_proc, "held")
        started = time.monotonic()
        with pytest.raises(RunLockHeld) as refused:
            with run_lock(tmp_path):
                pass
        assert time.monotonic() - started < 5  # at once, not after a timeout
        holder = refused.value.holder
        assert holder is not None and holder.pid == holder_proc.pid and holder.host == socket.gethostname()
        assert "run_lock_helpers.py hold" in holder.command and holder.started_at[:4].isdigit()
        message = str(refused.value)
        assert f"process {holder_proc.pid} on {socket.gethostname()}" in message and str(tmp_path) in message

        told = []
        with pytest.raises(RunLockHeld, match="waited"):
            with run_lock(tmp_path, wait=True, timeout_s=1.0, poll_s=0.1, on_wait=told.append):
                pass
        assert len(told) == 1 and told[0].holder.pid == holder_proc.pid
    finally:
        _kill(holder_proc)
    # the kernel released the lock with the killed process: no stale lock to clear by hand
    with run_lock(tmp_path) as me:
        assert me.pid == os.getpid() and read_lock_holder(run_lock_path(tmp_path)).pid == os.getpid()
    assert read_lock_holder(run_lock_path(tmp_path)) is None


def test_the_lock_is_reentrant_in_one_process_and_separate_per_data_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    with run_lock(a) as outer:
        with run_lock(a) as inner:  # `wmp run`, then the run's own resource
            assert inner is outer and held_run_lock(a) is outer
        assert held_run_lock(a) is outer
        with run_lock(b):  # another data folder is another lock
            assert held_run_lock(b) is not None
    assert held_run_lock(a) is None and held_run_lock(b) is None


def test_a_run_killed_with_sigkill_is_marked_failed_at_the_next_start(tmp_path):
    data_dir, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    proc = _helper("job", str(data_dir), str(home))
    try:
        _wait_for_line(proc, "running")
        instance = DagsterInstance.from_config(str(home))
        (record,) = instance.get_run_records()
        assert record.dagster_run.status == DagsterRunStatus.STARTED
        assert record.dagster_run.tags[PID_TAG] == str(proc.pid)  # the run names its process
        with pytest.raises(RunLockHeld, match=f"process {proc.pid} on"):
            with take_run_lock(data_dir, instance):
                pass
        assert instance.get_run_by_id(record.dagster_run.run_id).status == DagsterRunStatus.STARTED
    finally:
        _kill(proc)
    assert instance.get_run_by_id(record.dagster_run.run_id).status == DagsterRunStatus.STARTED  # Dagster never notices
    with take_run_lock(data_dir, instance):
        pass
    run = instance.get_run_by_id(record.dagster_run.run_id)
    assert run.status == DagsterRunStatus.FAILURE
    (failure,) = failure_summary(instance, run.run_id)
    assert f"process {proc.pid} on {socket.gethostname()} ended without finishing this run" in failure.message


class DropRefused(ValueError):
    pass


@op
def connect_drops() -> None:
    try:
        int("0x46A8A")
    except ValueError as exc:
        raise DropRefused("drop 2026-11-23, file crimes.csv, row 7: easting '0x46A8A' is not an integer") from exc


@op
def needs_the_warehouse(warehouse: WarehouseResource) -> None:
    pass


@job(executor_def=in_process_executor)
def failing_job():
    connect_drops()


def test_failure_summary_gives_the_original_error_not_dagsters_wrapper():
    instance = DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = failure_summary(instance, result.run_id)
    assert failure.step == "connect_drops" and failure.error_class == "DropRefused"
    assert failure.line() == "connect_drops: drop 2026-11-23, file crimes.csv, row 7: easting '0x46A8A' is not an integer"
    assert "Error occurred while executing" not in failure.line()


def test_a_run_started_while_another_holds_the_folder_fails_naming_it(tmp_path):
    holder_proc = _helper("hold", str(tmp_path))
    try:
        _wait_for_line(holder_proc, "held")

        @job(executor_def=in_process_executor)
        def uses_warehouse():
            needs_the_warehouse()

        defs = Definitions(
            jobs=[uses_warehouse],
            resources={"warehouse": WarehouseResource(database_path=str(tmp_path / "w.duckdb"), data_dir=str(tmp_path))},
        )
        instance = DagsterInstance.ephemeral()
        result = defs.resolve_job_def("uses_warehouse").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        (failure,) = failure_summary(instance, result.run_id)
        assert f"held by process {holder_proc.pid} on {socket.gethostname()}" in failure.message
    finally:
        _kill(holder_proc)


def test_two_data_folders_parse_into_their_own_dbt_target(tmp_path):
    session_data_dir = os.environ["WMP_DATA_DIR"]
    try:
        here, there = use_data_dir(tmp_path / "one"), use_data_dir(tmp_path / "two")
    finally:
        os.environ["WMP_DATA_DIR"] = session_data_dir
        os.environ.pop("WMP_DUCKDB_PATH", None)
    manifest = dbt_parse(here.data_dir, here.duckdb_path)
    assert manifest == here.data_dir / "dbt" / "target" / "manifest.json" and manifest.exists()
    assert (here.data_dir / "dbt" / "logs" / "dbt.log").exists()
    assert not dbt_target_dir(there.data_dir).exists()
    targets = {build_resources(s)["dbt"].target_dir for s in (here, there)}
    assert targets == {str(dbt_target_dir(here.data_dir)), str(dbt_target_dir(there.data_dir))}
    # the definitions of this session read the manifest of the session's data folder, not the dbt project's
    from wmp_pipeline.defs.project import dbt_project

    assert Path(dbt_project.manifest_path) == dbt_target_dir(Path(session_data_dir)) / "manifest.json"
