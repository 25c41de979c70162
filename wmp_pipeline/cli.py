"""``wmp``: the pipeline's command line.

    wmp run        generate the default CONNECT history if the landing folder is
                   empty, then run the weekly job end to end for the latest week
    wmp generate   write synthetic CONNECT drops (see wmp_pipeline.generator)
    wmp ui         open the Dagster UI on the same data (dagster dev)
    wmp prepare    dbt parse: (re)build the dbt manifest Dagster loads
    wmp evaluate-iom, wmp policeuk-backtest, wmp policeuk-pooling, wmp benchmark
                   evaluation and benchmark commands (each has --help)
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from wmp_pipeline.instance import prepare_dagster_home
from wmp_pipeline.settings import DBT_PROJECT_DIR, PROJECT_ROOT, get_settings

#: Sub-commands implemented in their own modules: ``module`` (its ``main(argv)``) or ``module:function``.
DELEGATED = {
    "generate": "wmp_pipeline.generator.__main__",
    "evaluate-iom": "wmp_pipeline.iom.evaluate_truth",
    "policeuk-backtest": "wmp_pipeline.policeuk.cli",
    "policeuk-pooling": "wmp_pipeline.policeuk.cli:pooling_main",
    "benchmark": "wmp_pipeline.benchmark",
}


def dagster_home() -> Path:
    """A persistent Dagster instance under the data folder, shared by ``wmp run`` and ``wmp ui``.

    Its ``dagster.yaml`` (SQLite, or PostgreSQL when configured; the run queue)
    comes from :mod:`wmp_pipeline.instance`."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().data_dir / "dagster_home")
    prepare_dagster_home(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def prepare_dbt() -> None:
    """``dbt parse`` so Dagster finds a current manifest (prepare_if_dev only works under dagster dev)."""
    env = {**os.environ, "WMP_DUCKDB_PATH": str(get_settings().duckdb_path)}
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run([str(dbt), "parse", "--quiet"], cwd=DBT_PROJECT_DIR, env=env, check=True)


def latest_partition_key() -> str:
    from wmp_pipeline.defs.sensors import partition_for_drop
    from wmp_pipeline.ingest.drops import find_drop_dirs

    drops = find_drop_dirs(get_settings().connect_dir)
    if not drops:
        raise SystemExit(f"no CONNECT drops in {get_settings().connect_dir}")
    return partition_for_drop(drops[-1].name)


def cmd_run(args: argparse.Namespace) -> int:
    settings = get_settings()
    os.environ["WMP_DUCKDB_PATH"] = str(settings.duckdb_path)
    started = time.monotonic()
    if not any(settings.connect_dir.glob("*/manifest.json")):
        from wmp_pipeline.generator import generate

        print(f"Landing folder {settings.connect_dir} is empty: generating the '{args.preset}' preset (seed {args.seed}).")
        end = date.fromisoformat(args.end_date) if args.end_date else None
        generate(args.preset, settings.landing_dir, settings.ground_truth_dir, seed=args.seed, end_date=end)
    print("Preparing dbt (dbt parse) ...")
    prepare_dbt()
    dagster_home()
    from dagster import DagsterInstance

    from wmp_pipeline.definitions import defs

    partition = args.partition or latest_partition_key()
    print(f"Running the weekly job for partition {partition} (forecast date = partition + 7 days) ...")
    job = defs.resolve_job_def("weekly_job")
    result = job.execute_in_process(partition_key=partition, instance=DagsterInstance.get(), raise_on_error=False)
    minutes = (time.monotonic() - started) / 60
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"FAILED step {event.step_key}: {event.event_specific_data.error.message.strip()[:2000]}", file=sys.stderr)
        print(f"The weekly job failed after {minutes:.1f} min.", file=sys.stderr)
        return 1
    print(
        f"\nDone in {minutes:.1f} min.\n"
        f"  working database (pipeline only):  {settings.duckdb_path}\n"
        f"  analyst database (open read-only): {settings.analyst_db_path}\n"
        f"  reports, maps, models:             {settings.artifacts_dir}\n"
        f"  Dagster instance (run history):    {os.environ['DAGSTER_HOME']}\n"
        f"Open the Dagster UI on the same data:  .venv/bin/wmp ui   (then http://127.0.0.1:3000)"
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    prepare_dbt()
    dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    return subprocess.call(cmd, cwd=PROJECT_ROOT)


def cmd_prepare(args: argparse.Namespace) -> int:
    prepare_dbt()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module_name, _, function = DELEGATED[argv[0]].partition(":")
        return getattr(importlib.import_module(module_name), function or "main")(argv[1:]) or 0
    parser = argparse.ArgumentParser(prog="wmp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the weekly job end to end for the latest week")
    run.add_argument("--preset", default="small", help="generator preset used when the landing folder is empty (default: small)")
    run.add_argument("--seed", type=int, default=20211101)
    run.add_argument("--end-date", help="last drop date for generated data (default: the latest Monday)")
    run.add_argument("--partition", help="weekly partition key (a Monday); default: the week completed by the newest drop")
    run.set_defaults(func=cmd_run)
    ui = sub.add_parser("ui", help="open the Dagster UI (dagster dev) on the same data")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    prep = sub.add_parser("prepare", help="dbt parse (refresh the manifest)")
    prep.set_defaults(func=cmd_prepare)
    for name in DELEGATED:
        sub.add_parser(name, help=f"see: wmp {name} --help")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
