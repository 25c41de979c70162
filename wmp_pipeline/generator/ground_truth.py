"""Ground truth: what the generator knows and the pipeline must estimate.

Written to a folder only evaluation code reads (the pipeline never does):

- ``hotspot_truth.parquet``: for each target, 250 m cell and history week,
  the true expected number of crimes committed in it given everything up to
  the week's start. The weekly crime process is Poisson given the past, so
  this is exactly the process intensity (``crime_process.py``), not an
  estimate. Summing four consecutive weeks is *not* a forecast ceiling: the
  intensity of weeks 2-4 knows the crimes of weeks 1-3.
- ``hotspot_forecast_truth.parquet``: for each target, cell and forecast
  date ``T`` (a history Monday whose 28 days are simulated), the expected
  number of crimes in ``[T, T + 28 days)`` given the history before ``T``
  (``crime_process.expected_ahead``, exact): the 28-day ceiling.
- ``iom_truth.parquet``: for each snapshot Monday and each person eligible
  then, the probability of reaching high harm within 365 days, by Monte
  Carlo of the generator's own career process restarted from the person's
  exact state at the snapshot (``careers.state_at``), with the harm rule of
  ``wmp_pipeline.harm.score`` applied to each simulated future.
- ``cells.parquet`` and ``lsoas.parquet``: the synthetic geography, for maps
  and for checking which cells are inside the force area.
- ``truth_manifest.json``: preset, seed, dates and what each file holds.

The harm rule, as the pipeline defines it: the score at date ``d`` sums the
harm weights of charges dated in ``[d - 365, d)``; a person is eligible at
``d`` when charged in ``[d - 730, d)`` with a score below 365; the label is
that the score reaches 365 at some ``t`` in ``(d, d + 365]``, which (the
score only rises the day after a charge) means some charge date ``c`` in
``[d, d + 365)`` with the weights dated in ``[c - 364, c]`` summing to 365
or more.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wmp_pipeline.generator.careers import CareerState, OffenceModel, simulate, state_at
from wmp_pipeline.generator.geography import Geography
from wmp_pipeline.generator.people import Pool

EPOCH = date(1970, 1, 1)
HIGH_HARM = 365.0
SCORE_WINDOW = 365
LOOKBACK = 730
HORIZON = 365
#: person x draw units simulated together: small enough for the arrays to stay in cache
MC_UNITS_PER_CHUNK = 262_144


def _day(d: date) -> int:
    return (d - EPOCH).days


# --- hotspots ---------------------------------------------------------------------


def hotspot_truth_table(expected: dict[str, np.ndarray], geo: Geography, week_starts: np.ndarray) -> pa.Table:
    """Long table target x week x cell of expected counts (cells and targets dictionary-encoded)."""
    cell_ids = pa.array(geo.cell_ids(), type=pa.string())
    n_cells = geo.n_cells
    n_weeks = len(week_starts)
    parts = []
    targets = list(expected)
    for ti, target in enumerate(targets):
        lam = expected[target]
        parts.append(
            pa.table(
                {
                    "target": pa.DictionaryArray.from_arrays(
                        pa.array(np.full(n_weeks * n_cells, ti, dtype=np.int32)), pa.array(targets, pa.string())
                    ),
                    "cell_id": pa.DictionaryArray.from_arrays(
                        pa.array(np.tile(np.arange(n_cells, dtype=np.int32), n_weeks)), cell_ids
                    ),
                    "week_start": pa.array(np.repeat(np.asarray(week_starts, np.int64), n_cells).astype("datetime64[D]"), pa.date32()),
                    "expected_count": pa.array(lam.reshape(-1).astype(np.float64)),
                }
            )
        )
    return pa.concat_tables(parts)


def hotspot_forecast_truth_table(
    forecast: dict[str, np.ndarray], geo: Geography, week_starts: np.ndarray, horizon_weeks: int
) -> pa.Table:
    """Long table target x forecast date x cell of E[crimes in the ``horizon_weeks`` weeks | history before].

    ``forecast[target]`` has one row per forecast date: the first rows of ``week_starts``.
    """
    n_dates = min((a.shape[0] for a in forecast.values()), default=0)
    table = hotspot_truth_table({t: a[:n_dates] for t, a in forecast.items()}, geo, week_starts[:n_dates])
    table = table.rename_columns(["target", "cell_id", "forecast_date", "expected_count"])
    return table.add_column(3, "horizon_weeks", pa.array(np.full(table.num_rows, horizon_weeks, dtype=np.int32)))


def geography_tables(geo: Geography) -> tuple[pa.Table, pa.Table]:
    cells = pa.table(
        {
            "cell_id": pa.array(geo.cell_ids(), pa.string()),
            "x0": pa.array(geo.cell_x0.astype(np.int64)),
            "y0": pa.array(geo.cell_y0.astype(np.int64)),
            "residents": pa.array(geo.population),
            "deprivation": pa.array(geo.deprivation),
            "night_time_economy": pa.array(geo.nightlife),
            "lsoa_code": pa.array(geo.lsoa_codes[geo.cell_lsoa], pa.string()),
            "in_force_area": pa.array(np.ones(geo.n_cells, dtype=bool)),
        }
    )
    lsoas = pa.table(
        {
            "lsoa_code": pa.array(geo.lsoa_codes, pa.string()),
            "residents": pa.array(geo.lsoa_population),
            "deprivation": pa.array(geo.lsoa_deprivation),
            "region": pa.array(geo.lsoa_region.astype(np.int64)),
            "n_cells": pa.array(np.bincount(geo.cell_lsoa, minlength=len(geo.lsoa_codes)).astype(np.int64)),
        }
    )
    return cells, lsoas


# --- IOM --------------------------------------------------------------------------


def snapshot_days(covers_from: date, end: date, every_weeks: int, years: float) -> list[int]:
    """Mondays whose 365-day horizon ends by ``end``, the latest ``years`` of them, every ``every_weeks``."""
    last = end - timedelta(days=HORIZON)
    last -= timedelta(days=last.weekday())
    first_allowed = max(covers_from, last - timedelta(days=int(round(years * 365.25))))
    out = []
    d = last
    while d >= first_allowed:
        out.append(_day(d))
        d -= timedelta(weeks=every_weeks)
    return sorted(out)


class _ChargeIndex:
    """Charges sorted by (person, date) with cumulative harm, for window sums."""

    def __init__(self, uid: np.ndarray, day: np.ndarray, harm: np.ndarray):
        self.shift = np.int64(1) << np.int64(20)
        o = np.lexsort((day, uid))
        self.keys = uid[o].astype(np.int64) * self.shift + day[o]
        self.cum = np.concatenate([[0.0], np.cumsum(harm[o])])

    def window_sum(self, uid: np.ndarray, lo_day: np.ndarray, hi_day: np.ndarray) -> np.ndarray:
        """Sum of harm of ``uid``'s charges dated in [lo_day, hi_day]."""
        base = np.asarray(uid, np.int64) * self.shift
        a = np.searchsorted(self.keys, base + lo_day, side="left")
        b = np.searchsorted(self.keys, base + hi_day, side="right")
        return self.cum[b] - self.cum[a]


def _mc_probability(
    d: int,
    units: np.ndarray,
    state: dict[str, np.ndarray],
    pool: Pool,
    index: _ChargeIndex,
    model: OffenceModel,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """P(reach high harm in (d, d + 365]) for each pool member in ``units`` (restarted process)."""
    out = np.empty(len(units))
    per_chunk = max(1, MC_UNITS_PER_CHUNK // draws)
    for lo in range(0, len(units), per_chunk):
        idx = np.arange(lo, min(lo + per_chunk, len(units)))
        people = units[idx]
        m = len(idx) * draws
        rep = np.repeat(np.arange(len(idx)), draws)
        who = people[rep]
        st = CareerState(
            uid=np.arange(m, dtype=np.int64),
            t=np.full(m, float(d)),
            t_end=np.full(m, float(d + HORIZON)),
            birth=pool.birth[who],
            theta=pool.theta[who],
            sigma0=pool.sigma0[who],
            female=pool.female[who],
            ctype=pool.ctype[who],
            onset=state["onset"][idx][rep],
            n=state["n"][idx][rep].copy(),
            s_short=state["s_short"][idx][rep].copy(),
            s_long=state["s_long"][idx][rep].copy(),
            v_mem=state["v_mem"][idx][rep].copy(),
            v_time=np.full(m, float(d)),
        )
        new_harm = np.zeros(m)
        crossed = np.zeros(m, dtype=bool)

        def on_charges(u: np.ndarray, t: np.ndarray, code: np.ndarray) -> np.ndarray:
            c = np.floor(t).astype(np.int64)
            new_harm[u] += model.harm[code]
            # charges before d still inside the window ending on c: dated [c - 364, d - 1]
            old = index.window_sum(who[u], c - (SCORE_WINDOW - 1), np.full(len(u), d - 1))
            hit = old + new_harm[u] >= HIGH_HARM
            crossed[u[hit]] = True
            return hit

        simulate(st, model, rng, on_charges=on_charges)
        out[idx] = crossed.reshape(len(idx), draws).mean(axis=1)
    return out


#: inputs of the snapshot workers (set before forking, so children share them without copying)
_SHARED: dict = {}
#: parallelise the Monte Carlo over snapshots only when there is this much to simulate
PARALLEL_MIN_CHARGES = 50_000


def _snapshot_rows(k: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eligible pool members at snapshot ``k``, their score, true probability and realised outcome."""
    sh = _SHARED
    d = sh["snapshots"][k]
    uid, t, code, day, index = sh["uid"], sh["t"], sh["code"], sh["day"], sh["index"]
    recent = np.unique(uid[(day >= d - LOOKBACK) & (day < d)])
    score = index.window_sum(recent, np.full(len(recent), d - SCORE_WINDOW), np.full(len(recent), d - 1))
    units = recent[score < HIGH_HARM]
    score = score[score < HIGH_HARM]
    state = state_at(float(d), uid, t, code, units, sh["model"])
    rng = np.random.default_rng([sh["seed"], 0x10A, k])
    p = _mc_probability(d, units, state, sh["pool"], index, sh["model"], sh["draws"], rng)
    # realised outcome in the generator's own charges
    fut = (day >= d) & (day < d + HORIZON) & np.isin(uid, units)
    fu, fc = uid[fut], day[fut]
    hit = index.window_sum(fu, fc - (SCORE_WINDOW - 1), fc) >= HIGH_HARM
    return k, units, score, p, np.isin(units, fu[hit])


def _workers(n_tasks: int, n_charges: int) -> int:
    if n_charges < PARALLEL_MIN_CHARGES or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4, n_tasks))


def iom_truth_table(
    snapshots: list[int],
    charge_uid: np.ndarray,
    charge_t: np.ndarray,
    charge_code: np.ndarray,
    pool: Pool,
    model: OffenceModel,
    person_id_of_uid: np.ndarray,
    draws: int,
    seed: int,
    covers_day: int,
    progress=None,
) -> pa.Table:
    """One row per snapshot and eligible person: the true probability and the realised outcome.

    Snapshots are independent (each has its own random stream), so they are
    simulated in parallel processes when the machine has several cores; the
    result does not depend on how many.
    """
    day = np.floor(charge_t).astype(np.int64)
    _SHARED.update(
        snapshots=list(snapshots), uid=charge_uid, t=charge_t, code=charge_code, day=day,
        index=_ChargeIndex(charge_uid, day, model.harm[charge_code]), pool=pool, model=model, draws=draws, seed=seed,
    )
    results = {}
    try:
        workers = _workers(len(snapshots), len(charge_uid))
        if workers > 1:
            with multiprocessing.get_context("fork").Pool(workers) as procs:
                for res in procs.imap_unordered(_snapshot_rows, range(len(snapshots))):
                    results[res[0]] = res[1:]
                    if progress is not None:
                        progress(len(results), len(snapshots))
        else:
            for k in range(len(snapshots)):
                results[k] = _snapshot_rows(k)[1:]
                if progress is not None:
                    progress(k + 1, len(snapshots))
    finally:
        _SHARED.clear()
    ordered = [results[k] for k in range(len(snapshots))]
    units = np.concatenate([r[0] for r in ordered]) if ordered else np.empty(0, np.int64)
    snap = np.concatenate([np.full(len(r[0]), d, dtype=np.int64) for r, d in zip(ordered, snapshots)]) if ordered else np.empty(0, np.int64)

    def cat(i: int, dtype) -> np.ndarray:
        return np.concatenate([r[i] for r in ordered]).astype(dtype) if ordered else np.empty(0, dtype)

    return pa.table(
        {
            "person_id": pa.array(person_id_of_uid[units], pa.string()),
            "snapshot_date": pa.array(snap.astype("datetime64[D]"), pa.date32()),
            "p_high_harm_12m": pa.array(cat(2, np.float64)),
            "harm_score": pa.array(cat(1, np.float64)),
            "reached_high_harm_12m": pa.array(cat(3, bool)),
            "windows_in_extract": pa.array(snap - LOOKBACK >= covers_day),
        }
    )


# --- writing ----------------------------------------------------------------------

FILE_DESCRIPTIONS = {
    "hotspot_truth.parquet": {
        "description": (
            "True expected number of crimes of each target committed (by committed_from) in each 250 m cell "
            "in each history week, given everything up to the week's start (the process intensity, exact). "
            "Counts process crimes as finally recorded: reclassified and relocated crimes at their corrected "
            "code and place, no-crime and duplicate records excluded; crimes with missing coordinates and "
            "crimes recorded after the last drop are included. Not a 28-day ceiling when summed over 4 weeks "
            "(weeks 2-4 know the crimes of weeks 1-3): use hotspot_forecast_truth.parquet."
        ),
        "columns": {
            "target": "'knife_injury' (contract rule on weapon/injury fields) or 'serious_violence' (reference is_serious_violence)",
            "cell_id": "f'250m_{x0}_{y0}', x0 = floor(easting / 250) * 250 on EPSG:27700",
            "week_start": "Monday starting the week",
            "expected_count": "expected number of crimes",
        },
    },
    "hotspot_forecast_truth.parquet": {
        "description": (
            "The 28-day ceiling: for each forecast date T (a history Monday whose whole window is simulated), "
            "the true expected number of crimes of each target committed in each 250 m cell in "
            "[T, T + 7 x horizon_weeks days) given the history before T: the crimes before T, the hotspot fields' "
            "state at T and the fixed background (season, trend, site schedule). Exact (the branching recursion of "
            "crime_process.expected_ahead), same counting rules as hotspot_truth."
        ),
        "columns": {
            "target": "'knife_injury' or 'serious_violence', as in hotspot_truth",
            "cell_id": "as in hotspot_truth",
            "forecast_date": "the forecast date T (a Monday)",
            "horizon_weeks": "length of the window in weeks (4: 28 days)",
            "expected_count": "E[crimes in the window | history before T]",
        },
    },
    "iom_truth.parquet": {
        "description": (
            "For each snapshot Monday (whose 365-day horizon is complete) and each person eligible then "
            "(charged in [d-730, d), harm score at d below 365), the true probability of reaching high harm "
            "(score >= 365) at some t in (d, d+365], by Monte Carlo of the generator's career process "
            "restarted from the person's full state at d."
        ),
        "columns": {
            "person_id": "CONNECT nominal id (persons.person_id)",
            "snapshot_date": "the snapshot date d (a Monday)",
            "p_high_harm_12m": "true probability (Monte Carlo mean over the draws)",
            "harm_score": "harm score at d from the person's charges dated in [d-365, d)",
            "reached_high_harm_12m": "what actually happened in the generated data (the realised label)",
            "windows_in_extract": (
                "true when d - 730 days >= covers_from: the whole eligibility look-back lies inside the extract, "
                "so the pipeline sees exactly the charges the truth used (earlier snapshots can include people "
                "whose only charges predate the extract)"
            ),
        },
    },
    "cells.parquet": {
        "description": "Every 250 m cell of the synthetic force area with its residents and surfaces.",
        "columns": {
            "cell_id": "as in hotspot_truth", "x0": "west edge, BNG metres", "y0": "south edge, BNG metres",
            "residents": "residents (expected)", "deprivation": "0..1 deprivation surface",
            "night_time_economy": "night-time economy surface", "lsoa_code": "LSOA holding most of the cell",
            "in_force_area": "always true (only inside cells are listed)",
        },
    },
    "lsoas.parquet": {
        "description": "The synthetic LSOAs (codes E01900001 upwards).",
        "columns": {
            "lsoa_code": "E01 + 6 digits", "residents": "residents", "deprivation": "population-weighted deprivation",
            "region": "5 km journey-to-crime region", "n_cells": "cells whose majority LSOA it is",
        },
    },
}


def write_truth(truth_dir: Path, tables: dict[str, pa.Table], manifest: dict) -> dict:
    truth_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, table in tables.items():
        pq.write_table(table, truth_dir / name, compression="zstd")
        files[name] = {"rows": int(table.num_rows), **FILE_DESCRIPTIONS[name]}
    manifest = {**manifest, "files": files}
    (truth_dir / "truth_manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return manifest

