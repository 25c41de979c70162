"""Size the national weekly run of all 43 forces from the measured figures.

    .venv/bin/python benchmarks/size_forces.py [--budget-min 30]

Reads ``benchmarks/results/growth.json`` (the weekly run of a CONNECT force
at 0.5x, 1x and 2x the force preset, 5 years, retraining and scoring-only
weeks), ``benchmarks/results/forces.json`` (several forces through the run
queue, one and two at a time: the police.uk runs and the measured speed-up
of two runs on one 2-core machine) and prints the per-band figures and the
workers needed, as tabulated in docs/forces.md.

Model (stated, not measured): a force's weekly run grows with its size as
measured between 0.5x and 2x; the Metropolitan Police (about 3x the force
preset's population) is extrapolated linearly from 1x and 2x; forces of 1-2 million
people are charged the 1x figures (the preset is 3 million: an upper bound)
and forces under 1 million the 0.5x figures (1.5 million: an upper bound). The worst week is the one in which every force retrains its
models (every 4 weeks, if their cycles are aligned); a worker is a 2-vCPU
machine running two force runs at once at the measured two-run speed-up.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

#: Forces of England and Wales by population band (approximate mid-2020s populations, millions).
BANDS = [
    ("Metropolitan (about 9 M)", 1, "x3"),
    ("2-3 M: West Midlands, Greater Manchester, West Yorkshire, Thames Valley, Hampshire", 5, "x1"),
    ("1-2 M: Kent, Essex, Devon & Cornwall, Avon & Somerset, Sussex, Lancashire, Northumbria, Merseyside, "
     "South Yorkshire, Surrey, Hertfordshire, Staffordshire, West Mercia, Leicestershire, Nottinghamshire, "
     "Cheshire, Derbyshire, South Wales", 18, "x1"),
    ("under 1 M: the other 18 territorial forces and City of London", 19, "x0.5"),
]


def growth_figures() -> dict[str, dict[str, tuple[float, float]]]:
    data = json.loads((RESULTS / "growth.json").read_text())
    out = {}
    for r in data["results"]:
        name = r["config"]["name"]
        if not name.startswith("force-5y-"):
            continue
        scale = name.split("-")[-1]
        out[scale] = {x["mode"]: (x["seconds"], x["peak_rss_mb"] / 1000) for x in r["runs"]}
    x1, x2 = out["x1"], out["x2"]
    out["x3"] = {m: (2 * x2[m][0] - x1[m][0], 2 * x2[m][1] - x1[m][1]) for m in x1}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-min", type=float, default=30.0)
    p.add_argument("--speedup", type=float, help="two-run speed-up per 2-vCPU worker (default: the measured one)")
    args = p.parse_args(argv)
    fig = growth_figures()
    forces = json.loads((RESULTS / "forces.json").read_text())
    speedup = args.speedup or forces.get("speedup_2_workers") or 1.0
    print("| forces | n | retraining week: time / peak memory per run | scoring-only week |")
    print("|---|---|---|---|")
    work = {"retrain": 0.0, "score only": 0.0}
    peak = 0.0
    longest = 0.0
    for label, n, scale in BANDS:
        r, s = fig[scale]["retrain"], fig[scale]["score only"]
        print(f"| {label} | {n} | {r[0]:.0f} s / {r[1]:.1f} GB | {s[0]:.0f} s / {s[1]:.1f} GB |")
        work["retrain"] += n * r[0]
        work["score only"] += n * s[0]
        peak = max(peak, r[1])
        longest = max(longest, r[0])
    budget = args.budget_min * 60
    print()
    for mode, total in work.items():
        workers = math.ceil(total / (budget * speedup))
        print(f"{mode}: {total / 60:.0f} min of single-run time; at {speedup}x per 2-vCPU worker (two runs at once), "
              f"{workers} worker(s) finish in {total / (workers * speedup) / 60:.0f} min (budget {args.budget_min:.0f} min)")
    print(f"largest run: {longest:.0f} s, {peak:.1f} GB peak (one pod of that size; two runs per 8 GB worker otherwise)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
