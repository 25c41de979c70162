"""Benchmark: build a week's analyst pages and exports at `force` scale (goal: <= 15 s, map page <= 8 MB).

    .venv/bin/python benchmarks/maps_pages.py                  # generate + one weekly run, then time the pages
    .venv/bin/python benchmarks/maps_pages.py --data /tmp/dmaps-force   # reuse a folder built before

The force-scale inputs (hotspot predictions at the default grids, the
backtest, the IOM scores) are made once: the generator's ``force`` preset and
one weekly run (the "retrain" week of ``wmp benchmark``); the folder is kept
so the pages can be timed again without rerunning the pipeline. The pages
and exports are then built twice, without a boundary file and with the
public Birmingham LSOA file (659 LSOAs: the boundary layers' cost; its
polygons do not lie under the generator's cells). Prints the figures and
writes them to benchmarks/results/maps_pages_force.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOUNDARY = ROOT.parent / "shared" / "data" / "boundaries" / "boundaries-lsoa-birmingham.geojson"


def _prepare(data: Path, seed: int, end_date: date) -> dict:
    from wmp_pipeline.benchmark import benchmark_one

    return benchmark_one("force", None, 1.0, data, seed, end_date, ["retrain"])


def _hotspot_steps(db: Path, data: Path) -> dict:
    """When a weekly run stopped after hotspot_panel (e.g. cut short on a busy machine): the
    remaining hotspot steps at the default settings (models, backtest with the truth, predictions)."""
    import duckdb

    from wmp_pipeline.defs.hotspot.resources import HotspotResource
    from wmp_pipeline.hotspot import runner, store
    from wmp_pipeline.hotspot.connect_source import load_truth

    cfg = HotspotResource().config()
    seconds = {}
    with duckdb.connect(str(db)) as con:
        info, _ = store.read_panel_info(con, store.panel_table(cfg.for_grid(next(iter(cfg.grids())))))
        from wmp_pipeline.hotspot.periods import period_start

        week = period_start(info.as_of_period, cfg.period)
        for name, call in (
            ("models", lambda: runner.train_or_reuse_models(con, cfg, week, data / "artifacts", force=True)),
            ("backtest", lambda: runner.run_backtest_table(con, cfg, week, truth=load_truth(data / "ground_truth"))),
            ("predictions", lambda: runner.score_week(con, cfg, week, data / "artifacts")),
        ):
            started = time.perf_counter()
            call()
            seconds[name] = round(time.perf_counter() - started, 1)
            print(f"hotspot {name}: {seconds[name]} s", flush=True)
    return {"forecast_week": week.isoformat(), "hotspot_steps_s": seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("/tmp/dmaps-force"), help="data folder (built when it has no warehouse)")
    p.add_argument("--seed", type=int, default=20211101)
    p.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--boundary", type=Path, default=BOUNDARY)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "maps_pages_force.json")
    args = p.parse_args(argv)

    db = args.data / "warehouse" / "wmp.duckdb"
    pipeline = hotspot = None
    if not db.exists():
        pipeline = _prepare(args.data, args.seed, args.end_date)
    os.environ["WMP_DATA_DIR"] = str(args.data)

    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        have = con.execute("select count(*) from information_schema.tables where table_name = 'hotspot_predictions'").fetchall()[0][0]
    if not have:
        hotspot = _hotspot_steps(db, args.data)

    from wmp_pipeline.hotspot.config import HotspotMapConfig
    from wmp_pipeline.iom.config import IomConfig
    from wmp_pipeline.maps.build import build_week

    with duckdb.connect(str(db), read_only=True) as con:
        week = con.execute("select max(cast(forecast_week as date)) from hotspot_predictions").fetchall()[0][0]
        sizes = dict(con.execute("select target, max(cell_size_m) from hotspot_predictions group by 1").fetchall())
        cases = {}
        for name, boundary in (("no_boundary", None), ("boundary", args.boundary if args.boundary.exists() else None)):
            out_dir = Path("/tmp") / f"dmaps-pages-{name}"
            started = time.perf_counter()
            built = build_week(con, week, out_dir, boundary, HotspotMapConfig(), IomConfig().operating_top_k)
            seconds = time.perf_counter() - started
            cases[name] = {
                "seconds": round(seconds, 2),
                "phases_s": built.seconds,
                "boundary_file": str(boundary) if boundary else None,
                "files_mb": {k: round(v.stat().st_size / 2**20, 2) for k, v in built.paths.items()},
                **built.counts,
            }
            print(f"{name}: {seconds:.1f} s, map page {cases[name]['files_mb']['map_page']} MB", flush=True)
    result = {
        "what": "build the week's map page, IOM page, GeoPackage and IOM CSV at force scale",
        "goal": {"seconds": 15, "map_page_mb": 8},
        "forecast_week": week.isoformat(),
        "cell_sizes_m": sizes,
        "cores": os.cpu_count(),
        "cases": cases,
        "met": all(c["seconds"] <= 15 and c["files_mb"]["map_page"] <= 8 for c in cases.values()),
    }
    if hotspot is not None:
        result["hotspot_steps_run_here"] = hotspot
    if pipeline is not None:
        run = pipeline["runs"][0]
        result["pipeline_run"] = {
            "mode": run["mode"], "success": run["success"], "seconds": run["seconds"], "peak_rss_mb": run["peak_rss_mb"],
            "steps": {s["step"]: s["seconds"] for s in run["steps"] if "hotspot" in s["step"] or s["step"] == "analyst_pages"},
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
