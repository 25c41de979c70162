"""The police.uk commands: ``wmp policeuk-backtest`` and ``wmp policeuk-pooling``.

    wmp policeuk-backtest --dir FOLDER [--duckdb PATH] [--cell-size 250]
                          [--months 12] [--out results.csv] [--force SLUG]

Loads the folder's street-level files into the DuckDB file (idempotent),
builds the staging model with dbt, backtests the force (see
:mod:`wmp_pipeline.policeuk.backtest`) and forecasts the next month
(:mod:`wmp_pipeline.policeuk.forecast`), the model trained alone or pooled
with other forces as recorded in ``policeuk_pooling_choice``. Prints the
table and writes ``results.csv`` (the table), ``results_per_origin.csv`` (one
row per month) and ``results.json`` (both, with what was measured on), and
the tables ``policeuk_backtest_metrics`` and ``policeuk_hotspot_predictions``.

    wmp policeuk-pooling --dir FOLDER [--forces A,B,...] [--duckdb PATH]
                         [--cell-size 250] [--months 12] [--refit-every N] [--out pooling.json]

Loads the folder (several forces), backtests each force trained alone and
trained on the pool of all of them, and records the better training per force
(:mod:`wmp_pipeline.policeuk.pooling`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from wmp_pipeline import warehouse
from wmp_pipeline.policeuk import pooling
from wmp_pipeline.policeuk.backtest import (
    METRICS_TABLE,
    beats_baselines,
    format_table,
    monthly_config,
    months_won,
    prepare_force,
    run_backtest,
    store_metrics,
    write_outputs,
)
from wmp_pipeline.policeuk.files import find_street_files
from wmp_pipeline.policeuk.forecast import PREDICTIONS_TABLE, forecast_next_month, store_predictions
from wmp_pipeline.policeuk.loader import load_folder, loaded_forces
from wmp_pipeline.policeuk.staging import build_staging
from wmp_pipeline.settings import get_settings


def choose_force(folder_forces: list[str], requested: str | None) -> str:
    """The force to backtest: the requested one, or the folder's only one (pure)."""
    if requested:
        return requested
    forces = sorted(set(folder_forces))
    if len(forces) == 1:
        return forces[0]
    if not forces:
        raise SystemExit("no police.uk street-level files (<YYYY-MM>-<force>-street.csv[.gz]) in the folder")
    raise SystemExit(f"the folder holds several forces {forces}: choose one with --force")


def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, type=Path, help="folder of <YYYY-MM>-<force>-street.csv[.gz] files (searched recursively)")
    p.add_argument("--duckdb", type=Path, help="DuckDB file to load into (default: the pipeline's working database)")
    p.add_argument("--cell-size", type=int, default=250, help="grid cell size in metres (default 250)")
    p.add_argument("--months", type=int, default=12, help="backtest months, one forecast each (default 12)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="wmp policeuk-backtest",
        description="Load a folder of police.uk street-level files, backtest the hotspot model and baselines on it, forecast the next month.",
    )
    _common_args(p)
    p.add_argument("--out", type=Path, help="summary CSV (default: <artifacts>/policeuk/backtest_<force>_<last month>.csv)")
    p.add_argument("--force", help="force slug when the folder holds several forces, e.g. south-yorkshire")
    return p.parse_args(argv)


def _setup(folder: Path, duckdb_path: Path | None) -> Path:
    """Check the folder, load it and build the staging model; returns the database path."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    db = (duckdb_path or get_settings().duckdb_path).expanduser().resolve()
    if not folder.is_dir():
        raise SystemExit(f"--dir {folder} is not a folder")
    print(f"Loading police.uk street-level files from {folder} into {db} ...", flush=True)
    with warehouse.connect(db) as con:
        load_folder(con, folder)  # logs its summary
    print("Building stg_policeuk__street_crimes with dbt ...", flush=True)
    build_staging(db)
    return db


def main(argv: list[str] | None = None) -> int:
    """``wmp policeuk-backtest``."""
    args = parse_args(argv)
    started = time.monotonic()
    settings = get_settings()
    if not args.dir.is_dir():
        raise SystemExit(f"--dir {args.dir} is not a folder")
    force = choose_force([f.force_slug for f in find_street_files(args.dir)], args.force)
    db = _setup(args.dir, args.duckdb)
    cfg = monthly_config(cell_size_m=args.cell_size, months=args.months)
    with warehouse.connect(db) as con:
        choice = pooling.recorded_choice(con, force)
        print(f"Backtesting {force}: {args.months} months, {args.cell_size} m cells; model trained {choice.describe()} ...", flush=True)
        fp = prepare_force(con, force, cfg)
        fit_model = pooling.fitter_for_force(con, cfg, choice, fp, list(loaded_forces(con)["force_slug"]))
        bt = run_backtest(con, force, cfg, prepared=fp, fit_model=fit_model)
        run_id = f"{force}-{bt.source['last_month']}-{cfg.fingerprint()}-{choice.training}"
        store_metrics(con, bt, run_id)
        forecast = forecast_next_month(con, cfg, fp, fit_model, training=choice.training)
        store_predictions(con, forecast)
    elapsed = time.monotonic() - started
    src, study = bt.source, bt.study_area
    missing = ", ".join(m.strftime("%Y-%m") for m in src["missing_months"]) or "none"
    print(
        f"\n{src['force_name']} ({force}): {src['n_months']} months {src['first_month']:%Y-%m} to {src['last_month']:%Y-%m}, "
        f"missing months: {missing} (closed up, see docs/policeuk.md)\n"
        f"records {src['records']:,}; without a location {src['records_without_location']:,} (kept, not placed); "
        f"located outside the force's local authorities {src['records_outside_force_area']:,} (left out)\n"
        f"study area: {study['cells']:,} cells of {study['cell_size_m']} m = {study['area_km2']:,} km2 "
        f"(cells with any record before {study['defined_before'][:7]})\n"
        f"backtest months: {src['backtest_months'][0][:7]} to {src['backtest_months'][-1][:7]} "
        f"({len(src['backtest_months'])} forecasts, each of the next month, model refitted every {cfg.refit_every})\n"
        f"model training: {choice.describe()}\n"
    )
    print(format_table(bt.summary))
    out = args.out or settings.artifacts_dir / "policeuk" / f"backtest_{force}_{src['last_month']:%Y-%m}.csv"
    info = {"run_id": run_id, "duckdb": str(db), "runtime_s": round(elapsed, 1), "command_args": vars(args), "training": choice.training,
            "pool_forces": list(choice.pool_forces)}
    paths = write_outputs(bt, out, info)
    beats = beats_baselines(bt.summary)
    if not beats.empty:
        print("\nModel beats every baseline (hit rate @5%, PAI @1%):")
        print(beats.to_string(index=False))
        won = months_won(bt.per_origin, 0.05)
        print("Months in which the model's hit rate @5% beat every baseline: "
              + ", ".join(f"{r.target} {r.months_won}/{r.months}" for r in won.itertuples()))
    month = forecast["forecast_month"].iloc[0]
    print(f"\nForecast for {month:%Y-%m}: {len(forecast):,} rows (cells x targets) in table {PREDICTIONS_TABLE}.")
    print(f"Wrote {paths['summary_csv']}, {paths['per_origin_csv']}, {paths['json']} and table {METRICS_TABLE}.")
    print(f"Runtime {elapsed:.0f} s (panel {bt.timings.get('panel', 0):.0f} s, backtest {bt.timings.get('backtest', 0):.0f} s).")
    return 0


def parse_pooling_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="wmp policeuk-pooling",
        description="Backtest each force's model trained alone and trained on several forces pooled; record the better per force.",
    )
    _common_args(p)
    p.add_argument("--forces", help="comma-separated force slugs to compare and pool (default: every force in the folder)")
    p.add_argument("--refit-every", type=int, help="refit the models every N backtest months (default: the monthly set-up's 3); "
                   "both trainings are judged with the same setting")
    p.add_argument("--out", type=Path, help="JSON of the figures (default: <artifacts>/policeuk/pooling.json)")
    return p.parse_args(argv)


def pooling_main(argv: list[str] | None = None) -> int:
    """``wmp policeuk-pooling``."""
    args = parse_pooling_args(argv)
    started = time.monotonic()
    if not args.dir.is_dir():
        raise SystemExit(f"--dir {args.dir} is not a folder")
    in_folder = sorted({f.force_slug for f in find_street_files(args.dir)})
    forces = [f.strip() for f in args.forces.split(",") if f.strip()] if args.forces else in_folder
    unknown = [f for f in forces if f not in in_folder]
    if unknown:
        raise SystemExit(f"forces {unknown} have no street-level files in {args.dir} (it holds {in_folder})")
    if len(forces) < 2:
        raise SystemExit(f"pooling needs at least two forces; {args.dir} holds {in_folder}")
    db = _setup(args.dir, args.duckdb)
    cfg = monthly_config(cell_size_m=args.cell_size, months=args.months)
    if args.refit_every:
        cfg = cfg.replace(refit_every=args.refit_every)
    print(f"Comparing alone vs pooled training for {', '.join(forces)}: {args.months} months, {args.cell_size} m cells ...", flush=True)
    with warehouse.connect(db) as con:
        comparison = pooling.compare_pooling(con, forces, cfg)
        pooling.store_comparison(con, comparison)
    elapsed = time.monotonic() - started
    print("\nModel only, pooled over the backtest months (hit rate @5%, PAI @1%):")
    print(comparison.scores.to_string(index=False))
    print("\nChoice per force (recorded in " + pooling.CHOICE_TABLE + "):")
    print(comparison.choices.to_string(index=False))
    out = args.out or get_settings().artifacts_dir / "policeuk" / "pooling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "forces": forces,
        "duckdb": str(db),
        "runtime_s": round(elapsed, 1),
        "config_fingerprint": cfg.fingerprint(),
        "config": json.loads(cfg.to_json()),
        "pooled_panel": comparison.pooled_panel,
        "choices": comparison.choices.to_dict(orient="records"),
        "scores": comparison.scores.to_dict(orient="records"),
        "summaries": {
            f"{force}/{training}": bt.summary.to_dict(orient="records") for (force, training), bt in comparison.backtests.items()
        },
        "timings_s": {f"{force}/{training}": bt.timings for (force, training), bt in comparison.backtests.items()},
    }
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nWrote {out} and tables {pooling.CHOICE_TABLE}, {pooling.METRICS_TABLE}. Runtime {elapsed:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
