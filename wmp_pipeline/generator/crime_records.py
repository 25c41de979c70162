"""From process events to CONNECT crime records, with their whole edit history.

A process event is something that really happened: its offence code,
place, time and weapon/injury fields are its *final*, true state. The record
of it in CONNECT may start out wrong and be corrected later, which is what
the weekly deltas carry:

- **reclassified**: first recorded under a neighbouring code (ABH that turns
  out to be GBH, a theft from the person that was a robbery, attempted
  murder that becomes murder) and corrected days to weeks later;
- **relocated**: first geocoded to the wrong place (a station, a wrong
  street: 0.3-3 km off) and moved to the true place later;
- **late-recorded**: recorded weeks or months after it happened (more often
  for sexual offences and domestic abuse, as in the Home Office Counting
  Rules audits);
- **missing coordinates** (a defect): never geocoded, the LSOA sometimes kept.

Records that are not process events are added around them:

- **no-crime decisions**: records of incidents later found not to be crimes,
  cancelled (``record_status = cancelled``) days to weeks later;
- **duplicates**: second copies of a real crime, deleted later
  (``record_status = deleted``);
- **unknown offence codes** (a defect): crimes under codes the reference
  does not know.

Because every correction moves a record *to* the truth, the final state of
the records is the process, and the hotspot ground truth needs no
correction for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmp_pipeline.contract import INJURY_LEVEL_VALUES, WEAPON_TYPE_VALUES
from wmp_pipeline.generator.crime_process import CrimeEvents
from wmp_pipeline.generator.geography import Geography
from wmp_pipeline.generator.offences import (
    CATEGORIES,
    COURSE_OF_CONDUCT,
    LATE_RECORDING,
    LATE_RECORDING_DEFAULT,
    RECLASSIFIED_FROM,
    RHYTHM_FAMILY,
    TIME_WINDOW,
    UNKNOWN_CODES,
    CrimeMix,
    OffenceReference,
    weapon_profile,
)
from wmp_pipeline.generator.presets import PresetConfig
from wmp_pipeline.generator.rhythms import HOUR_OF_WEEK, sample_hour_of_week

NEVER = np.iinfo(np.int64).max
DAY = 86_400
HOUR = 3_600

KIND_PROCESS = 0
KIND_NO_CRIME = 1
KIND_DUPLICATE = 2
KIND_UNKNOWN_CODE = 3


@dataclass
class CrimeTable:
    """All crime records, one entry per crime_id; times are int64 seconds since 1970 (local)."""

    code_list: np.ndarray        # (n_codes,) object: offence codes; arrays below index into it
    kind: np.ndarray             # int8 KIND_*
    category: np.ndarray         # int8 process category (of the template, for extras)
    code: np.ndarray             # int16 final code
    initial_code: np.ndarray     # int16 code before reclassification
    reclass_at: np.ndarray       # int64, NEVER if never reclassified
    easting: np.ndarray          # int64 final; valid where has_coords
    northing: np.ndarray
    has_coords: np.ndarray       # bool
    lsoa: np.ndarray             # int64 final LSOA index, -1 = null
    initial_easting: np.ndarray
    initial_northing: np.ndarray
    initial_lsoa: np.ndarray
    relocate_at: np.ndarray      # int64, NEVER if never relocated
    committed_from: np.ndarray   # int64
    committed_to: np.ndarray     # int64, NEVER = null
    recorded_at: np.ndarray      # int64
    cancel_at: np.ndarray        # int64, NEVER if never cancelled
    delete_at: np.ndarray        # int64, NEVER if never deleted
    weapon_type: np.ndarray      # int8 index into contract WEAPON_TYPE_VALUES
    weapon_used: np.ndarray      # bool
    injury_level: np.ndarray     # int8 index into contract INJURY_LEVEL_VALUES
    description_null: np.ndarray  # bool
    crime_id: np.ndarray | None = None  # object, set once ids are assigned

    def __len__(self) -> int:
        return len(self.kind)

    def take(self, idx: np.ndarray) -> CrimeTable:
        vals = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            vals[name] = v if name == "code_list" or v is None else v[idx]
        return CrimeTable(**vals)

    @staticmethod
    def concat(parts: list[CrimeTable]) -> CrimeTable:
        vals = {}
        for name in CrimeTable.__dataclass_fields__:
            if name == "code_list":
                vals[name] = parts[0].code_list
            elif name == "crime_id":
                vals[name] = None
            else:
                vals[name] = np.concatenate([getattr(p, name) for p in parts])
        return CrimeTable(**vals)


def _lognormal_seconds(rng, n, median_s, sigma, lo_s, hi_s):
    return np.clip(np.exp(rng.normal(np.log(median_s), sigma, n)), lo_s, hi_s).astype(np.int64)


def _process_crimes(
    events: CrimeEvents, geo: Geography, mix: CrimeMix, code_list: np.ndarray, rng: np.random.Generator
) -> CrimeTable:
    n = len(events.week)
    code_pos = {c: i for i, c in enumerate(code_list)}
    category = events.category
    code = np.empty(n, dtype=np.int16)
    for k in range(len(CATEGORIES)):
        sel = np.flatnonzero(category == k)
        codes, p = mix.code_probabilities(k)
        code[sel] = np.array([code_pos[c] for c in codes], dtype=np.int16)[rng.choice(len(codes), size=len(sel), p=p)]

    weapon_type = np.zeros(n, dtype=np.int8)
    weapon_used = np.zeros(n, dtype=bool)
    injury = np.zeros(n, dtype=np.int8)
    combo = category.astype(np.int64) * len(code_list) + code
    for key in np.unique(combo):
        sel = np.flatnonzero(combo == key)
        prof = weapon_profile(CATEGORIES[key // len(code_list)], code_list[key % len(code_list)])
        pick = rng.choice(len(prof), size=len(sel), p=[p for _, p in prof])
        wt = np.array([WEAPON_TYPE_VALUES.index(v[0]) for v, _ in prof], dtype=np.int8)
        wu = np.array([v[1] == "Y" for v, _ in prof])
        inj = np.array([INJURY_LEVEL_VALUES.index(v[2]) for v, _ in prof], dtype=np.int8)
        weapon_type[sel], weapon_used[sel], injury[sel] = wt[pick], wu[pick], inj[pick]

    east, north = geo.random_points(events.cell, rng)
    lsoa = geo.lsoa_of(east, north)

    # time inside the week, by the code's rhythm family
    hour = np.zeros(n, dtype=np.int64)
    family = np.array([RHYTHM_FAMILY[c] for c in code_list[code]], dtype=object) if n else np.array([], object)
    for fam in HOUR_OF_WEEK:
        sel = np.flatnonzero(family == fam)
        hour[sel] = sample_hour_of_week(fam, len(sel), rng)
    committed_from = events.week_starts[events.week] * DAY + hour * HOUR + rng.integers(0, HOUR, n)

    codes_str = code_list[code]
    committed_to = np.full(n, NEVER, dtype=np.int64)
    course = np.isin(codes_str, COURSE_OF_CONDUCT) & (rng.random(n) < 0.7)
    committed_to[course] = committed_from[course] + rng.integers(DAY, 120 * DAY, course.sum())
    window = np.isin(codes_str, TIME_WINDOW) & (rng.random(n) < 0.85)
    committed_to[window] = committed_from[window] + _lognormal_seconds(rng, window.sum(), 5 * HOUR, 0.8, 10 * 60, 3 * DAY)
    short = ~course & ~window & (rng.random(n) < 0.35)
    committed_to[short] = committed_from[short] + rng.integers(60, 45 * 60, short.sum())

    last_known = np.where(committed_to == NEVER, committed_from, committed_to)
    lag_median = np.where(np.isin(family, ("night_violence", "street")), 2 * HOUR,
                          np.where(family == "domestic", DAY, 10 * HOUR))
    lag = np.clip(np.exp(rng.normal(np.log(lag_median), 1.0)), 5 * 60, 14 * DAY).astype(np.int64)
    p_late = np.array([LATE_RECORDING.get(c, LATE_RECORDING_DEFAULT) for c in code_list])[code]
    late = rng.random(n) < p_late
    lag[late] = rng.integers(14 * DAY, 140 * DAY, late.sum())
    recorded_at = last_known + lag

    return CrimeTable(
        code_list=code_list,
        kind=np.full(n, KIND_PROCESS, dtype=np.int8),
        category=category.astype(np.int8),
        code=code,
        initial_code=code.copy(),
        reclass_at=np.full(n, NEVER, dtype=np.int64),
        easting=east,
        northing=north,
        has_coords=np.ones(n, dtype=bool),
        lsoa=lsoa,
        initial_easting=east.copy(),
        initial_northing=north.copy(),
        initial_lsoa=lsoa.copy(),
        relocate_at=np.full(n, NEVER, dtype=np.int64),
        committed_from=committed_from,
        committed_to=committed_to,
        recorded_at=recorded_at,
        cancel_at=np.full(n, NEVER, dtype=np.int64),
        delete_at=np.full(n, NEVER, dtype=np.int64),
        weapon_type=weapon_type,
        weapon_used=weapon_used,
        injury_level=injury,
        description_null=np.zeros(n, dtype=bool),
    )


def _apply_changes(t: CrimeTable, geo: Geography, preset: PresetConfig, rng: np.random.Generator) -> None:
    n = len(t)
    code_pos = {c: i for i, c in enumerate(t.code_list)}
    # reclassification: the first recorded code was a neighbouring one
    first = np.full(len(t.code_list), -1, dtype=np.int64)
    for final, initial in RECLASSIFIED_FROM.items():
        first[code_pos[final]] = code_pos[initial]
    cand = first[t.code] >= 0
    re = cand & (rng.random(n) < preset.changes.reclassified)
    t.initial_code[re] = first[t.code[re]]
    t.reclass_at[re] = t.recorded_at[re] + _lognormal_seconds(rng, re.sum(), 7 * DAY, 1.0, HOUR, 120 * DAY)

    # relocation: first geocoded 0.3-3 km away (kept inside the area), moved later
    mv = np.flatnonzero(rng.random(n) < preset.changes.relocated)
    ang = rng.uniform(0, 2 * np.pi, len(mv))
    dist = rng.uniform(300, 3000, len(mv))
    for _ in range(4):
        e = t.easting[mv] + np.round(dist * np.cos(ang)).astype(np.int64)
        nn = t.northing[mv] + np.round(dist * np.sin(ang)).astype(np.int64)
        ok = geo.cell_of(e, nn) >= 0
        dist = np.where(ok, dist, dist / 2)
    keep = ok
    mv, e, nn = mv[keep], e[keep], nn[keep]
    t.initial_easting[mv], t.initial_northing[mv] = e, nn
    t.initial_lsoa[mv] = geo.lsoa_of(e, nn)
    t.relocate_at[mv] = t.recorded_at[mv] + _lognormal_seconds(rng, len(mv), 3 * DAY, 1.0, HOUR, 90 * DAY)

    # defect: never geocoded
    miss = (t.relocate_at == NEVER) & (rng.random(n) < preset.defects.missing_coordinates)
    t.has_coords[miss] = False
    drop_lsoa = miss & (rng.random(n) >= preset.defects.missing_coordinates_lsoa_kept)
    t.lsoa[drop_lsoa] = -1
    t.initial_lsoa[drop_lsoa] = -1


def _extra_records(
    t: CrimeTable, geo: Geography, preset: PresetConfig, start_s: int, end_s: int, rng: np.random.Generator
) -> list[CrimeTable]:
    """No-crime, duplicate and unknown-code records around the process crimes."""
    in_window = np.flatnonzero((t.recorded_at >= start_s) & (t.recorded_at < end_s))
    n_base = len(in_window)
    out = []

    # "no crime" records: like a real one nearby in space and time, cancelled later
    n_nc = rng.binomial(n_base, preset.changes.cancelled)
    nc = t.take(rng.choice(in_window, n_nc))
    nc.kind[:] = KIND_NO_CRIME
    shift = rng.integers(-7 * DAY, 7 * DAY, n_nc)
    nc.committed_from = nc.committed_from + shift
    nc.committed_to = np.full(n_nc, NEVER, dtype=np.int64)
    nc.recorded_at = nc.committed_from + rng.integers(HOUR, 48 * HOUR, n_nc)
    je = nc.easting + rng.integers(-150, 151, n_nc)
    jn = nc.northing + rng.integers(-150, 151, n_nc)
    inside = geo.cell_of(je, jn) >= 0
    nc.easting = np.where(inside, je, nc.easting)
    nc.northing = np.where(inside, jn, nc.northing)
    nc.lsoa = np.where(nc.has_coords, geo.lsoa_of(nc.easting, nc.northing), nc.lsoa)
    nc.initial_easting, nc.initial_northing, nc.initial_lsoa = nc.easting.copy(), nc.northing.copy(), nc.lsoa.copy()
    nc.initial_code = nc.code.copy()
    nc.reclass_at = np.full(n_nc, NEVER, dtype=np.int64)
    nc.relocate_at = np.full(n_nc, NEVER, dtype=np.int64)
    nc.cancel_at = nc.recorded_at + rng.integers(2 * DAY, 56 * DAY, n_nc)
    out.append(nc)

    # duplicates of a real record, deleted later
    n_dup = rng.binomial(n_base, preset.changes.deleted_crimes)
    dup = t.take(rng.choice(in_window, n_dup))
    dup.kind[:] = KIND_DUPLICATE
    dup.recorded_at = dup.recorded_at + rng.integers(600, 2 * DAY, n_dup)
    # the copy follows its original's corrections (not before it exists), then is deleted
    dup.reclass_at = np.where(dup.reclass_at == NEVER, NEVER, np.maximum(dup.reclass_at, dup.recorded_at))
    dup.relocate_at = np.where(dup.relocate_at == NEVER, NEVER, np.maximum(dup.relocate_at, dup.recorded_at))
    last_edit = np.max(
        [dup.recorded_at, np.where(dup.reclass_at == NEVER, 0, dup.reclass_at), np.where(dup.relocate_at == NEVER, 0, dup.relocate_at)],
        axis=0,
    )
    dup.delete_at = last_edit + rng.integers(DAY, 42 * DAY, n_dup)
    out.append(dup)

    # defect: offence codes the reference does not know
    n_unk = rng.binomial(n_base, preset.defects.unknown_offence_code)
    unk = t.take(rng.choice(in_window, n_unk))
    unk.kind[:] = KIND_UNKNOWN_CODE
    unknown_pos = np.array([list(t.code_list).index(c) for c in UNKNOWN_CODES], dtype=np.int16)
    unk.code = unknown_pos[rng.integers(0, len(unknown_pos), n_unk)]
    unk.initial_code = unk.code.copy()
    unk.reclass_at = np.full(n_unk, NEVER, dtype=np.int64)
    unk.weapon_type[:] = 0
    unk.weapon_used[:] = False
    unk.injury_level[:] = INJURY_LEVEL_VALUES.index("none")
    unk.recorded_at = unk.recorded_at + rng.integers(0, 3 * DAY, n_unk)
    unk.relocate_at = np.where(unk.relocate_at == NEVER, NEVER, np.maximum(unk.relocate_at, unk.recorded_at))
    out.append(unk)
    return out


def build_crime_table(
    events: CrimeEvents,
    geo: Geography,
    mix: CrimeMix,
    ref: OffenceReference,
    preset: PresetConfig,
    start_s: int,
    end_s: int,
    rng: np.random.Generator,
) -> CrimeTable:
    """Every crime record recorded before ``end_s``, ids in recording order.

    Process crimes recorded before ``start_s`` (the history start) are kept:
    charges may refer to them, and late-recorded ones reach the extract.
    """
    code_list = np.array(list(ref.codes) + list(UNKNOWN_CODES), dtype=object)
    t = _process_crimes(events, geo, mix, code_list, rng)
    _apply_changes(t, geo, preset, rng)
    t = CrimeTable.concat([t] + _extra_records(t, geo, preset, start_s, end_s, rng))
    t.description_null = rng.random(len(t)) < 0.02
    t = t.take(np.flatnonzero(t.recorded_at < end_s))
    order = np.lexsort((np.arange(len(t)), t.recorded_at))
    t = t.take(order)
    t.crime_id = np.char.add("CR", np.char.zfill(np.arange(1, len(t) + 1).astype(str), 9)).astype(object)
    return t
