"""People: the at-risk pool the careers run on, and the nominals CONNECT knows.

The **pool** is everyone who could be charged: birth dates spread over the
ages 10-85 during the simulated years, half women, a latent propensity and
seriousness, a career type and a home region. Only pool members who are
charged become nominals.

The **nominals** are the ``persons`` rows: every charged pool member plus
victims, witnesses and others (about 0.8 per offender), who are never
charged. Each nominal has a date of birth, a recorded sex, a self-defined
ethnicity and a home LSOA that may change (moves at about 8% a year).

Ethnicity follows the 2021 Census mix of the West Midlands metropolitan
county (ONS TS021, rounded), coded with the police self-defined ethnicity
codes (18+1). It is drawn independently of offending on purpose: the
generator adds no group differences, so any disparity a fairness audit finds
in the pipeline's outputs comes from the pipeline (or from what it is fed),
not from a built-in assumption. Offenders live where crime is commoner
(residents x deprivation), and commit their crimes mostly in their home
region (journey to crime is short: Wiles and Costello 2000, Home Office
Research Study 207).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmp_pipeline.generator import careers
from wmp_pipeline.generator.geography import Geography

DAY = 86_400
NEVER = np.iinfo(np.int64).max

#: police self-defined ethnicity codes, with the Census 2021 share for the West Midlands metropolitan county
ETHNICITY_MIX: tuple[tuple[str, float], ...] = (
    ("W1", 54.6), ("W2", 0.9), ("W3", 0.1), ("W9", 5.6),
    ("M1", 2.1), ("M2", 0.4), ("M3", 1.0), ("M9", 0.8),
    ("A1", 6.4), ("A2", 9.6), ("A3", 2.3), ("A4", 0.6), ("A9", 2.6),
    ("B1", 2.5), ("B2", 3.9), ("B9", 1.0),
    ("O2", 0.9), ("O9", 2.6),
)
ETHNICITY_NOT_STATED = 0.06
ETHNICITY_NULL = 0.01
DOB_NULL = 0.003
SEX_UNKNOWN = 0.008
SEX_X = 0.001


@dataclass
class Pool:
    """The at-risk population the career process runs on."""

    birth: np.ndarray    # float64 day of birth (days since 1970)
    female: np.ndarray   # bool
    theta: np.ndarray
    sigma0: np.ndarray
    ctype: np.ndarray    # int8
    region: np.ndarray   # int64 home region

    def __len__(self) -> int:
        return len(self.birth)


def offender_region_weights(geo: Geography) -> np.ndarray:
    """Where offenders live: residents x deprivation, summed by region."""
    w = geo.lsoa_population * (0.3 + geo.lsoa_deprivation) ** 2
    return np.bincount(geo.lsoa_region, weights=w)


def build_pool(n: int, start_day: float, end_day: float, geo: Geography, rng: np.random.Generator) -> Pool:
    """``n`` members born so that ages 10-85 are evenly filled at every date in [start_day, end_day]."""
    birth = rng.uniform(start_day - 85.0 * 365.25, end_day - 10.0 * 365.25, n)
    female = rng.random(n) < 0.5
    rw = offender_region_weights(geo)
    theta = rng.normal(0.0, careers.THETA_SD, n) + np.where(female, careers.FEMALE_THETA, 0.0)
    sigma0 = rng.normal(0.0, careers.SIGMA0_SD, n)
    ctype = rng.choice(3, size=n, p=careers.TYPE_SHARES).astype(np.int8)
    return Pool(
        birth=birth,
        female=female,
        theta=theta,
        sigma0=sigma0,
        ctype=ctype,
        region=rng.choice(len(rw), size=n, p=rw / rw.sum()),
    )


@dataclass
class Nominals:
    """Person records with their history; times are int64 seconds (NEVER = no such event)."""

    pool_index: np.ndarray   # int64 pool member, -1 for victims/others
    dob_day: np.ndarray      # int64 day of birth, -1 = null
    sex: np.ndarray          # object M/F/X/U
    ethnicity: np.ndarray    # object code, NS, or None
    lsoa0: np.ndarray        # int64 home LSOA at creation
    move1_at: np.ndarray
    lsoa1: np.ndarray
    move2_at: np.ndarray
    lsoa2: np.ndarray
    created_at: np.ndarray
    deleted_at: np.ndarray
    person_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pool_index)


def _home_lsoa(geo: Geography, region: np.ndarray | None, n: int, offenders: bool, rng: np.random.Generator) -> np.ndarray:
    w = geo.lsoa_population * ((0.3 + geo.lsoa_deprivation) ** 2 if offenders else 1.0)
    if region is None:
        return rng.choice(len(w), size=n, p=w / w.sum())
    out = np.empty(n, dtype=np.int64)
    for r in np.unique(region):
        sel = np.flatnonzero(region == r)
        cand = np.flatnonzero(geo.lsoa_region == r)
        p = w[cand] / w[cand].sum()
        out[sel] = cand[rng.choice(len(cand), size=len(sel), p=p)]
    return out


def _recorded_attributes(n: int, female: np.ndarray, rng: np.random.Generator):
    sex = np.where(female, "F", "M").astype(object)
    u = rng.random(n)
    sex[u < SEX_UNKNOWN + SEX_X] = "U"
    sex[u < SEX_X] = "X"
    codes = np.array([c for c, _ in ETHNICITY_MIX], dtype=object)
    p = np.array([s for _, s in ETHNICITY_MIX])
    eth = codes[rng.choice(len(codes), size=n, p=p / p.sum())]
    v = rng.random(n)
    eth[v < ETHNICITY_NOT_STATED + ETHNICITY_NULL] = "NS"
    eth[v < ETHNICITY_NULL] = None
    return sex, eth


def build_nominals(
    pool: Pool,
    offenders: np.ndarray,
    first_charge_s: np.ndarray,
    geo: Geography,
    moves_per_year: float,
    deleted_share: float,
    others_per_offender: float,
    others_from_s: int,
    end_s: int,
    rng: np.random.Generator,
) -> Nominals:
    """Nominal records for the charged pool members ``offenders`` and for victims/others.

    An offender's record is created at arrest, up to a month before the first charge.
    """
    n_off = len(offenders)
    created_off = first_charge_s - rng.integers(3_600, 30 * DAY, n_off)
    sex_off, eth_off = _recorded_attributes(n_off, pool.female[offenders], rng)
    lsoa_off = _home_lsoa(geo, pool.region[offenders], n_off, True, rng)
    dob_off = np.floor(pool.birth[offenders]).astype(np.int64)

    n_oth = int(round(others_per_offender * n_off))
    created_oth = rng.integers(others_from_s, end_s, n_oth) if n_oth else np.empty(0, np.int64)
    age_oth = rng.uniform(16.0, 85.0, n_oth)
    dob_oth = np.floor(created_oth / DAY - age_oth * 365.25).astype(np.int64)
    sex_oth, eth_oth = _recorded_attributes(n_oth, rng.random(n_oth) < 0.5, rng)
    lsoa_oth = _home_lsoa(geo, None, n_oth, False, rng)

    n = n_off + n_oth
    created = np.concatenate([created_off, created_oth])
    dob = np.concatenate([dob_off, dob_oth])
    dob[rng.random(n) < DOB_NULL] = -1
    lsoa0 = np.concatenate([lsoa_off, lsoa_oth])

    # home moves: up to two, uniformly between creation and the end
    span_years = np.maximum(end_s - created, 0) / (365.25 * DAY)
    n_moves = np.minimum(rng.poisson(moves_per_year * span_years), 2)
    m1 = created + (rng.random(n) * (end_s - created)).astype(np.int64)
    m2 = created + (rng.random(n) * (end_s - created)).astype(np.int64)
    first, second = np.minimum(m1, m2), np.maximum(m1, m2)
    move1 = np.where(n_moves >= 1, np.where(n_moves == 1, m1, first), NEVER)
    move2 = np.where(n_moves >= 2, second, NEVER)
    region = geo.lsoa_region
    same_region_move = rng.random(n) < 0.7

    def new_home(prev: np.ndarray) -> np.ndarray:
        anywhere = _home_lsoa(geo, None, n, False, rng)
        local = _home_lsoa(geo, region[prev], n, False, rng)
        return np.where(same_region_move, local, anywhere)

    lsoa1 = new_home(lsoa0)
    lsoa2 = new_home(lsoa1)

    deleted = np.full(n, NEVER, dtype=np.int64)
    is_other = np.arange(n) >= n_off
    dele = is_other & (rng.random(n) < deleted_share)
    deleted[dele] = created[dele] + rng.integers(DAY, 60 * DAY, dele.sum())
    move1 = np.where(move1 < deleted, move1, NEVER)
    move2 = np.where(move2 < deleted, move2, NEVER)

    return Nominals(
        pool_index=np.concatenate([offenders.astype(np.int64), np.full(n_oth, -1, dtype=np.int64)]),
        dob_day=dob,
        sex=np.concatenate([sex_off, sex_oth]),
        ethnicity=np.concatenate([eth_off, eth_oth]),
        lsoa0=lsoa0,
        move1_at=move1,
        lsoa1=lsoa1,
        move2_at=move2,
        lsoa2=lsoa2,
        created_at=created,
        deleted_at=deleted,
    )


def assign_person_ids(nom: Nominals) -> None:
    """Ids in order of creation, stable for a given seed."""
    order = np.lexsort((np.arange(len(nom)), nom.created_at))
    rank = np.empty(len(nom), dtype=np.int64)
    rank[order] = np.arange(len(nom))
    nom.person_id = np.char.add("PN", np.char.zfill((rank + 1).astype(str), 8)).astype(object)
