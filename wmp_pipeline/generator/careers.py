"""Offending careers: a self-exciting point process of charges for each person.

Each person in the at-risk pool is charged at the times of a point process
with hazard (per day)

    h(t) = exp(theta) * ( nu * exp(A(age))                                  onset / background
                        + exp(A(age) / 2) * M(t) * S(t) / (1 + S(t) / S_sat) )  career momentum

- ``A(age)`` is the age-crime curve (Hirschi and Gottfredson 1983; Farrington
  1986), ``1.2 * (ln((age - 9) / 10) - (age - 19) / 10)``: zero at 19, about
  -0.4 at 30, -1.2 at 40 and -2.0 at 50, and nothing below the age of
  criminal responsibility (10). Onset follows it fully, the momentum of an
  active career only half as steeply: participation falls faster with age
  than the frequency of those still active (Blumstein et al. 1986,
  *Criminal Careers and "Career Criminals"*).
- ``S(t)`` is the self-excitation from the person's own past charges: a
  short memory (e-folding 120 days, half as heavy again after violent,
  weapon and trafficking charges) plus a long one (900 days). Recent and
  many charges raise the rate of the next one, the "state dependence" of
  offending (Nagin and Paternoster 2000); ``S_sat`` caps the most prolific
  at about seven charges a year.
- ``theta`` is a latent propensity (sd 0.15), 1.3 lower for women (one charged
  person in four and one charge in eight is a woman's).
- ``M(t)`` is the career type (Moffitt 1993; Sampson and Laub 2003):
  *escalating* careers (a quarter) gain frequency (``exp(0.03 min(n, 8))``)
  and seriousness with every charge ``n``; *desisting* ones (a quarter) lose
  momentum with time since their first charge (e-folding about seven
  years); *persistent* ones (half) do neither.

What each charge is for follows a seriousness index

    sigma(t) = sigma0 - 0.3 + 0.8 * ln(1 + V(t)) + 0.10 * min(n, 8) * [escalating]

(``V``: a one-year memory of violent and weapon charges, 1.5 for a single
charge of high harm; ``sigma0``: latent, sd 0.2) and a multinomial logit
over offence groups whose slopes on ``sigma`` put robbery, GBH, weapons,
trafficking and homicide at the serious end; youth shifts the mix towards
robbery and weapons, women towards theft. The base mix within and across
groups is the crime mix weighted by relative charge rates (the shape of the
Home Office *Crime outcomes in England and Wales* tables).

Everything that drives the escalation to high harm (rate, recency, count,
violent history, trend in seriousness, age) is visible in the charge
history; the latent parts (``theta``, ``sigma0``, the type) are kept
modest, so that a model of charge history can come within about 0.01-0.02
ROC AUC of the true probability while rank-by-current-harm stays far behind
(see README.md for the measured figures).

The process is Markov in ``(t, S_short, S_long, V, n, onset)``: the state at
any date is computed exactly from the charges before it, which is how the
IOM ground truth restarts the same process from each snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmp_pipeline.generator.offences import CRIME_MIX, OffenceReference

DAYS_PER_YEAR = 365.25
AGE_CURVE_K = 1.2

TAU_SHORT = 120.0
TAU_LONG = 900.0
TAU_VIOLENCE = 365.0
KAPPA_SHORT = 2.0e-3
KAPPA_LONG = 5.0e-4
S_SAT = 0.02
NU = 8.0e-4
THETA_SD = 0.15
SIGMA0_SD = 0.2
FEMALE_THETA = -1.3
ESC_RATE = 0.03
ESC_SEVERITY = 0.10
GAMMA_VIOLENCE = 0.8
#: keeps the average seriousness near 0 so the base offence mix is the charged mix
SIGMA_CENTRE = 0.3
DESIST_DAYS = 2500.0
#: career types: 0 persistent, 1 escalating, 2 desisting
TYPE_SHARES = (0.5, 0.25, 0.25)
PERSISTENT, ESCALATING, DESISTING = 0, 1, 2
#: rows per block when drawing offences (keeps temporaries in cache; large fresh arrays are slow)
DRAW_BLOCK = 65_536
#: lookup grid of the offence-group probabilities
SIGMA_GRID_MIN, SIGMA_GRID_STEP, SIGMA_GRID_SIZE = -4.0, 0.01, 1001
YOUTH_GRID_STEPS = 20

#: relative chance that a recorded crime of each code leads to a charge
#: (shape of the Home Office crime outcomes: high for proactive and serious
#: offences, low for volume theft and criminal damage)
CHARGE_PROPENSITY: dict[str, float] = {
    "1": 0.7, "4.1": 0.4, "4.4": 0.6, "5A": 0.12, "5D": 0.10, "8N": 0.07, "8P": 0.07,
    "4.2": 0.05, "8L": 0.04, "8Q": 0.05, "8R": 0.06, "105A": 0.05, "104": 0.35, "11A": 0.08, "36": 0.12,
    "19C": 0.03, "20A": 0.04, "17A": 0.04, "34A": 0.12, "34B": 0.07,
    "10A": 0.35, "10C": 0.35, "10D": 0.40, "28E": 0.04, "30C": 0.04, "37.2": 0.15,
    "45": 0.01, "48": 0.03, "39": 0.02, "46": 0.17, "49": 0.02, "44": 0.10,
    "56A": 0.06, "56B": 0.03, "58A": 0.05, "58C": 0.03, "92A": 0.40, "92D": 0.30, "92E": 0.15,
    "9A": 0.06, "9B": 0.08, "66": 0.10,
}

#: offence groups of the seriousness model: codes, slope on sigma, youth shift, female shift
OFFENCE_GROUPS: dict[str, tuple[tuple[str, ...], float, float, float]] = {
    "theft": (("46", "49", "44", "45", "48", "39"), -0.5, 0.0, 0.6),
    "damage_disorder": (("58A", "58C", "56B", "9A", "9B", "66"), -0.2, 0.2, 0.0),
    "drug_possession": (("92D", "92E"), -0.1, 0.3, -0.5),
    "assault": (("105A", "104", "4.2"), 0.0, 0.0, 0.0),
    "domestic": (("8L", "8Q", "8R", "11A", "36"), 0.1, -0.8, -0.3),
    "burglary": (("28E", "30C", "37.2"), 0.1, 0.3, -0.8),
    "abh": (("8N", "8P"), 0.3, 0.0, -0.3),
    "sexual": (("19C", "20A", "17A"), 0.2, 0.0, -3.0),
    "arson": (("56A",), 0.3, 0.0, 0.0),
    "weapons": (("10C", "10D", "10A"), 0.6, 0.3, -1.2),
    "trafficking": (("92A",), 0.6, 0.2, -1.0),
    "robbery": (("34A", "34B"), 0.8, 0.4, -1.2),
    "gbh": (("5D", "5A"), 0.8, 0.2, -0.8),
    "homicide": (("1", "4.1", "4.4"), 1.0, 0.3, -1.0),
}
#: groups whose charges feed the violence memory V and excite more
VIOLENT_GROUPS = ("abh", "weapons", "robbery", "gbh", "homicide", "trafficking")


def age_effect(age_years: np.ndarray) -> np.ndarray:
    """log age-crime curve A(age): 0 at 19, -inf below the age of criminal responsibility (10)."""
    a = np.asarray(age_years, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = AGE_CURVE_K * (np.log(np.maximum(a - 9.0, 0.0) / 10.0) - (a - 19.0) / 10.0)
    return np.where(a >= 10.0, out, -np.inf)


_AGE_TABLE = age_effect(np.arange(0, 131))
_EXP_A = np.exp(_AGE_TABLE)
_EXP_HALF_A = np.exp(0.5 * _AGE_TABLE)


@dataclass(frozen=True)
class OffenceModel:
    """Arrays over the reference codes (``ref.codes`` order) and the offence groups."""

    codes: np.ndarray            # (n_codes,) object
    harm: np.ndarray             # (n_codes,) harm weight days
    excite: np.ndarray           # (n_codes,) weight in the short memory
    violent: np.ndarray          # (n_codes,) 1.0 for violent/weapon charges, 1.5 if serious
    group_base: np.ndarray       # (n_groups,) log base weight
    group_slope: np.ndarray
    group_youth: np.ndarray
    group_female: np.ndarray
    group_cum: np.ndarray        # (sigma x youth x sex rows, n_groups) float32 cumulative group probabilities
    code_table: np.ndarray       # (n_groups, max codes) code indices per group, padded
    code_cum: np.ndarray         # (n_groups, max codes) cumulative probabilities, padded with 2


def build_offence_model(ref: OffenceReference) -> OffenceModel:
    pos = {c: i for i, c in enumerate(ref.codes)}
    volume: dict[str, float] = {}
    for code, _, n in CRIME_MIX:
        volume[code] = volume.get(code, 0.0) + n
    harm = np.array([ref.harm_weight_days[c] for c in ref.codes])
    excite = np.ones(len(ref.codes))
    violent = np.zeros(len(ref.codes))
    base, slope, youth, female, gcodes, gp = [], [], [], [], [], []
    for name, (codes, b, y, f) in OFFENCE_GROUPS.items():
        w = np.array([volume[c] * CHARGE_PROPENSITY[c] for c in codes])
        base.append(np.log(w.sum()))
        slope.append(b)
        youth.append(y)
        female.append(f)
        gcodes.append(np.array([pos[c] for c in codes]))
        gp.append(w / w.sum())
        if name in VIOLENT_GROUPS:
            for c in codes:
                excite[pos[c]] = 1.5
                violent[pos[c]] = 1.5 if harm[pos[c]] >= 365 else 1.0
    width = max(len(g) for g in gcodes)
    code_table = np.zeros((len(gcodes), width), dtype=np.int64)
    code_cum = np.full((len(gcodes), width), 2.0)
    for i, (cs, ps) in enumerate(zip(gcodes, gp)):
        code_table[i, : len(cs)] = cs
        code_table[i, len(cs):] = cs[-1]
        code_cum[i, : len(cs)] = np.cumsum(ps)
        code_cum[i, len(cs) - 1] = 1.0
    sg = SIGMA_GRID_MIN + SIGMA_GRID_STEP * np.arange(SIGMA_GRID_SIZE)
    yg = np.arange(YOUTH_GRID_STEPS + 1) / YOUTH_GRID_STEPS
    sig, yo, fe = np.meshgrid(sg, yg, [0.0, 1.0], indexing="ij")
    util = (
        np.array(base) + sig[..., None] * np.array(slope) + yo[..., None] * np.array(youth) + fe[..., None] * np.array(female)
    )
    w = np.exp(util - util.max(axis=-1, keepdims=True))
    group_cum = np.cumsum(w, axis=-1)
    group_cum = (group_cum / group_cum[..., -1:]).reshape(-1, len(base)).astype(np.float32)
    group_cum[:, -1] = 1.0
    return OffenceModel(
        codes=np.array(ref.codes, dtype=object),
        harm=harm,
        excite=excite,
        violent=violent,
        group_base=np.array(base),
        group_slope=np.array(slope),
        group_youth=np.array(youth),
        group_female=np.array(female),
        group_cum=group_cum,
        code_table=code_table,
        code_cum=code_cum,
    )


@dataclass
class CareerState:
    """Struct of arrays: one entry per simulated unit (a person, or a person x draw)."""

    uid: np.ndarray        # int64 id reported with events
    t: np.ndarray          # float64 current time, days since 1970
    t_end: np.ndarray      # float64 when to stop
    birth: np.ndarray      # float64 day of birth
    theta: np.ndarray      # float64 latent propensity
    sigma0: np.ndarray     # float64 latent seriousness
    female: np.ndarray     # bool
    ctype: np.ndarray      # int8 career type
    onset: np.ndarray      # float64 day of first charge, nan before
    n: np.ndarray          # int32 charges so far
    s_short: np.ndarray    # float64 short self-excitation at t
    s_long: np.ndarray     # float64 long self-excitation at t
    v_mem: np.ndarray      # float64 violence memory at v_time (decayed lazily)
    v_time: np.ndarray     # float64 time v_mem refers to

    def __len__(self) -> int:
        return len(self.uid)


_ESC_TABLE = np.exp(ESC_RATE * np.minimum(np.arange(10_000), 8))


def _momentum_factor(ctype: np.ndarray, n: np.ndarray, onset: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Career-type multiplier: escalation grows with charges, desistance decays with time since onset."""
    out = np.where(ctype == ESCALATING, _ESC_TABLE[np.minimum(n, len(_ESC_TABLE) - 1)], 1.0)
    d = np.flatnonzero(ctype == DESISTING)
    if len(d):
        out[d] = np.exp(-np.fmax(t[d] - onset[d], 0.0) / DESIST_DAYS)  # nan onset (not yet charged) -> 1
    return out


def hazard(
    exp_a: np.ndarray, exp_half_a: np.ndarray, exp_theta: np.ndarray, s_short: np.ndarray, s_long: np.ndarray,
    career: np.ndarray,
) -> np.ndarray:
    """Charges per day given the age terms ``exp(A)``, ``exp(A / 2)`` and the career-type factor.

    Non-increasing in time between a person's charges for fixed age terms:
    the excitation decays and so does the desistance factor.
    """
    s = s_short + s_long
    return exp_theta * (NU * exp_a + exp_half_a * career * s / (1.0 + s / S_SAT))


def seriousness(sigma0: np.ndarray, v_mem: np.ndarray, ctype: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The seriousness index sigma of the next charge."""
    sigma = sigma0 - SIGMA_CENTRE + GAMMA_VIOLENCE * np.log1p(v_mem)
    return sigma + np.where(ctype == ESCALATING, ESC_SEVERITY * np.minimum(n, 8), 0.0)


def draw_offences(
    model: OffenceModel,
    sigma0: np.ndarray,
    v_mem: np.ndarray,
    ctype: np.ndarray,
    n: np.ndarray,
    female: np.ndarray,
    age: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Offence code index of a charge for each row, from the seriousness model.

    The group probabilities come from a table over seriousness (rounded to
    0.01), youth (rounded to 0.05) and sex, which is the model's definition
    (and six times faster than evaluating the logit for every charge).
    """
    youth = np.clip((25.0 - age) / 10.0, 0.0, 1.0)
    si = np.clip(np.rint((seriousness(sigma0, v_mem, ctype, n) - SIGMA_GRID_MIN) / SIGMA_GRID_STEP), 0, SIGMA_GRID_SIZE - 1)
    row = (si.astype(np.int64) * (YOUTH_GRID_STEPS + 1) + np.rint(youth * YOUTH_GRID_STEPS).astype(np.int64)) * 2 + female
    out = np.empty(len(row), dtype=np.int64)
    for lo in range(0, len(row), DRAW_BLOCK):
        r = row[lo : lo + DRAW_BLOCK]
        u = rng.random(len(r)).astype(np.float32)
        group = np.argmax(model.group_cum[r] >= u[:, None], axis=1)
        u2 = rng.random(len(r))
        within = np.argmax(model.code_cum[group] >= u2[:, None], axis=1)
        out[lo : lo + DRAW_BLOCK] = model.code_table[group, within]
    return out


def simulate(
    st: CareerState,
    model: OffenceModel,
    rng: np.random.Generator,
    on_charges=None,
    progress=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run every unit from ``st.t`` to ``st.t_end`` by thinning; return charges ``(uid, t, code)``.

    Updates ``st`` in place. ``on_charges(uid, t, code)`` may return a
    boolean mask of the charged units that should stop now (the IOM truth
    stops a draw once it has crossed the high harm threshold).

    Thinning: over the next year the age effect takes at most two values, so
    the hazard at the current state with the larger of them bounds the
    hazard until the next charge or a year ahead. Propose an exponential
    waiting time at that bound; past the year (or the end) move there with
    no charge; otherwise accept with probability ``h(new time) / bound``.
    """
    out_uid, out_t, out_code = [], [], []
    act = np.flatnonzero(st.t < st.t_end)
    total = len(act)
    exp_theta_all = np.exp(st.theta)
    top = len(_AGE_TABLE) - 1
    while len(act):
        t = st.t[act]
        birth = st.birth[act]
        age_now = np.minimum(((t - birth) / DAYS_PER_YEAR).astype(np.int64), top - 1)
        exp_theta = exp_theta_all[act]
        ctype, n, onset = st.ctype[act], st.n[act], st.onset[act]
        s_short, s_long = st.s_short[act], st.s_long[act]
        career = _momentum_factor(ctype, n, onset, t)
        bound = hazard(
            np.maximum(_EXP_A[age_now], _EXP_A[age_now + 1]), np.maximum(_EXP_HALF_A[age_now], _EXP_HALF_A[age_now + 1]),
            exp_theta, s_short, s_long, career,
        )
        with np.errstate(divide="ignore"):
            wait = rng.exponential(size=len(act)) / bound
        t_end = st.t_end[act]
        horizon = np.minimum(t + DAYS_PER_YEAR, t_end)
        new_t = t + wait
        jump = new_t >= horizon
        np.copyto(new_t, horizon, where=jump)
        dt = new_t - t
        s_short *= np.exp(-dt / TAU_SHORT)
        s_long *= np.exp(-dt / TAU_LONG)

        c = np.flatnonzero(~jump)
        age_c = np.minimum(((new_t[c] - birth[c]) / DAYS_PER_YEAR).astype(np.int64), top)
        h = hazard(_EXP_A[age_c], _EXP_HALF_A[age_c], exp_theta[c], s_short[c], s_long[c],
                   _momentum_factor(ctype[c], n[c], onset[c], new_t[c]))
        acc = c[rng.random(len(c)) * bound[c] < h]

        done = jump & (new_t >= t_end)
        # the violence memory is only needed at charges: decay it lazily
        if len(acc):
            ia = act[acc]
            v_mem = st.v_mem[ia] * np.exp(-(new_t[acc] - st.v_time[ia]) / TAU_VIOLENCE)
            code = draw_offences(
                model, st.sigma0[ia], v_mem, ctype[acc], n[acc], st.female[ia], (new_t[acc] - birth[acc]) / DAYS_PER_YEAR, rng,
            )
            st.onset[ia] = np.where(np.isnan(onset[acc]), new_t[acc], onset[acc])
            st.n[ia] = n[acc] + 1
            s_short[acc] += KAPPA_SHORT * model.excite[code]
            s_long[acc] += KAPPA_LONG
            st.v_mem[ia] = v_mem + model.violent[code]
            st.v_time[ia] = new_t[acc]
            uid = st.uid[ia]
            out_uid.append(uid)
            out_t.append(new_t[acc])
            out_code.append(code)
            if on_charges is not None:
                stop = on_charges(uid, new_t[acc], code)
                if stop is not None:
                    done[acc[stop]] = True
        st.t[act] = new_t
        st.s_short[act] = s_short
        st.s_long[act] = s_long
        act = act[~done]
        if progress is not None:
            progress(total - len(act), total)
    if not out_uid:
        return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
    return np.concatenate(out_uid), np.concatenate(out_t), np.concatenate(out_code)


def state_at(
    day: float,
    charge_uid: np.ndarray,
    charge_t: np.ndarray,
    charge_code: np.ndarray,
    units: np.ndarray,
    model: OffenceModel,
) -> dict[str, np.ndarray]:
    """The career state of ``units`` at ``day`` from their charges before it (exact replay).

    Returns arrays aligned with ``units``: ``n``, ``onset``, ``s_short``,
    ``s_long``, ``v_mem``. The charges must include every charge of these
    units since the start of the simulation.
    """
    order = np.argsort(units, kind="stable")
    su = units[order]
    before = charge_t < day
    cu, ct, cc = charge_uid[before], charge_t[before], charge_code[before]
    loc = np.searchsorted(su, cu)
    loc_ok = (loc < len(su)) & (su[np.minimum(loc, len(su) - 1)] == cu)
    idx = order[loc[loc_ok]]
    ct, cc = ct[loc_ok], cc[loc_ok]
    m = len(units)
    age = day - ct
    n = np.bincount(idx, minlength=m).astype(np.int32)
    onset = np.full(m, np.inf)
    np.minimum.at(onset, idx, ct)
    onset[np.isinf(onset)] = np.nan
    return {
        "n": n,
        "onset": onset,
        "s_short": np.bincount(idx, weights=KAPPA_SHORT * model.excite[cc] * np.exp(-age / TAU_SHORT), minlength=m),
        "s_long": np.bincount(idx, weights=KAPPA_LONG * np.exp(-age / TAU_LONG), minlength=m),
        "v_mem": np.bincount(idx, weights=model.violent[cc] * np.exp(-age / TAU_VIOLENCE), minlength=m),
    }
