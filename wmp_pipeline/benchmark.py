"""Benchmark the weekly run stage by stage: time and peak memory.

    wmp benchmark --preset force                       # 5 years, the force's size
    wmp benchmark --preset force --years 1 --scale 0.5 # growth points
    wmp benchmark --preset force --growth              # 1, 3, 5 years and 0.5x, 2x size

For each configuration it generates the history (timed on its own, not part
of the weekly run), then runs the weekly job twice the way a force would:

1. **retrain**: a fresh warehouse and no trained models; the newest drop is
   held back, so this is the week before "now", with every model trained and
   every backtest run;
2. **score only**: the newest drop lands and the next week runs; the models
   are a week old, so no retraining is due: load the delta, rebuild dbt,
   features, score and publish.

Each Dagster step is timed from the run's event log; memory is the resident
set of the run's process plus its children (dbt runs as a subprocess),
sampled every 50 ms, and each step's peak is the largest sample between its
start and end. It prints a table and writes JSON with the machine's core
count and the versions used. Figures belong here, never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

import psutil

from wmp_pipeline.settings import PROJECT_ROOT

#: Stage of the weekly run each step belongs to, by words in its step key (first match wins).
STAGE_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("load drops", ("connect_drops", "policeuk_street")),
    ("dbt staging", ("dbt",)),
    ("training", ("model", "train")),
    ("backtests", ("backtest", "fairness")),
    ("feature building", ("panel", "snapshot", "cells", "feature")),
    ("scoring and publishing", ("prediction", "risk_score", "analyst", "publish", "briefing", "transparency", "docs", "report")),
]


def stage_of(step_key: str) -> str:
    key = step_key.lower()
    for stage, words in STAGE_RULES:
        if any(w in key for w in words):
            return stage
    return "other"


class MemorySampler:
    """Samples RSS of this process and its children in a background thread."""

    def __init__(self, interval_s: float = 0.05):
        self.interval = interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._rss()))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside, default=0)


@dataclass
class StepFigure:
    step: str
    stage: str
    seconds: float
    peak_rss_mb: float


@dataclass
class RunFigure:
    mode: str
    partition: str
    success: bool
    seconds: float
    peak_rss_mb: float
    steps: list[StepFigure] = field(default_factory=list)

    def by_stage(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for s in self.steps:
            d = out.setdefault(s.stage, {"seconds": 0.0, "peak_rss_mb": 0.0})
            d["seconds"] += s.seconds
            d["peak_rss_mb"] = max(d["peak_rss_mb"], s.peak_rss_mb)
        return out


def _run_week(defs, partition: str, mode: str) -> RunFigure:
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("weekly_job")
    start = time.time()
    with MemorySampler() as sampler:
        result = job.execute_in_process(partition_key=partition, instance=instance, raise_on_error=False)
    end = time.time()
    starts: dict[str, float] = {}
    steps: list[StepFigure] = []
    for entry in instance.all_logs(result.run_id):
        ev = entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type == DagsterEventType.STEP_START:
            starts[ev.step_key] = entry.timestamp
        elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and ev.step_key in starts:
            t0 = starts[ev.step_key]
            steps.append(
                StepFigure(ev.step_key, stage_of(ev.step_key), entry.timestamp - t0, sampler.peak(t0, entry.timestamp) / 2**20)
            )
    return RunFigure(mode, partition, result.success, end - start, sampler.peak(start, end) / 2**20, steps)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb", "xgboost-cpu", "scikit-learn", "pandas", "geopandas", "great-expectations"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def scaled_preset(preset: str, years: float | None, scale: float):
    from wmp_pipeline.generator.presets import resolve_preset

    p = resolve_preset(preset)
    overrides = {"name": f"{p.name}-{years or p.history_years:g}y-x{scale:g}"}
    if years:
        overrides["history_years"] = years
    if scale != 1.0:
        overrides.update(
            area_km2=p.area_km2 * scale,
            population=int(p.population * scale),
            crimes_per_year=p.crimes_per_year * scale,
            people_charged_per_year=p.people_charged_per_year * scale,
        )
    return p.with_overrides(**overrides)


def _latest_monday(today: date | None = None) -> date:
    today = today or date.today()
    return today - timedelta(days=today.weekday())


def benchmark_one(preset: str, years: float | None, scale: float, workdir: Path, seed: int, end_date: date, modes: list[str]) -> dict:
    """Generate one configuration into ``workdir`` and run the weekly job in each mode."""
    from wmp_pipeline.defs.sensors import partition_for_drop
    from wmp_pipeline.generator import generate

    if workdir.exists():
        shutil.rmtree(workdir)
    os.environ["WMP_DATA_DIR"] = str(workdir)
    os.environ["WMP_DUCKDB_PATH"] = str(workdir / "warehouse" / "wmp.duckdb")
    from wmp_pipeline.settings import get_settings

    settings = get_settings()
    config = scaled_preset(preset, years, scale)
    t0 = time.time()
    with MemorySampler() as sampler:
        summary = generate(config, settings.landing_dir, settings.ground_truth_dir, seed=seed, end_date=end_date)
    generation = {"seconds": time.time() - t0, "peak_rss_mb": max((r for _, r in sampler.samples), default=0) / 2**20}
    generation["landing_mb"] = sum(f.stat().st_size for f in settings.landing_dir.rglob("*") if f.is_file()) / 2**20
    counts = {}
    if hasattr(summary, "__dict__"):
        counts = {k: v for k, v in vars(summary).items() if isinstance(v, (int, float))}

    from wmp_pipeline.dbt_runtime import dbt_parse

    dbt_parse(settings.data_dir, settings.duckdb_path)  # the manifest the definitions load, in this data folder
    from wmp_pipeline.definitions import build_definitions

    defs = build_definitions(settings)
    drops = sorted(p for p in settings.connect_dir.iterdir() if p.is_dir())
    held = settings.data_dir / "held_back" / drops[-1].name
    held.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    shutil.move(str(drops[-1]), str(held))
    if "retrain" in modes:
        runs.append(_run_week(defs, partition_for_drop(drops[-2].name), "retrain"))
    shutil.move(str(held), str(drops[-1]))
    if "score" in modes:
        runs.append(_run_week(defs, partition_for_drop(drops[-1].name), "score only"))
    return {
        "config": {k: v for k, v in vars(config).items() if isinstance(v, (int, float, str))},
        "generation": generation,
        "generated_counts": counts,
        "runs": [
            {
                "mode": r.mode,
                "partition": r.partition,
                "success": r.success,
                "seconds": round(r.seconds, 1),
                "peak_rss_mb": round(r.peak_rss_mb),
                "stages": {k: {"seconds": round(v["seconds"], 1), "peak_rss_mb": round(v["peak_rss_mb"])} for k, v in r.by_stage().items()},
                "steps": [vars(s) | {"seconds": round(s.seconds, 2), "peak_rss_mb": round(s.peak_rss_mb)} for s in r.steps],
            }
            for r in runs
        ],
    }


def format_table(results: list[dict]) -> str:
    stages = ["load drops", "dbt staging", "feature building", "training", "backtests", "scoring and publishing", "other"]
    lines = []
    header = f"{'configuration':<22} {'mode':<11} " + " ".join(f"{s[:14]:>15}" for s in stages) + f" {'TOTAL':>9} {'peak MB':>8}"
    lines.append(header)
    lines.append("-" * len(header))
    for res in results:
        name = res["config"]["name"]
        for run in res["runs"]:
            cells = " ".join(
                f"{run['stages'].get(s, {}).get('seconds', 0):>8.1f}s/{run['stages'].get(s, {}).get('peak_rss_mb', 0):>5.0f}" for s in stages
            )
            ok = "" if run["success"] else "  FAILED"
            lines.append(f"{name:<22} {run['mode']:<11} {cells} {run['seconds']:>8.1f}s {run['peak_rss_mb']:>8.0f}{ok}")
        g = res["generation"]
        lines.append(f"{name:<22} {'(generate)':<11} {g['seconds']:.1f}s, peak {g['peak_rss_mb']:.0f} MB, landing {g['landing_mb']:.0f} MB")
    lines.append("cells: seconds / peak resident MB (process + children) of each stage")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wmp benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="force")
    parser.add_argument("--years", type=float, help="years of history (default: the preset's)")
    parser.add_argument("--scale", type=float, default=1.0, help="force size multiplier (area, people, crimes)")
    parser.add_argument("--growth", action="store_true", help="run 1, 3, 5 years at size 1, and 5 years at 0.5x and 2x")
    parser.add_argument("--modes", default="retrain,score", help="comma list of retrain,score")
    parser.add_argument("--seed", type=int, default=20211101)
    parser.add_argument("--end-date", help="newest drop date (a Monday; default: the latest Monday)")
    parser.add_argument("--workdir", default="/tmp/wmp-benchmark", help="scratch folder (deleted and rebuilt per configuration)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "benchmarks" / "results" / "benchmark.json"))
    args = parser.parse_args(argv)
    end = date.fromisoformat(args.end_date) if args.end_date else _latest_monday()
    configs = [(args.years, args.scale)]
    if args.growth:
        configs = [(1.0, 1.0), (3.0, 1.0), (5.0, 1.0), (5.0, 0.5), (5.0, 2.0)]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for years, scale in configs:
        print(f"== {args.preset}: {years or 'preset'} years, size x{scale:g}", flush=True)
        results.append(benchmark_one(args.preset, years, scale, Path(args.workdir), args.seed, end, modes))
        payload = {"machine": _machine(), "versions": _versions(), "end_date": end.isoformat(), "results": results}
        out.write_text(json.dumps(payload, indent=2, default=str))
        print(format_table(results[-1:]), flush=True)
    print("\n" + format_table(results))
    print(f"\nwritten: {out}")
    return 0 if all(r["success"] for res in results for r in res["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
