"""Charges: career events tied to recorded crimes, co-offenders, and charge records.

The career process says *who* is charged *when* with *what*; the crime
process says which crimes happened. A charge is tied to a crime by matching:

- the crime was committed some days to months before the charge (same-day
  for proactive offences found in the act: weapons, drugs, assaults on
  officers; a median of three weeks otherwise), and recorded before it;
- it has the charged offence code (about 5% are charged as a neighbouring,
  usually lesser, offence: ABH charged for a recorded GBH, and so on);
- it is preferably in the offender's home region (short journeys to crime),
  otherwise anywhere in the force;
- it was not already taken by another offender, unless as a co-offender.

**Co-offending**: a share of charges (a third for robbery, a quarter for
burglary and GBH, less for other offences; Reiss 1988, van Mastrigt and
Farrington 2009) join the crime of another offender charged with the same
offence at about the same time, so some crimes are charged to two or more
people. **Outside the extract**: about 6% of charges have no crime
(``crime_id`` empty: dealt with by another force, or not a notifiable
crime record), and so do charges whose crime could not be matched or was
recorded before the history starts.

Every career charge stays active; a few duplicate charge records are
created and deleted again, as deltas do in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmp_pipeline.generator.careers import OFFENCE_GROUPS
from wmp_pipeline.generator.crime_records import DAY, KIND_PROCESS, NEVER, CrimeTable
from wmp_pipeline.generator.geography import Geography
from wmp_pipeline.generator.offences import CHARGED_FOR_OTHER_CODE

OUTSIDE_EXTRACT = 0.06
OTHER_CODE_SHARE = 0.05
MATCH_WINDOW_DAYS = 180
MATCH_STEPS = 24
CO_OFFENDING: dict[str, float] = {
    "robbery": 0.35, "homicide": 0.4, "burglary": 0.28, "gbh": 0.25, "trafficking": 0.2,
    "abh": 0.15, "weapons": 0.1, "theft": 0.1, "damage_disorder": 0.12,
}
CO_OFFENDING_DEFAULT = 0.04
CO_OFFENDING_WINDOW_DAYS = 30
#: offences usually charged straight from custody
PROACTIVE_GROUPS = ("weapons", "drug_possession", "trafficking")
PROACTIVE_CODES = ("104",)


@dataclass
class Charges:
    """Charge records; times in int64 seconds, ``t`` in float days (the career clock)."""

    pool_uid: np.ndarray   # int64 pool member charged
    t: np.ndarray          # float64 days since 1970 (charge time)
    code: np.ndarray       # int64 index into the reference codes
    crime: np.ndarray      # int64 index into the crime table, -1 = no crime
    created_at: np.ndarray  # int64 seconds
    deleted_at: np.ndarray  # int64 seconds, NEVER for active
    is_duplicate: np.ndarray  # bool
    charge_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pool_uid)

    @property
    def charge_day(self) -> np.ndarray:
        return np.floor(self.t).astype(np.int64)


def _match(
    bucket: np.ndarray,
    target_s: np.ndarray,
    deadline_s: np.ndarray,
    crime_bucket: np.ndarray,
    crime_time: np.ndarray,
    crime_recorded: np.ndarray,
    taken: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """For each charge the latest free crime of its bucket committed at or before its target
    time (within the window) and recorded before its deadline; -1 if none. Marks ``taken``."""
    base = int(min(crime_time.min(initial=0), target_s.min(initial=0))) - 1
    shift = np.int64(1) << np.int64(36)
    order = np.lexsort((crime_time, crime_bucket))
    keys = crime_bucket[order].astype(np.int64) * shift + (crime_time[order] - base)
    q = bucket.astype(np.int64) * shift + (target_s - base)
    pos = np.searchsorted(keys, q, side="right") - 1
    out = np.full(len(bucket), -1, dtype=np.int64)
    pending = np.arange(len(bucket))
    window = MATCH_WINDOW_DAYS * DAY
    for _ in range(MATCH_STEPS):
        if not len(pending):
            break
        p = pos[pending]
        alive = p >= 0
        pc = np.where(alive, order[np.maximum(p, 0)], 0)
        alive &= (crime_bucket[pc] == bucket[pending]) & (crime_time[pc] >= target_s[pending] - window)
        pending, pc = pending[alive], pc[alive]
        ok = ~taken[pc] & (crime_recorded[pc] < deadline_s[pending])
        # one winner per crime, in random order
        cand = np.flatnonzero(ok)
        prio = rng.permutation(len(cand))
        first = cand[prio[np.unique(pc[cand[prio]], return_index=True)[1]]] if len(cand) else cand
        won = np.zeros(len(pending), dtype=bool)
        won[first] = True
        out[pending[won]] = pc[won]
        taken[pc[won]] = True
        pending = pending[~won]
        pos[pending] -= 1
    return out


def _followers(
    f_code: np.ndarray, f_target: np.ndarray, f_deadline: np.ndarray, f_uid: np.ndarray,
    l_code: np.ndarray, l_target: np.ndarray, l_crime: np.ndarray, l_uid: np.ndarray,
    crime_recorded: np.ndarray,
) -> np.ndarray:
    """Crime of the nearest-in-time matched leader with the same code, or -1."""
    out = np.full(len(f_code), -1, dtype=np.int64)
    if not len(l_code) or not len(f_code):
        return out
    base = int(min(l_target.min(), f_target.min())) - 1
    shift = np.int64(1) << np.int64(36)
    order = np.lexsort((l_target, l_code))
    keys = l_code[order] * shift + (l_target[order] - base)
    q = f_code * shift + (f_target - base)
    right = np.searchsorted(keys, q)
    best_gap = np.full(len(f_code), np.iinfo(np.int64).max)
    for cand_pos in (right - 1, right):
        okp = (cand_pos >= 0) & (cand_pos < len(keys))
        li = order[np.clip(cand_pos, 0, len(keys) - 1)]
        gap = np.abs(l_target[li] - f_target)
        good = (
            okp & (l_code[li] == f_code) & (gap <= CO_OFFENDING_WINDOW_DAYS * DAY)
            & (l_uid[li] != f_uid) & (crime_recorded[l_crime[li]] < f_deadline) & (gap < best_gap)
        )
        out[good] = l_crime[li[good]]
        best_gap[good] = gap[good]
    return out


def build_charges(
    uid: np.ndarray,
    t: np.ndarray,
    code: np.ndarray,
    ref_codes: tuple[str, ...],
    pool_region: np.ndarray,
    crimes: CrimeTable,
    geo: Geography,
    deleted_share: float,
    rng: np.random.Generator,
) -> Charges:
    """Charge records for the career events ``(uid, t, code)``, tied to crimes where possible."""
    n = len(uid)
    order = np.lexsort((uid, t))
    uid, t, code = uid[order], t[order], code[order]
    created = np.floor(t * DAY).astype(np.int64)

    ref_pos = {c: i for i, c in enumerate(ref_codes)}
    group_of = {c: g for g, (codes, *_rest) in OFFENCE_GROUPS.items() for c in codes}
    code_group = np.array([group_of.get(c, "") for c in ref_codes], dtype=object)
    co_p = np.array([CO_OFFENDING.get(g, CO_OFFENDING_DEFAULT) for g in code_group])
    proactive = np.array([(g in PROACTIVE_GROUPS) or (c in PROACTIVE_CODES) for c, g in zip(ref_codes, code_group)])

    # the code of the crime each charge is for
    alt = np.arange(len(ref_codes))
    for charged, recorded in CHARGED_FOR_OTHER_CODE.items():
        alt[ref_pos[charged]] = ref_pos[recorded]
    match_code = np.where(rng.random(n) < OTHER_CODE_SHARE, alt[code], code)

    delay_median = np.where(proactive[code], 0.3, 21.0) * DAY
    delay = np.clip(np.exp(rng.normal(np.log(delay_median), 1.1)), 600, 365 * DAY).astype(np.int64)
    target = created - delay

    # crimes available to be charged: process crimes, by code (mapped into ref code order)
    crime_code_ref = np.array([ref_pos.get(c, -1) for c in crimes.code_list])[crimes.code]
    usable = np.flatnonzero((crimes.kind == KIND_PROCESS) & (crime_code_ref >= 0))
    c_code = crime_code_ref[usable]
    c_region = geo.lsoa_region[np.maximum(geo.lsoa_of(crimes.easting[usable], crimes.northing[usable]), 0)]
    c_time = crimes.committed_from[usable]
    c_rec = crimes.recorded_at[usable]
    taken = np.zeros(len(usable), dtype=bool)
    n_regions = int(geo.lsoa_region.max()) + 1

    outside = rng.random(n) < OUTSIDE_EXTRACT
    follower = ~outside & (rng.random(n) < co_p[code])
    leader = ~outside & ~follower
    crime = np.full(n, -1, dtype=np.int64)

    li = np.flatnonzero(leader)
    region = pool_region[uid[li]]
    m = _match(match_code[li] * n_regions + region, target[li], created[li],
               c_code * n_regions + c_region, c_time, c_rec, taken, rng)
    crime[li] = m
    rest = li[m < 0]
    crime[rest] = _match(match_code[rest], target[rest], created[rest], c_code, c_time, c_rec, taken, rng)

    fi = np.flatnonzero(follower)
    matched = np.flatnonzero(leader & (crime >= 0))
    crime[fi] = _followers(
        match_code[fi], target[fi], created[fi], uid[fi],
        match_code[matched], target[matched], crime[matched], uid[matched], c_rec,
    )
    lone = fi[crime[fi] < 0]
    crime[lone] = _match(match_code[lone], target[lone], created[lone], c_code, c_time, c_rec, taken, rng)

    crime = np.where(crime >= 0, usable[np.maximum(crime, 0)], -1)

    # duplicate charge records, deleted again within six weeks
    dup = np.flatnonzero(rng.random(n) < deleted_share)
    d_created = created[dup] + rng.integers(60, 2 * DAY, len(dup))
    charges = Charges(
        pool_uid=np.concatenate([uid, uid[dup]]),
        t=np.concatenate([t, t[dup]]),
        code=np.concatenate([code, code[dup]]),
        crime=np.concatenate([crime, crime[dup]]),
        created_at=np.concatenate([created, d_created]),
        deleted_at=np.concatenate([np.full(n, NEVER, dtype=np.int64), d_created + rng.integers(DAY, 42 * DAY, len(dup))]),
        is_duplicate=np.concatenate([np.zeros(n, dtype=bool), np.ones(len(dup), dtype=bool)]),
    )
    o = np.lexsort((np.arange(len(charges)), charges.created_at))
    charges = Charges(**{k: getattr(charges, k)[o] for k in ("pool_uid", "t", "code", "crime", "created_at", "deleted_at", "is_duplicate")})
    charges.charge_id = np.char.add("CH", np.char.zfill(np.arange(1, len(charges) + 1).astype(str), 9)).astype(object)
    return charges
