"""Time and memory of the weekly IOM steps, and what downsampling costs in accuracy.

    python scripts/benchmark_iom.py --duckdb PATH --forecast-date YYYY-MM-DD [--artifacts DIR]
        [--truth DIR] [--sampling]

Runs, on a working database that already holds the dbt models (ingest a
generated preset and ``dbt build`` first), the weekly IOM run with
retraining: snapshots, rolling-origin backtest + production fit, fairness
audit and scoring. Prints wall time per step, the process's peak resident
memory and the backtest metrics as JSON. With ``--truth`` it adds the AUC
of the generator's true probabilities on the same test snapshots. With
``--sampling`` it re-runs the backtest with other negative sampling rates and
row caps to show what downsampling costs (slow: one backtest each).

The target on two cores: snapshots + training + scoring in about three
minutes and under 3 GB on the ``force`` preset.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import psutil

from wmp_pipeline.iom import runner
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.settings import get_settings


class PeakMemory:
    """Samples this process's resident memory every 0.2 s."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _summary(result) -> dict:
    if result.summary is None or len(result.summary) == 0:
        return {}
    cols = [c for c in ("roc_auc", "pr_auc", "brier", "precision_at_100", "precision_at_250", "precision_at_500") if c in result.summary]
    return {model: {c: round(float(v), 4) for c, v in row.items()} for model, row in result.summary[cols].iterrows()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duckdb", type=Path, required=True)
    p.add_argument("--forecast-date", type=date.fromisoformat, required=True)
    p.add_argument("--artifacts", type=Path, default=None, help="artifacts folder (default: a temporary one)")
    p.add_argument("--truth", type=Path, default=None, help="generator ground truth, for the ceiling")
    p.add_argument("--sampling", action="store_true", help="also compare negative sampling rates and row caps")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="iom-bench-"))
    settings = dataclasses.replace(get_settings(), duckdb_path=args.duckdb, artifacts_dir=artifacts)
    config = IomConfig()
    out: dict = {"forecast_date": args.forecast_date.isoformat(), "config": {
        "negative_sample_rate": config.negative_sample_rate, "max_fit_rows": config.max_fit_rows,
        "backtest_refit_every_weeks": config.backtest_refit_every_weeks, "snapshot_stride_weeks": config.snapshot_stride_weeks}}
    con = duckdb.connect(str(args.duckdb), config={"threads": args.threads})
    with PeakMemory() as mem:
        t0 = time.monotonic()
        snaps = runner.run_snapshots(con, args.forecast_date, config)  # the forecast week, as iom_snapshots builds it
        t1 = time.monotonic()
        training = runner.run_training(con, settings, args.forecast_date, config, force=True)
        t2 = time.monotonic()
        runner.run_fairness(con, config)
        t3 = time.monotonic()
        scoring = runner.run_scoring(con, settings, args.forecast_date, config)
        t4 = time.monotonic()
    out["rows"] = {"snapshots": snaps.rows, "eligible_scored": scoring.eligible, "training_rows": training.n_training_rows}
    out["seconds"] = {
        "snapshots": round(t1 - t0, 1),
        "training_and_backtest": round(t2 - t1, 1),  # includes building the training snapshots
        "fairness": round(t3 - t2, 1),
        "scoring": round(t4 - t3, 1),
        "total": round(t4 - t0, 1),
        **{f"training_{k}": round(v, 1) for k, v in training.timings.items()},
    }
    out["peak_rss_gb"] = round(mem.peak / 1e9, 2)
    out["backtest_mean_over_test_weeks"] = _summary(training)
    out["served_model"] = training.selection.get("champion")
    con.close()

    if args.truth:
        from wmp_pipeline.iom.evaluate_truth import load_joined, truth_comparison

        table = truth_comparison(load_joined(args.duckdb, args.truth))
        out["vs_ground_truth_roc_auc"] = {k: round(float(v), 4) for k, v in table["roc_auc"].items()}

    if args.sampling:
        rows = []
        for rate, cap in ((1.0, None), (0.35, None), (0.35, 150_000), (0.35, 50_000), (0.1, 50_000)):
            cfg = dataclasses.replace(config, negative_sample_rate=rate, max_fit_rows=cap)
            with duckdb.connect(str(args.duckdb), config={"threads": args.threads}) as c:
                start = time.monotonic()
                res = runner.run_training(c, dataclasses.replace(settings, artifacts_dir=Path(tempfile.mkdtemp())), args.forecast_date, cfg, force=True)
            summary = _summary(res).get(res.selection.get("champion", "xgboost"), {})
            rows.append({"negative_rate": rate, "max_fit_rows": cap, "seconds": round(time.monotonic() - start, 1),
                         "roc_auc": summary.get("roc_auc"), "precision_at_250": summary.get("precision_at_250")})
        out["downsampling"] = rows
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
