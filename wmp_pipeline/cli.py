"""``wmp``: the pipeline's command line.

    wmp run        generate the default CONNECT history if the landing folder is
                   empty, then run the weekly job end to end for the latest week
                   (--force SLUG: one force of the registry; --force all: every
                   force, queued, N at once, then the national catalogue)
    wmp generate   write synthetic CONNECT drops (see wmp_pipeline.generator)
    wmp ui         open the Dagster UI on the same data (dagster dev)
    wmp prepare    dbt parse: (re)build the dbt manifest Dagster loads
    wmp drops      list the CONNECT drops (applied / refused / pending), accept a refused full drop
    wmp evaluate-iom, wmp policeuk-backtest, wmp benchmark
                   evaluation and benchmark commands (each has --help)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import subprocess
import sys
import time
import traceback
import warnings
from datetime import date, timedelta
from pathlib import Path

from wmp_pipeline.settings import PROJECT_ROOT, SettingsError, get_settings

#: Sub-commands implemented in their own modules, each with ``main(argv)``.
DELEGATED = {
    "generate": "wmp_pipeline.generator.__main__",
    "evaluate-iom": "wmp_pipeline.iom.evaluate_truth",
    "policeuk-backtest": "wmp_pipeline.policeuk.backtest",
    "benchmark": "wmp_pipeline.benchmark",
    "drops": "wmp_pipeline.ingest.operator",
}


def dagster_home() -> Path:
    """A persistent Dagster instance under the data folder, shared by ``wmp run`` and ``wmp ui``."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    from wmp_pipeline.run_queue import write_instance_yaml

    # The run queue: at most one run per core, never two of one force (one writer per force's DuckDB file).
    write_instance_yaml(home)
    return home


def prepare_dbt() -> None:
    """``dbt parse`` into the data folder's dbt target, so Dagster finds a current manifest."""
    from wmp_pipeline.dbt_runtime import dbt_parse

    settings = get_settings()
    dbt_parse(settings.data_dir, settings.duckdb_path)


def latest_partition_key() -> str:
    from wmp_pipeline.defs.sensors import partition_for_drop
    from wmp_pipeline.ingest.drops import ready_drop_dirs

    drops = ready_drop_dirs(get_settings().connect_dir)
    if not drops:
        raise SystemExit(f"no CONNECT drops in {get_settings().connect_dir}")
    return partition_for_drop(drops[-1].name)


#: Exit status of a run refused because another run holds the data folder (EX_TEMPFAIL: try again later).
EXIT_LOCKED = 75


def _last_completed_week(today: date | None = None) -> str:
    today = today or date.today()
    return (today - timedelta(days=today.weekday() + 7)).isoformat()


def latest_week_for(force, settings) -> str:
    """The newest week ``force``'s input completes (its newest drop or police.uk month);
    the week that ended last Sunday when the folder holds nothing (its run then fails, naming the folder)."""
    from wmp_pipeline.defs.sensors import newest_policeuk_month, partition_for_drop, week_for_policeuk_month

    if force.is_policeuk:
        month = newest_policeuk_month(force.landing, force.policeuk_slug)
        return week_for_policeuk_month(month) if month else _last_completed_week()
    from wmp_pipeline.ingest.drops import ready_drop_dirs

    drops = ready_drop_dirs(settings.connect_dir) if settings.connect_dir.is_dir() else []
    return partition_for_drop(drops[-1].name) if drops else _last_completed_week()


def _registry(args: argparse.Namespace):
    from wmp_pipeline.forces import FORCES_FILE_ENV, RegistryError, UnknownForce, registry_from_env

    if args.forces:
        os.environ[FORCES_FILE_ENV] = str(Path(args.forces).expanduser().resolve())
    try:
        registry = registry_from_env()
        return registry, registry.select(args.force)
    except (RegistryError, UnknownForce) as exc:
        raise SystemExit(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    registry, forces = _registry(args)
    if args.force is not None and (args.force.strip() == "all" or len(forces) > 1):
        return run_forces_queued(registry, forces, args)
    return run_one_force(registry, forces[0], args)


def run_one_force(registry, force, args: argparse.Namespace) -> int:
    """One force, in this process, holding its data folder's run lock (the Quick start path for the default force)."""
    from wmp_pipeline.forces import settings_for
    from wmp_pipeline.warehouse import RunLockHeld, run_lock

    # Refuse bad settings (unknown mode, production without a proper key) before any step runs.
    base = get_settings().check_startable()
    settings = settings_for(force, base)
    os.environ["WMP_DUCKDB_PATH"] = str(base.duckdb_path)
    started = time.monotonic()
    try:
        with run_lock(
            settings.data_dir,
            wait=args.wait,
            on_wait=lambda held: print(f"Waiting: {held}", file=sys.stderr, flush=True),
        ) as holder:
            return _run_weekly_job(args, settings, holder, started, registry, force, base)
    except RunLockHeld as held:
        print(f"Not started: {held}", file=sys.stderr)
        return EXIT_LOCKED
    except Exception as exc:  # before or around the Dagster run: say why last, after the traceback
        traceback.print_exc()
        print(f"\nwmp run stopped: {type(exc).__name__}: {_clip(str(exc))}", file=sys.stderr)
        return 1


def _run_weekly_job(args: argparse.Namespace, settings, holder, started: float, registry, force, base) -> int:
    """The weekly job of ``force``, with its data folder's run lock held."""
    from wmp_pipeline.defs.jobs import job_name_for
    from wmp_pipeline.defs.partitions import force_week_key

    quick_start = force.source == "connect" and settings.data_dir == base.data_dir
    if quick_start and not any(settings.connect_dir.glob("*/manifest.json")):
        from wmp_pipeline.generator import generate

        print(f"Landing folder {settings.connect_dir} is empty: generating the '{args.preset}' preset (seed {args.seed}).")
        end = date.fromisoformat(args.end_date) if args.end_date else None
        generate(args.preset, settings.landing_dir, settings.ground_truth_dir, seed=args.seed, end_date=end)
    print("Preparing dbt (dbt parse) ...", flush=True)
    prepare_dbt()
    dagster_home()
    from dagster import DagsterInstance

    from wmp_pipeline.defs.runs import fail_abandoned_runs, failure_summary, process_tags

    instance = DagsterInstance.get()
    for run_id in fail_abandoned_runs(instance, holder, force=force.slug, untagged_runs_are_mine=force.data_folder == "."):
        print(f"Run {run_id} was left unfinished by a process that is gone: marked failed in the run history.")
    from wmp_pipeline.definitions import defs

    partition = args.partition or latest_week_for(force, settings)
    which = "" if force.slug == registry.default_force else f" of force {force.slug}"
    print(f"Running the weekly job{which} for partition {partition} (forecast date = partition + 7 days) ...", flush=True)
    job = defs.resolve_job_def(job_name_for(force))
    with quiet_terminal(not args.verbose, settings) as run_config:
        result = job.execute_in_process(
            partition_key=force_week_key(force.slug, partition),
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
            tags=process_tags(holder.pid, holder.host),
        )
    minutes = (time.monotonic() - started) / 60
    where = (
        f"Full log: run {result.run_id} in the Dagster run history ({os.environ['DAGSTER_HOME']}; "
        f"`wmp ui`, then Runs); dbt's logs under {dbt_dir(settings)}."
    )
    if not result.success:
        print(f"\nThe weekly job for partition {partition} failed after {minutes:.1f} min. {where}", file=sys.stderr)
        failures = failure_summary(instance, result.run_id)
        print("Why it failed:" if failures else "Why it failed: no step recorded an error; see the full log.", file=sys.stderr)
        for failure in failures:
            print("  " + _clip(failure.line()), file=sys.stderr)
        return 1
    checks = _check_tally(result)
    print(f"\nDone in {minutes:.1f} min (partition {partition}). {checks}")
    from wmp_pipeline.publish.summary import analyst_summary

    for line in analyst_summary(settings.analyst_db_path):
        print(line)
    print(
        f"Where things are:\n"
        f"  working database (pipeline only):  {settings.duckdb_path}\n"
        f"  analyst database (read-only):      {settings.analyst_db_path}\n"
        f"  reports, maps, models:             {settings.artifacts_dir}\n"
        f"  {where}\n"
        f"Open the Dagster UI on the same data:  .venv/bin/wmp ui   (then http://127.0.0.1:3000)"
    )
    return 0


def run_forces_queued(registry, forces, args: argparse.Namespace) -> int:
    """One Dagster run per force through the instance's run queue (at most ``--workers`` at once),
    a per-force summary, then the national catalogue rebuilt from what succeeded."""
    import uuid

    from dagster import DagsterInstance

    from wmp_pipeline import run_queue
    from wmp_pipeline.catalogue import catalogue_path
    from wmp_pipeline.defs.jobs import CATALOGUE_JOB_NAME, job_name_for
    from wmp_pipeline.defs.partitions import force_week_key
    from wmp_pipeline.forces import settings_for

    started = time.monotonic()
    base = get_settings().check_startable()
    print("Preparing dbt (dbt parse) ...")
    prepare_dbt()
    home = dagster_home()
    workers = args.workers or run_queue.default_workers()
    run_queue.write_instance_yaml(home, workers)
    runs = []
    for force in forces:
        week = args.partition or latest_week_for(force, settings_for(force, base))
        runs.append(run_queue.ForceRun(force=force.slug, job=job_name_for(force), partition=str(force_week_key(force.slug, week))))
    batch = uuid.uuid4().hex[:12]
    print(f"Queueing {len(runs)} force runs (at most {workers} at once; batch {batch}) ...", flush=True)
    with DagsterInstance.get() as instance:
        instance.get_runs(limit=1)  # create the instance's storage before two processes race to (SQLite)
    daemon = run_queue.start_daemon(PROJECT_ROOT / "workspace.yaml", home / "wmp-daemon.log")
    try:
        with DagsterInstance.get() as instance:
            run_queue.submit_runs(instance, PROJECT_ROOT / "workspace.yaml", runs, tags={"wmp/batch": batch})

            def report(run):
                print(f"  {run.force}: {run.status}", flush=True)

            run_queue.wait_for_runs(instance, runs, on_change=report, daemon=daemon)
    finally:
        run_queue.stop_daemon(daemon)
    print("Rebuilding the national catalogue ...", flush=True)
    from wmp_pipeline.definitions import defs

    with DagsterInstance.get() as instance:
        cat = defs.resolve_job_def(CATALOGUE_JOB_NAME).execute_in_process(instance=instance, raise_on_error=False)
    minutes = (time.monotonic() - started) / 60
    print(f"\nForces ({minutes:.1f} min in all):")
    print("\n".join(run_queue.summary_lines(runs)))
    print(f"National catalogue (open read-only): {catalogue_path(base.data_dir)}" + ("" if cat.success else "  -- FAILED to rebuild"))
    failed = [r for r in runs if r.status != "ok"]
    return 1 if failed or not cat.success else 0


def dbt_dir(settings) -> Path:
    from wmp_pipeline.dbt_runtime import dbt_dir as folder

    return folder(settings.data_dir)


def _clip(text: str, max_lines: int = 12) -> str:
    lines = text.strip().splitlines() or [""]
    more = f"\n    ... ({len(lines) - max_lines} more lines in the full log)" if len(lines) > max_lines else ""
    return "\n    ".join(lines[:max_lines]) + more


def _check_tally(result) -> str:
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    blocking = [e for e in failed if e.severity.value == "ERROR"]
    text = f"Checks: {len(evaluations) - len(failed)} passed, {len(failed) - len(blocking)} warnings, {len(blocking)} failed"
    if failed:
        text += "\n  not passed: " + ", ".join(f"{e.asset_key.to_user_string()}:{e.check_name[:40]}" for e in failed[:6])
        text += ", ..." if len(failed) > 6 else ""
    return text + "."


@contextlib.contextmanager
def quiet_terminal(quiet: bool, settings):
    """Yield the run config for the console; when quiet, INFO and above only, dbt's own output to a file.

    dagster-dbt echoes every dbt event to stdout (about 230 lines on the tiny
    preset); it is all in the dbt log file of each invocation and in the
    Dagster event log, so a quiet run sends it to ``<data>/dbt/logs/wmp-run-stdout.log``.
    """
    if not quiet:
        yield {"loggers": {"console": {"config": {"log_level": "DEBUG", "compact": False}}}}
        return
    from wmp_pipeline.dbt_runtime import dbt_log_dir

    log_dir = dbt_log_dir(settings.data_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "wmp-run-stdout.log", "w", encoding="utf-8") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(out):
            yield {"loggers": {"console": {"config": {"log_level": "INFO", "compact": True}}}}


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
        module = importlib.import_module(DELEGATED[argv[0]])
        return module.main(argv[1:]) or 0
    parser = argparse.ArgumentParser(prog="wmp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the weekly job end to end for the latest week")
    run.add_argument("--preset", default="small", help="generator preset used when the landing folder is empty (default: small)")
    run.add_argument("--seed", type=int, default=20211101)
    run.add_argument("--end-date", help="last drop date for generated data (default: the latest Monday)")
    run.add_argument("--partition", help="week (a Monday); default: the week completed by each force's newest input")
    run.add_argument("--force", help="force slug of the registry, a comma-separated list, or 'all' (default: the registry's default force)")
    run.add_argument("--forces", help="force registry file (TOML; default: WMP_FORCES_FILE, else the embedded one-force registry)")
    run.add_argument("--workers", type=int, help="runs at once with several forces (default: the machine's cores)")
    run.add_argument(
        "--wait", action="store_true",
        help="if another run holds this data folder, wait for it to finish (default: stop at once, naming it)",
    )
    run.add_argument(
        "--verbose", action="store_true",
        help="print everything: Dagster's DEBUG events and dbt's own output (default: progress, results, the cause of a failure)",
    )
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
    try:
        return args.func(args)
    except SettingsError as exc:
        raise SystemExit(f"wmp {args.command}: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
