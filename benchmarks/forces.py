"""Benchmark: several forces through the run queue, one at a time and two at once.

    .venv/bin/python benchmarks/forces.py [--preset small] [--scratch /tmp/wmp-bench-forces]
                                          [--modes 1,2] [--out benchmarks/results/forces.json]

Forces: the three police.uk forces of ``/work/shared/data/police-uk`` (or
``--policeuk DIR``) and two synthetic CONNECT forces made by the generator
with different seeds (``--preset``; generating them is not timed). For each
mode (``--workers`` 1 = sequential, 2 = the run queue at 2) it runs
``wmp run --force all`` on a fresh data folder and the same registry, as a
user would, and measures:

* per force run: wall time (the Dagster run record's start to end), CPU time
  (user + system of the run's process and its dbt subprocesses) and peak
  memory (resident set of the run's process plus its children, sampled every
  0.25 s);
* the span of all force runs (first start to last end) and the whole
  command's wall time (dbt parse, code servers and daemon included);
* the national catalogue's build time (its materialisation metadata).

The parallel speed-up is the sequential span over the parallel span. Prints
a table and writes JSON with the machine's core count, load and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICEUK = ("south-yorkshire", "avon-and-somerset", "city-of-london")
SYNTHETIC = (("synthetic-north", 101), ("synthetic-south", 202))


def registry_text(policeuk_dir: Path, landing_root: Path) -> str:
    lines = ["schema_version = 1", f'default_force = "{SYNTHETIC[0][0]}"', ""]
    for slug in POLICEUK:
        lines += ["[[force]]", f'slug = "{slug}"', f'name = "{slug.replace("-", " ").title()} (police.uk)"',
                  'source = "policeuk"', f'landing = "{policeuk_dir / slug}"', ""]
    for slug, seed in SYNTHETIC:
        lines += ["[[force]]", f'slug = "{slug}"', f'name = "Synthetic CONNECT force (seed {seed})"',
                  'source = "connect"', f'landing = "{landing_root / slug}"', ""]
    return "\n".join(lines)


class Sampler(threading.Thread):
    """Samples the run processes (children of the code servers) of a ``wmp run`` process tree."""

    def __init__(self, root_pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.root = psutil.Process(root_pid)
        self.interval = interval
        self.runs: dict[int, dict] = {}
        self.stop = threading.Event()

    def _run_processes(self):
        try:
            procs = self.root.children(recursive=True)
        except psutil.Error:
            return []
        out = []
        for p in procs:
            try:
                if "--multiprocessing-fork" in " ".join(p.cmdline()) and "grpc" in " ".join(p.parent().cmdline()):
                    out.append(p)
            except psutil.Error:
                continue
        return out

    def run(self):
        while not self.stop.is_set():
            for p in self._run_processes():
                try:
                    with p.oneshot():
                        rss = p.memory_info().rss
                        t = p.cpu_times()
                        cpu = t.user + t.system + t.children_user + t.children_system
                        created = p.create_time()
                    for c in p.children(recursive=True):
                        try:
                            rss += c.memory_info().rss
                            ct = c.cpu_times()
                            cpu += ct.user + ct.system
                        except psutil.Error:
                            pass
                except psutil.Error:
                    continue
                rec = self.runs.setdefault(p.pid, {"created": created, "peak_rss": 0, "cpu_s": 0.0})
                rec["peak_rss"] = max(rec["peak_rss"], rss)
                rec["cpu_s"] = max(rec["cpu_s"], cpu)
            time.sleep(self.interval)


def run_mode(workers: int, registry: Path, scratch: Path) -> dict:
    data = scratch / f"data_workers_{workers}"
    if data.exists():
        subprocess.run(["rm", "-rf", str(data)], check=True)
    data.mkdir(parents=True)
    env = {**os.environ, "WMP_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home")}
    for var in ("WMP_LANDING_DIR", "WMP_DUCKDB_PATH", "WMP_ANALYST_DB_PATH", "WMP_ARTIFACTS_DIR", "WMP_GROUND_TRUTH_DIR"):
        env.pop(var, None)
    cmd = [str(Path(sys.executable).with_name("wmp")), "run", "--forces", str(registry), "--force", "all", "--workers", str(workers)]
    print(f"\n== {workers} at once: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    load_before = os.getloadavg()
    log = open(scratch / f"wmp_run_workers_{workers}.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(proc.pid)
    sampler.start()
    code = proc.wait()
    sampler.stop.set()
    sampler.join()
    wall = time.monotonic() - started
    log.close()
    return {"workers": workers, "exit_code": code, "command_wall_s": round(wall, 1), "load_before": load_before,
            "load_after": os.getloadavg(), **collect(data / "dagster_home", sampler.runs)}


def collect(home: Path, samples: dict[int, dict]) -> dict:
    os.environ["DAGSTER_HOME"] = str(home)
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.get() as instance:
        records = [r for r in instance.get_run_records() if r.dagster_run.tags.get("dagster/partition/force")]
        unused = sorted(samples.values(), key=lambda s: s["created"])
        forces = []
        for rec in sorted(records, key=lambda r: r.start_time or 0):
            # the run process is the unclaimed one created closest to the run's start (each claimed once)
            sample = min(unused, key=lambda s: abs(s["created"] - (rec.start_time or 0)), default=None)
            if sample is not None:
                unused.remove(sample)
            forces.append({
                "force": rec.dagster_run.tags["dagster/partition/force"],
                "job": rec.dagster_run.job_name,
                "status": rec.dagster_run.status.value,
                "wall_s": round((rec.end_time or 0) - (rec.start_time or 0), 1),
                "cpu_s": round(sample["cpu_s"], 1) if sample else None,
                "peak_rss_gb": round(sample["peak_rss"] / 1e9, 2) if sample else None,
                "start": rec.start_time, "end": rec.end_time,
            })
        event = instance.get_latest_materialization_event(AssetKey("national_catalogue"))
        catalogue_s = None
        if event is not None:
            catalogue_s = event.asset_materialization.metadata["elapsed_s"].value
    starts = [f["start"] for f in forces if f["start"]]
    ends = [f["end"] for f in forces if f["end"]]
    for f in forces:
        f["start"] = round(f["start"] - min(starts), 1) if f["start"] else None
        f["end"] = round(f["end"] - min(starts), 1) if f["end"] else None
    return {"span_s": round(max(ends) - min(starts), 1) if starts else None, "catalogue_build_s": catalogue_s, "forces": forces}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="small", help="generator preset of the synthetic CONNECT forces (default: small)")
    p.add_argument("--scratch", type=Path, default=Path("/tmp/wmp-bench-forces"))
    p.add_argument("--policeuk", type=Path, default=Path("/work/shared/data/police-uk"))
    p.add_argument("--modes", default="1,2", help="workers per mode, comma-separated (default: 1,2)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "forces.json")
    args = p.parse_args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    landing_root = args.scratch / "landing"
    from wmp_pipeline.generator import generate

    for slug, seed in SYNTHETIC:
        folder = landing_root / slug
        if not any((folder / "connect").glob("*/manifest.json")):
            print(f"generating {slug} ({args.preset}, seed {seed}) ...", flush=True)
            generate(args.preset, folder, args.scratch / "truth" / slug, seed=seed)
    registry = args.scratch / "forces.toml"
    registry.write_text(registry_text(args.policeuk, landing_root))
    modes = [run_mode(int(w), registry, args.scratch) for w in args.modes.split(",")]
    by_workers = {m["workers"]: m for m in modes}
    speedup = None
    if 1 in by_workers and 2 in by_workers and by_workers[2]["span_s"]:
        speedup = round(by_workers[1]["span_s"] / by_workers[2]["span_s"], 2)
    import dagster

    result = {
        "benchmark": "forces through the run queue",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
                    "python": platform.python_version(), "dagster": dagster.__version__},
        "synthetic_preset": args.preset,
        "modes": modes,
        "speedup_2_workers": speedup,
        "cpu_share_used": {m["workers"]: round(sum(f["cpu_s"] or 0 for f in m["forces"]) / m["span_s"], 2) for m in modes if m["span_s"]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    for m in modes:
        print(f"\n{m['workers']} at once: span {m['span_s']} s, command {m['command_wall_s']} s, catalogue {m['catalogue_build_s']} s, "
              f"load {m['load_before'][0]:.1f} -> {m['load_after'][0]:.1f}")
        for f in m["forces"]:
            print(f"  {f['force']:<20} {f['status']:<8} wall {f['wall_s']:>7} s  cpu {f['cpu_s']} s  peak {f['peak_rss_gb']} GB")
    print(f"\nspeed-up at 2 workers: {speedup}x   (written {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
