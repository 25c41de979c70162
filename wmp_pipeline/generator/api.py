"""``generate()``: build a synthetic force, its CONNECT drops and its ground truth.

The order of the steps is the order of causation: geography, hotspot
fields, the weekly crime process, crime records and their edits, the at-risk
pool and its careers, charges tied to crimes, nominal records, then the
drops as CONNECT would have delivered them, and finally the ground truth.
Each step draws from its own random stream (``seed`` plus the step's name),
so the output is a pure function of (preset, seed, end date, format).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from wmp_pipeline.generator import charges as charges_mod
from wmp_pipeline.generator import drops as drops_mod
from wmp_pipeline.generator import ground_truth as truth_mod
from wmp_pipeline.generator.careers import CareerState, build_offence_model, simulate
from wmp_pipeline.generator.crime_process import FORECAST_WEEKS, simulate_crime_process
from wmp_pipeline.generator.crime_records import DAY, KIND_PROCESS, build_crime_table
from wmp_pipeline.generator.geography import build_geography
from wmp_pipeline.generator.hotspots import build_hotspot_fields
from wmp_pipeline.generator.offences import CAT, check_weapon_profiles, crime_mix, load_reference
from wmp_pipeline.generator.people import assign_person_ids, build_nominals, build_pool
from wmp_pipeline.generator.presets import PresetConfig, resolve_preset
from wmp_pipeline.generator.progress import Progress, ProgressCallback

GENERATOR_VERSION = "1.0"
DEFAULT_SEED = 20211101
FILE_FORMATS = ("csv", "csv.gz", "parquet")
#: weeks of the crime process simulated before the history starts (near-repeat memory, late recording)
CRIME_BURN_IN_WEEKS = 26
#: years of careers simulated before the history starts (offenders arrive with a past)
CAREER_BURN_IN_YEARS = 6.0
#: at-risk pool members per person charged a year (calibrated so the preset's figure is met)
POOL_PER_CHARGED = 14.0
EPOCH = date(1970, 1, 1)


@dataclass
class GenerationSummary:
    """What was generated, where, and how long it took."""

    preset: str
    seed: int
    end_date: date
    covers_from: date
    file_format: str
    landing_dir: Path
    truth_dir: Path
    drops: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("end_date", "covers_from"):
            d[k] = d[k].isoformat()
        for k in ("landing_dir", "truth_dir"):
            d[k] = str(d[k])
        return d


def latest_monday(today: date | None = None) -> date:
    """The most recent Monday on or before ``today``."""
    today = today or date.today()
    return today - timedelta(days=today.weekday())


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def _day(d: date) -> int:
    return (d - EPOCH).days


def generate(
    preset: str | PresetConfig,
    landing_dir: Path,
    truth_dir: Path,
    seed: int = DEFAULT_SEED,
    end_date: date | None = None,
    file_format: str = "csv.gz",
    progress: ProgressCallback | None = None,
) -> GenerationSummary:
    """Write ``<landing_dir>/connect/<date>/`` drops (one full, then weekly deltas) and the ground truth.

    ``end_date`` is the date of the last drop; a date that is not a Monday
    is moved back to the Monday before it (drops are dated Mondays). Drop
    folders with the same dates are replaced; other drop folders already in
    the landing area are left alone and reported in ``warnings``.
    """
    started = time.perf_counter()
    cfg = resolve_preset(preset)
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}, got {file_format!r}")
    end = latest_monday(end_date) if end_date is not None else latest_monday()
    landing_dir, truth_dir = Path(landing_dir), Path(truth_dir)
    history_weeks = int(round(cfg.history_years * 365.25 / 7))
    covers_from = end - timedelta(weeks=history_weeks)
    if cfg.delta_weeks >= history_weeks:
        raise ValueError("delta_weeks must be shorter than the history")
    specs = drops_mod.plan_drops(end, cfg.delta_weeks)
    prog = Progress(progress)
    summary = GenerationSummary(cfg.name, seed, end, covers_from, file_format, landing_dir, truth_dir)
    if end_date is not None and end != end_date:
        summary.warnings.append(f"end_date {end_date} is not a Monday; used {end}")

    ref = load_reference()
    check_weapon_profiles()
    end_day, covers_day = _day(end), _day(covers_from)
    end_s, covers_s = end_day * DAY, covers_day * DAY

    with prog.task("geography", 1) as task:
        geo = build_geography(cfg.area_km2, cfg.population, _rng(seed, "geography"))
        task(1)

    # --- crimes ---
    n_weeks = history_weeks + CRIME_BURN_IN_WEEKS
    week_starts = covers_day - 7 * CRIME_BURN_IN_WEEKS + 7 * np.arange(n_weeks, dtype=np.int64)
    mix = crime_mix(cfg.crimes_per_year)
    fields = build_hotspot_fields(geo, n_weeks, _rng(seed, "hotspots"))
    with prog.task("crime process (weeks)", n_weeks) as task:
        events = simulate_crime_process(
            geo, fields, mix, ref, week_starts, CRIME_BURN_IN_WEEKS, end_day, _rng(seed, "crimes"), progress=task
        )
    with prog.task("crime records", 1) as task:
        crimes = build_crime_table(events, geo, mix, ref, cfg, covers_s, end_s, _rng(seed, "crime_records"))
        task(1)

    # --- careers and charges ---
    model = build_offence_model(ref)
    career_start = covers_day - CAREER_BURN_IN_YEARS * 365.25
    n_pool = int(round(POOL_PER_CHARGED * cfg.people_charged_per_year))
    pool = build_pool(n_pool, career_start, float(end_day), geo, _rng(seed, "pool"))
    st = CareerState(
        uid=np.arange(n_pool, dtype=np.int64),
        t=np.maximum(career_start, pool.birth + 10 * 365.25),
        t_end=np.full(n_pool, float(end_day)),
        birth=pool.birth,
        theta=pool.theta,
        sigma0=pool.sigma0,
        female=pool.female,
        ctype=pool.ctype,
        onset=np.full(n_pool, np.nan),
        n=np.zeros(n_pool, dtype=np.int32),
        s_short=np.zeros(n_pool),
        s_long=np.zeros(n_pool),
        v_mem=np.zeros(n_pool),
        v_time=np.full(n_pool, career_start),
    )
    with prog.task("careers (people finished)", n_pool) as task:
        c_uid, c_t, c_code = simulate(st, model, _rng(seed, "careers"), progress=task)
    with prog.task("charges", 1) as task:
        ch = charges_mod.build_charges(
            c_uid, c_t, c_code, ref.codes, pool.region, crimes, geo, cfg.changes.deleted_charges, _rng(seed, "charges")
        )
        task(1)

    # --- nominals ---
    offenders = np.unique(c_uid)
    first_charge = np.full(n_pool, np.iinfo(np.int64).max)
    np.minimum.at(first_charge, ch.pool_uid, ch.created_at)
    nominals = build_nominals(
        pool, offenders, first_charge[offenders], geo,
        cfg.changes.home_moves_per_year, cfg.changes.deleted_persons, cfg.others_per_offender,
        covers_s - 365 * DAY, end_s, _rng(seed, "people"),
    )
    assign_person_ids(nominals)
    nom_of_uid = np.full(n_pool, -1, dtype=np.int64)
    nom_of_uid[offenders] = np.arange(len(offenders))
    person_id_of_uid = np.full(n_pool, None, dtype=object)
    person_id_of_uid[offenders] = nominals.person_id[: len(offenders)]

    # --- drops ---
    connect_dir = landing_dir / "connect"
    connect_dir.mkdir(parents=True, exist_ok=True)
    ours = {s.extract_date.isoformat() for s in specs}
    others = sorted(p.name for p in connect_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in ours)
    if others:
        summary.warnings.append(f"{len(others)} other drop folder(s) already in {connect_dir} were left alone: {', '.join(others[:5])}")
    dup_rng = _rng(seed, "duplicate_rows")
    with prog.task("drops", len(specs)) as task:
        for i, spec in enumerate(specs):
            tables = {}
            rows = drops_mod.crimes_rows(crimes, spec, covers_s)
            cols = drops_mod.crimes_table(crimes, rows, spec, geo, ref.description)
            order = drops_mod.with_duplicates(len(rows), cfg.defects.duplicate_rows, np.argsort(crimes.crime_id[rows], kind="stable"), dup_rng)
            tables["crimes"] = drops_mod.to_arrow("crimes", cols, order, file_format)

            prow, last_mod = drops_mod.persons_rows_and_touch(nominals, ch, nom_of_uid, spec, covers_s)
            cols = drops_mod.persons_table(nominals, prow, last_mod, spec, geo)
            order = drops_mod.with_duplicates(len(prow), cfg.defects.duplicate_rows, np.argsort(nominals.person_id[prow], kind="stable"), dup_rng)
            tables["persons"] = drops_mod.to_arrow("persons", cols, order, file_format)

            hrow = drops_mod.charges_rows(ch, spec, covers_day)
            cols = drops_mod.charges_table(ch, hrow, spec, crimes, covers_s, person_id_of_uid, ref.codes)
            order = drops_mod.with_duplicates(len(hrow), cfg.defects.duplicate_rows, np.argsort(ch.charge_id[hrow], kind="stable"), dup_rng)
            tables["charges"] = drops_mod.to_arrow("charges", cols, order, file_format)

            manifest = drops_mod.write_drop(connect_dir, spec, covers_from, tables, file_format)
            summary.drops.append(
                {
                    "extract_date": manifest["extract_date"],
                    "extract_type": manifest["extract_type"],
                    "path": str(connect_dir / manifest["extract_date"]),
                    "rows": {name.split(".")[0]: f["rows"] for name, f in manifest["files"].items()},
                }
            )
            task(i + 1)

    # --- ground truth ---
    hist_weeks = week_starts[CRIME_BURN_IN_WEEKS:]
    with prog.task("hotspot truth", 1) as task:
        hot = truth_mod.hotspot_truth_table(events.expected, geo, hist_weeks)
        hot_fc = truth_mod.hotspot_forecast_truth_table(events.forecast, geo, hist_weeks, FORECAST_WEEKS)
        task(1)
    snaps = truth_mod.snapshot_days(covers_from, end, cfg.iom_snapshot_every_weeks, cfg.iom_snapshot_years)
    with prog.task("IOM truth (snapshots)", len(snaps)) as task:
        iom = truth_mod.iom_truth_table(
            snaps, c_uid, c_t, c_code, pool, model, person_id_of_uid, cfg.iom_mc_draws, seed, covers_day, progress=task
        )
    cells, lsoas = truth_mod.geography_tables(geo)
    summary.figures = _figures(cfg, crimes, ch, nominals, geo, ref, end_s, iom)
    truth_mod.write_truth(
        truth_dir,
        {
            "hotspot_truth.parquet": hot,
            "hotspot_forecast_truth.parquet": hot_fc,
            "iom_truth.parquet": iom,
            "cells.parquet": cells,
            "lsoas.parquet": lsoas,
        },
        {
            "generator_version": GENERATOR_VERSION,
            "preset": asdict(cfg),
            "seed": seed,
            "end_date": end.isoformat(),
            "covers_from": covers_from.isoformat(),
            "file_format": file_format,
            "drops": [d["extract_date"] for d in summary.drops],
            "iom_snapshots": [str(EPOCH + timedelta(days=int(d))) for d in snaps],
            "iom_mc_draws": cfg.iom_mc_draws,
            "figures": summary.figures,
            "note": "Ground truth for evaluation only. The pipeline must never read this folder.",
        },
    )
    summary.seconds = round(time.perf_counter() - started, 1)
    return summary


def _figures(cfg, crimes, ch, nominals, geo, ref, end_s: int, iom) -> dict:
    """Headline yearly figures over the last complete year of history (final record state)."""
    year_lo = end_s - 365 * DAY
    proc = (crimes.kind == KIND_PROCESS) & (crimes.committed_from >= year_lo) & (crimes.committed_from < end_s)
    codes = crimes.code_list[crimes.code[proc]]
    sv_codes = [c for c, v in ref.is_serious_violence.items() if v]
    day_lo = year_lo // DAY
    last_year = (ch.charge_day >= day_lo) & ~ch.is_duplicate
    p = np.asarray(iom.column("p_high_harm_12m"))
    return {
        "area_km2": round(geo.area_km2, 1),
        "residents": int(round(geo.population.sum())),
        "cells_250m": int(geo.n_cells),
        "lsoas": int(len(geo.lsoa_codes)),
        "crimes_last_year": int(proc.sum()),
        "knife_injury_last_year": int((crimes.category[proc] == CAT["knife"]).sum()),
        "serious_violence_last_year": int(np.isin(codes, sv_codes).sum()),
        "charges_last_year": int(last_year.sum()),
        "people_charged_last_year": int(len(np.unique(ch.pool_uid[last_year]))),
        "nominals": int(len(nominals)),
        "iom_truth_rows": int(iom.num_rows),
        "iom_mean_p_high_harm_12m": round(float(p.mean()), 4) if len(p) else None,
    }
