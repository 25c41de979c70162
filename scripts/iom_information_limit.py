"""Benchmark: the served IOM model against the information limit of the permitted features.

    python scripts/iom_information_limit.py --preset small --seeds 1 2 3
    python scripts/iom_information_limit.py --preset force --seeds 20211101 7
    python scripts/iom_information_limit.py --duckdb PATH --truth DIR   # an existing warehouse

For each seed it generates the preset, loads it, builds the dbt models the
IOM needs and runs the weekly retraining exactly as the pipeline does (the
rolling-origin backtest of every candidate, the champion choice, the final
fit). Then, on the backtest's own test weeks, it scores in one table:

- the **ceiling**: the generator's true probability ``p_high_harm_12m``;
- the **oracle**: xgboost fitted to the *true probability* (not the outcome)
  from the permitted features (sex excluded, as in the pipeline), trained on
  the labelled snapshot dates before the first test week: no model of those
  features can do better, so this is the information limit;
- the **served** model (the champion) and each candidate (monotone xgboost,
  logistic regression, rank by harm score), from the backtest's predictions.

Per scorer: ROC AUC and precision at the list size (means over test weeks,
against the realised outcome the pipeline labelled), and the pooled expected
calibration error of its probabilities. Per seed it checks the goals of
issue 18: served ROC AUC within 0.01 of the oracle's; the served model not
below the best candidate on precision at the list size by more than noise
(the champion choice's paired bootstrap); pooled ECE at most 0.01. Results
are printed and written to ``benchmarks/results/iom_information_limit_<preset>.json``.

This reads the ground truth, so it is a benchmark script, never part of
the pipeline or a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import xgboost as xgb

from wmp_pipeline.evaluation.classification import expected_calibration_error, precision_at_k, roc_auc
from wmp_pipeline.iom import runner
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.settings import DBT_PROJECT_DIR, PROJECT_ROOT, get_settings

ORACLE_PARAMS = dict(max_depth=5, eta=0.05, subsample=0.8, colsample_bytree=0.8, nthread=2, tree_method="hist", max_bin=128)
END_DATE = date(2026, 11, 23)
#: issue 18's goals
AUC_GAP_GOAL = 0.01
ECE_GOAL = 0.01


def build_warehouse(preset: str, seed: int, root: Path, end_date: date) -> tuple[Path, Path, dict]:
    """Generate, load and dbt-build one preset; returns (duckdb path, truth dir, timings)."""
    from wmp_pipeline import warehouse
    from wmp_pipeline.generator import generate
    from wmp_pipeline.ingest.load import ingest_landing

    os.environ["WMP_DATA_DIR"] = str(root)
    os.environ["WMP_DUCKDB_PATH"] = str(root / "warehouse" / "wmp.duckdb")
    settings = get_settings()
    timings = {}
    t = time.monotonic()
    generate(preset, settings.landing_dir, settings.ground_truth_dir, seed=seed, end_date=end_date)
    timings["generate_s"] = time.monotonic() - t
    t = time.monotonic()
    with warehouse.connect(settings.duckdb_path) as con:
        ingest_landing(con, settings.connect_dir)
    timings["ingest_s"] = time.monotonic() - t
    t = time.monotonic()
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "WMP_DUCKDB_PATH": str(settings.duckdb_path)}
    proc = subprocess.run(
        [str(dbt), "build", "--quiet", "--select", "+iom_offender_week", "+stg_connect__persons",
         "--target-path", str(root / "dbt_target"), "--log-path", str(root / "dbt_logs")],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    timings["dbt_s"] = time.monotonic() - t
    return settings.duckdb_path, settings.ground_truth_dir, timings


def _weekly_mean(frame: pd.DataFrame, column: str, fn) -> float:
    values = [fn(g["label"].to_numpy(int), g[column].to_numpy(float)) for _, g in frame.groupby("test_week")]
    return float(np.nanmean(values))


def evaluate(duckdb_path: Path, truth_dir: Path, config: IomConfig, forecast_date: date, artifacts: Path) -> dict:
    """Retrain as the pipeline does, then score every scorer on the backtest's test weeks."""
    settings = dataclasses.replace(get_settings(), duckdb_path=duckdb_path, artifacts_dir=artifacts)
    t = time.monotonic()
    with duckdb.connect(str(duckdb_path)) as con:
        result = runner.run_training(con, settings, forecast_date, config, force=True)
        train_s = time.monotonic() - t
        preds = con.execute(f"select person_id, test_week, model, label, score, probability from {runner.BACKTEST}").df()
        features = runner.features_for(config)
        frame = runner.load_snapshots(con, features, "label is not null", table=runner.TRAINING_SNAPSHOTS)
        truth = con.execute(
            "select person_id, snapshot_date, p_high_harm_12m as p from read_parquet(?)", [str(truth_dir / "iom_truth.parquet")]
        ).df()
    selection = result.selection
    served = selection["champion"]
    truth["week"] = pd.to_datetime(truth["snapshot_date"]).dt.date
    frame = frame.merge(truth[["person_id", "week", "p"]], on=["person_id", "week"], how="inner")
    preds["test_week"] = pd.to_datetime(preds["test_week"]).dt.date
    test_weeks = sorted(preds["test_week"].unique())
    train = frame[frame["week"] < test_weeks[0]]
    if len(train) > 300_000:
        train = train.sample(300_000, random_state=0)
    names = [f.name for f in features]
    t = time.monotonic()
    booster = xgb.train(
        {**ORACLE_PARAMS, "objective": "reg:logistic"},
        xgb.DMatrix(train[names].to_numpy(np.float32), label=train["p"].to_numpy(), weight=train["sample_weight"].to_numpy(float)),
        400,
    )
    oracle_s = time.monotonic() - t
    wide = preds.pivot_table(index=["person_id", "test_week", "label"], columns="model", values="probability", aggfunc="first")
    wide.columns = [f"{c}" for c in wide.columns]
    ranks = preds.pivot_table(index=["person_id", "test_week", "label"], columns="model", values="score", aggfunc="first")
    ranks.columns = [f"{c}__score" for c in ranks.columns]
    wide = wide.join(ranks).reset_index()
    test = frame[frame["week"].isin(test_weeks)].rename(columns={"week": "test_week"})
    test["oracle"] = booster.predict(xgb.DMatrix(test[names].to_numpy(np.float32)))
    joined = wide.merge(test[["person_id", "test_week", "p", "oracle"]], on=["person_id", "test_week"], how="inner")
    k = config.operating_top_k

    def row(name: str, prob_col: str | None, rank_col: str) -> dict:
        return {
            "scorer": name,
            "roc_auc": round(_weekly_mean(joined, rank_col, roc_auc), 4),
            f"precision_at_{k}": round(_weekly_mean(joined, rank_col, lambda y, s: precision_at_k(y, s, k)), 4),
            "ece_pooled": round(expected_calibration_error(joined["label"].to_numpy(int), joined[prob_col].to_numpy(float), config.ece_bins), 4)
            if prob_col else None,
        }

    table = [row("ceiling (true probability)", "p", "p"), row("oracle (permitted features -> true p)", "oracle", "oracle")]
    table.append({**row(f"served: {served}", served, f"{served}__score"), "served": True})
    for candidate in config.candidates:
        if candidate in joined.columns:
            table.append(row(candidate, candidate, f"{candidate}__score"))
    oracle, served_row = table[1], table[2]
    best = max((r for r in table[3:]), key=lambda r: r[f"precision_at_{k}"])
    goals = {
        "served_auc_within_0.01_of_oracle": served_row["roc_auc"] >= oracle["roc_auc"] - AUC_GAP_GOAL,
        "served_auc_gap_to_oracle": round(oracle["roc_auc"] - served_row["roc_auc"], 4),
        "best_candidate_on_primary": best["scorer"],
        "served_minus_best_on_primary": round(served_row[f"precision_at_{k}"] - best[f"precision_at_{k}"], 4),
        "served_not_beaten_beyond_noise": served == selection["leader"] or bool(selection["kept_simpler"]),
        "ece_within_0.01": served_row["ece_pooled"] is not None and served_row["ece_pooled"] <= ECE_GOAL,
    }
    return {
        "served": served,
        "selection": {k2: selection[k2] for k2 in ("champion", "runner_up", "leader", "margin", "margin_low", "margin_high", "win_share", "kept_simpler", "n_weeks", "reason")},
        "operating_point": {c: (None if pd.isna(v) else float(v)) for c, v in result.operating.iloc[0].items() if c in (
            "n_flagged", "positives", "sensitivity", "sensitivity_low", "sensitivity_high", "precision", "precision_low", "precision_high")},
        "calibration_pipeline": result.calibration,
        "test_weeks": len(test_weeks),
        "test_rows_with_truth": int(len(joined)),
        "table": table,
        "goals": goals,
        "seconds": {"training_and_backtest": round(train_s, 1), "oracle_fit": round(oracle_s, 1)},
    }


def print_table(seed, res: dict, k: int) -> None:
    print(f"\nseed {seed}: served {res['served']} ({res['test_weeks']} test weeks, {res['test_rows_with_truth']:,} test rows)")
    print(f"  {'scorer':<42} {'ROC AUC':>8} {'P@' + str(k):>8} {'ECE':>8}")
    for r in res["table"]:
        ece = "" if r["ece_pooled"] is None else f"{r['ece_pooled']:.4f}"
        print(f"  {r['scorer']:<42} {r['roc_auc']:>8.4f} {r[f'precision_at_{k}']:>8.4f} {ece:>8}")
    print("  goals:", json.dumps(res["goals"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="small", help="generator preset (small, force, ...)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--end-date", type=date.fromisoformat, default=END_DATE)
    p.add_argument("--duckdb", type=Path, help="use this built warehouse instead of generating")
    p.add_argument("--truth", type=Path, help="its ground truth folder (with --duckdb)")
    p.add_argument("--workdir", type=Path, default=None, help="where generated data goes (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    config = IomConfig()
    results = {}
    runs = [("given", None)] if args.duckdb else [(seed, seed) for seed in args.seeds]
    for label, seed in runs:
        work = Path(tempfile.mkdtemp(prefix=f"iom-limit-{args.preset}-{label}-", dir=args.workdir))
        timings = {}
        if args.duckdb:
            db, truth = args.duckdb, args.truth
        else:
            db, truth, timings = build_warehouse(args.preset, seed, work, args.end_date)
        res = evaluate(db, truth, config, args.end_date, work / "artifacts")
        res["seconds"].update({k: round(v, 1) for k, v in timings.items()})
        results[str(label)] = res
        print_table(label, res, config.operating_top_k)
    out = args.out or PROJECT_ROOT / "benchmarks" / "results" / f"iom_information_limit_{args.preset if not args.duckdb else 'given'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "preset": args.preset,
        "seeds": [s for _, s in runs],
        "end_date": args.end_date.isoformat(),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "list_size": config.operating_top_k,
        "results": results,
    }
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
