"""Time and score the whole hotspot part on a warehouse that holds ``int_crimes__classified``.

Runs, on a copy of the warehouse, the steps of the weekly hotspot assets:
cells, panel, 52-week backtest (both targets, model + baselines + ceiling when
the generator's truth is given), production models, and the week's
predictions with maps; prints wall and CPU seconds per step, peak memory,
and the backtest table (hit rate and PAI at each area share).

    python scripts/benchmark_hotspot.py --warehouse /tmp/force.duckdb \\
        --truth /tmp/force/truth --forecast-date 2026-11-23 [--refit-every 4 13]

To build such a warehouse from a generator preset outside the repository:
``python -m wmp_pipeline.generator --preset force --landing /tmp/f/landing
--truth /tmp/f/truth``, then ingest the drops and run ``dbt build`` with
``WMP_DUCKDB_PATH`` pointing at it (or run the pipeline's weekly job).
With several ``--refit-every`` values the backtest is repeated with each
cadence, to show what refitting less often costs.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from wmp_pipeline.hotspot import runner
from wmp_pipeline.hotspot.backtest import summary_table
from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.connect_source import load_truth


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warehouse", type=Path, required=True, help="DuckDB file with int_crimes__classified (copied, not changed)")
    p.add_argument("--forecast-date", type=date.fromisoformat, required=True, help="a Monday")
    p.add_argument("--truth", type=Path, default=None, help="generator truth folder, for the ceiling (optional)")
    p.add_argument("--diagnostics", action="store_true",
                   help="also score the weekly truth summed over the window (ceiling_diag_summed_weekly)")
    p.add_argument("--boundary", type=Path, default=None, help="optional LSOA boundary GeoJSON")
    p.add_argument("--refit-every", type=int, nargs="+", default=[13])
    p.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    p.add_argument("--config", type=str, default="{}", help="JSON of HotspotConfig overrides")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="hotspot-bench-"))
    db = work / "wmp.duckdb"
    shutil.copy(args.warehouse, db)
    truth = load_truth(args.truth, weekly=args.diagnostics)
    cfg = HotspotConfig.weekly(**json.loads(args.config))
    con = duckdb.connect(str(db), config={"threads": args.threads})
    timings: dict[str, dict[str, float]] = {}

    def step(name, fn, *a, **kw):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*a, **kw)
        timings[name] = {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1)}
        print(f"{name}: {timings[name]}", file=sys.stderr, flush=True)
        return out

    try:
        step("cells", runner.build_cells_table, con, cfg, args.boundary)
        grids = step("panel", runner.build_panel_table, con, cfg, args.forecast_date)
        tables = {}
        for every in args.refit_every:
            run_cfg = cfg.replace(refit_every=every)
            result, _ = step(f"backtest_refit_{every}", runner.run_backtest_table, con, run_cfg, args.forecast_date, truth)
            tables[every] = summary_table(result.overall, cfg.area_shares)
        step("models", runner.train_or_reuse_models, con, cfg, args.forecast_date, work / "artifacts", True)
        step("predictions", runner.score_week, con, cfg, args.forecast_date, work / "artifacts")
    finally:
        con.close()
    first = args.refit_every[0]
    core = ["cells", "panel", f"backtest_refit_{first}", "models", "predictions"]
    out = {
        "forecast_date": args.forecast_date.isoformat(),
        "cell_sizes_m": {t: cfg.cell_size_for(t) for t in cfg.targets},
        "units": {g.size: g.info.n_units for g in grids},
        "panel_rows": sum(g.info.n_rows for g in grids),
        "event_counts": grids[0].info.event_counts,
        "timings": timings,
        "total_wall_s": round(sum(timings[k]["wall_s"] for k in core), 1),
        "total_cpu_s": round(sum(timings[k]["cpu_s"] for k in core), 1),
        "peak_rss_gb": round(_peak_rss_gb(), 2),
        "backtest": {str(k): v.to_dict(orient="records") for k, v in tables.items()},
    }
    for every, table in tables.items():
        print(f"\nrefit every {every} weeks\n" + table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(json.dumps({k: v for k, v in out.items() if k != "backtest"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2, default=str))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
