"""Small programs for the run-lock tests, run in subprocesses (``python -m tests.run_lock_helpers ...``).

``hold <data_dir>``: take the data folder's run lock, print ``held``, sleep.
``job <data_dir> <dagster_home>``: run a one-step Dagster job whose warehouse
resource takes the run lock (as every weekly run does), print ``running``
from inside the step, then sleep in it until killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dagster import Definitions, in_process_executor, job, op

from wmp_pipeline.defs.resources import WarehouseResource


def hold(data_dir: str) -> None:
    from wmp_pipeline.warehouse import run_lock

    with run_lock(Path(data_dir)):
        print("held", flush=True)
        time.sleep(600)


@op
def long_step(warehouse: WarehouseResource) -> None:
    print("running", flush=True)
    time.sleep(600)


@job
def sleeper():
    long_step()


def sleeping_job(data_dir: str):
    defs = Definitions(
        jobs=[sleeper],
        resources={"warehouse": WarehouseResource(database_path=str(Path(data_dir) / "w.duckdb"), data_dir=data_dir)},
        executor=in_process_executor,
    )
    return defs.resolve_job_def("sleeper")


def run_job(data_dir: str, dagster_home: str) -> None:
    import os

    os.environ["DAGSTER_HOME"] = dagster_home
    from dagster import DagsterInstance

    sleeping_job(data_dir).execute_in_process(instance=DagsterInstance.get())


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"hold": hold, "job": run_job}[command](*rest)
