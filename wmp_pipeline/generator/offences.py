"""The offence side of the synthetic force: what is recorded, how often, and how.

``CRIME_MIX`` is the yearly number of recorded crimes of each Home Office
offence code for a force recording 300,000 crimes a year, rounded from the
shape of West Midlands Police's police recorded crime (ONS *Crime in England
and Wales*, police force area tables): violence against the person about 45%,
theft and vehicle offences about 30%, criminal damage and public order about
18%, robbery about 4%, drugs and weapons about 4%. Presets scale it linearly.

Every crime belongs to one *process category*. The categories are the streams
of the space-time crime process (``crime_process.py``); the four violent ones
excite each other (near repeats):

===========  =================================================================
``knife``    knife or sharp instrument used causing injury (the contract's
             rule): homicide, attempted murder, GBH, ABH, robbery
``sv``       serious violence without a knife injury (homicide, attempted
             murder, GBH s.18/s.20, robbery)
``vwi``      other violence with injury (ABH)
``weapons``  possession of weapons
``lead``     other related, leading crimes (threats to kill, common assault,
             assault on an emergency worker, theft from the person, drug
             trafficking)
``other``    everything else (property, public order, domestic abuse,
             sexual offences, drug possession)
===========  =================================================================

The targets are therefore exact functions of the categories: a ``knife``
event is always a knife crime used causing injury and no other event ever is;
a serious-violence event is an ``sv`` event or a ``knife`` event recorded
under a serious-violence code.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from wmp_pipeline.contract import (
    INJURY_LEVEL_VALUES,
    WEAPON_TYPE_VALUES,
    is_knife_crime_used_causing_injury,
)
from wmp_pipeline.settings import REFERENCE_OFFENCE_CODES

CATEGORIES: tuple[str, ...] = ("knife", "sv", "vwi", "weapons", "lead", "other")
#: categories whose events raise the near-future intensity nearby
EXCITING: tuple[str, ...] = ("knife", "sv", "vwi", "weapons")
CAT = {name: i for i, name in enumerate(CATEGORIES)}

#: (offence code, category, recorded crimes a year per 300,000 crimes)
CRIME_MIX: tuple[tuple[str, str, float], ...] = (
    # knife or sharp instrument used causing injury: about 1,500 a year
    ("1", "knife", 16), ("4.1", "knife", 30), ("5A", "knife", 480), ("5D", "knife", 300),
    ("8N", "knife", 410), ("8P", "knife", 4), ("34A", "knife", 20), ("34B", "knife", 240),
    # other serious violence: with the knife ones, about 15,100 a year
    ("1", "sv", 24), ("4.1", "sv", 30), ("5A", "sv", 920), ("5D", "sv", 2_100),
    ("34A", "sv", 680), ("34B", "sv", 10_260),
    # other violence with injury
    ("8N", "vwi", 21_600), ("8P", "vwi", 600),
    # possession of weapons
    ("10A", "weapons", 300), ("10C", "weapons", 1_400), ("10D", "weapons", 2_400),
    # related, leading crimes
    ("4.2", "lead", 4_000), ("105A", "lead", 45_000), ("104", "lead", 3_600),
    ("39", "lead", 3_500), ("92A", "lead", 1_400),
    # everything else
    ("4.4", "other", 20), ("8L", "other", 26_000), ("8Q", "other", 9_000), ("8R", "other", 6_500),
    ("11A", "other", 1_500), ("36", "other", 600),
    ("19C", "other", 2_600), ("20A", "other", 2_900), ("17A", "other", 500),
    ("28E", "other", 11_500), ("30C", "other", 4_000),
    ("37.2", "other", 400), ("45", "other", 12_000), ("48", "other", 8_500),
    ("44", "other", 500), ("46", "other", 18_500), ("49", "other", 35_066),
    ("56A", "other", 300), ("56B", "other", 2_000), ("58A", "other", 9_000), ("58C", "other", 12_000),
    ("92D", "other", 1_500), ("92E", "other", 6_000),
    ("9A", "other", 22_000), ("9B", "other", 1_800), ("66", "other", 6_000),
)
MIX_TOTAL = 300_000.0

#: Codes the generator uses deliberately although the reference does not know them.
UNKNOWN_CODES: tuple[str, ...] = ("ZZ9", "X99")

#: final code -> the code a crime was sometimes first recorded under (and later reclassified from)
RECLASSIFIED_FROM: dict[str, str] = {
    "1": "4.1",     # victim died: attempted murder becomes murder
    "4.1": "5A",
    "5A": "5D",     # injury reassessed upwards
    "5D": "8N",
    "8N": "105A",
    "8P": "8N",
    "105A": "8N",   # injury reassessed downwards
    "34B": "39",    # force used: theft from the person becomes robbery
    "39": "34B",
    "10D": "10C",
    "28E": "30C",
    "58A": "58C",
    "9A": "105A",
    "46": "49",
    "8L": "9A",
    "92D": "92E",
}

#: charge code -> the code of the crime it is sometimes charged for (a lesser or related charge)
CHARGED_FOR_OTHER_CODE: dict[str, str] = {
    "8N": "5D", "5D": "5A", "105A": "8N", "9A": "105A", "39": "34B",
    "10C": "10D", "49": "46", "58C": "58A",
}

#: Hour-of-week rhythm family of each code (see ``rhythms.py``)
RHYTHM_FAMILY: dict[str, str] = {
    **{c: "night_violence" for c in ("1", "4.1", "5A", "5D", "8N", "8P", "105A", "104", "4.2", "9A", "9B", "10A", "10C", "10D", "66")},
    **{c: "street" for c in ("34A", "34B", "39", "92A", "92D", "92E")},
    **{c: "property" for c in ("28E", "30C", "37.2", "45", "48", "56A", "56B", "58A", "58C", "4.4")},
    **{c: "retail" for c in ("46", "44", "49")},
    **{c: "domestic" for c in ("8L", "8Q", "8R", "11A", "36", "19C", "20A", "17A")},
}

#: probability that a crime of this code is recorded weeks after it happened
LATE_RECORDING: dict[str, float] = {
    "19C": 0.30, "20A": 0.20, "17A": 0.20, "8R": 0.20, "8Q": 0.12, "11A": 0.15, "8L": 0.06,
}
LATE_RECORDING_DEFAULT = 0.02

#: codes whose committed_to is a course of conduct (days to months), not minutes
COURSE_OF_CONDUCT = ("8R", "8Q", "8L", "11A")
#: codes whose time is a window (found later: burglary, vehicle crime, damage)
TIME_WINDOW = ("28E", "30C", "45", "48", "37.2", "58A", "58C", "56B", "49")

# --- weapon and injury fields -------------------------------------------------
# Each profile is a list of ((weapon_type, weapon_used, injury_level), probability).

_KNIFE = "knife_or_sharp_instrument"


def _knife_injury(serious: float, fatal: float = 0.0) -> list:
    minor = 1.0 - serious - fatal
    out = [((_KNIFE, "Y", "minor"), minor), ((_KNIFE, "Y", "serious"), serious)]
    if fatal:
        out.append(((_KNIFE, "Y", "fatal"), fatal))
    return [x for x in out if x[1] > 0]


_ASSAULT_WEAPONS = [
    (("none", "N", "serious"), 0.30), (("none", "N", "minor"), 0.18),
    (("blunt_instrument", "Y", "serious"), 0.12), (("blunt_instrument", "Y", "minor"), 0.06),
    (("other", "Y", "serious"), 0.08), (("other", "Y", "minor"), 0.06),
    (("unknown", "N", "serious"), 0.08), (("unknown", "N", "minor"), 0.07),
    (("firearm", "Y", "serious"), 0.02), (("none", "N", "unknown"), 0.03),
]
_ROBBERY = [
    (("none", "N", "none"), 0.56), (("none", "N", "minor"), 0.10), (("none", "N", "unknown"), 0.02),
    ((_KNIFE, "N", "none"), 0.13), ((_KNIFE, "N", "minor"), 0.01), ((_KNIFE, "Y", "none"), 0.02),
    (("firearm", "N", "none"), 0.02), (("blunt_instrument", "N", "none"), 0.03),
    (("blunt_instrument", "Y", "minor"), 0.02), (("other", "N", "none"), 0.04),
    (("unknown", "N", "none"), 0.05),
]
_PLAIN = [(("none", "N", "none"), 0.97), (("unknown", "N", "none"), 0.02), (("none", "N", "unknown"), 0.01)]

WEAPON_PROFILES: dict[tuple[str, str], list] = {
    ("knife", "1"): _knife_injury(0.0, 1.0),
    ("knife", "4.1"): _knife_injury(0.85),
    ("knife", "5A"): _knife_injury(0.70),
    ("knife", "5D"): _knife_injury(0.35),
    ("knife", "8N"): _knife_injury(0.0),
    ("knife", "8P"): _knife_injury(0.0),
    ("knife", "34A"): _knife_injury(0.15),
    ("knife", "34B"): _knife_injury(0.15),
    ("sv", "1"): [(("none", "N", "fatal"), 0.40), (("firearm", "Y", "fatal"), 0.12),
                  (("blunt_instrument", "Y", "fatal"), 0.22), (("other", "Y", "fatal"), 0.18),
                  (("unknown", "N", "fatal"), 0.08)],
    ("sv", "4.1"): [(("firearm", "Y", "serious"), 0.15), (("blunt_instrument", "Y", "serious"), 0.20),
                    (("other", "Y", "serious"), 0.20), (("none", "N", "serious"), 0.25),
                    (("none", "N", "minor"), 0.10), (("unknown", "N", "serious"), 0.10)],
    ("sv", "5A"): _ASSAULT_WEAPONS,
    ("sv", "5D"): _ASSAULT_WEAPONS,
    ("sv", "34A"): _ROBBERY,
    ("sv", "34B"): _ROBBERY,
    ("vwi", "8N"): [(("none", "N", "minor"), 0.70), (("none", "N", "unknown"), 0.03),
                    (("blunt_instrument", "Y", "minor"), 0.08), (("other", "Y", "minor"), 0.09),
                    (("unknown", "N", "minor"), 0.08), ((_KNIFE, "N", "minor"), 0.02)],
    ("vwi", "8P"): [(("none", "N", "minor"), 0.85), (("other", "Y", "minor"), 0.10), (("unknown", "N", "minor"), 0.05)],
    ("weapons", "10A"): [(("firearm", "N", "none"), 1.0)],
    ("weapons", "10C"): [(("other", "N", "none"), 0.55), (("blunt_instrument", "N", "none"), 0.45)],
    ("weapons", "10D"): [((_KNIFE, "N", "none"), 1.0)],
    ("lead", "4.2"): [(("none", "N", "none"), 0.80), ((_KNIFE, "N", "none"), 0.15), (("firearm", "N", "none"), 0.05)],
    ("lead", "105A"): [(("none", "N", "none"), 0.94), (("other", "Y", "none"), 0.03), (("unknown", "N", "none"), 0.03)],
    ("lead", "104"): [(("none", "N", "none"), 0.95), (("other", "Y", "none"), 0.05)],
    ("lead", "92A"): [(("none", "N", "none"), 0.95), ((_KNIFE, "N", "none"), 0.05)],
    ("other", "4.4"): [(("other", "Y", "fatal"), 1.0)],
    ("other", "11A"): [(("none", "N", "minor"), 0.45), (("none", "N", "none"), 0.45), (("none", "N", "unknown"), 0.10)],
    ("other", "36"): [(("none", "N", "none"), 0.88), ((_KNIFE, "N", "none"), 0.06), (("unknown", "N", "unknown"), 0.06)],
    ("other", "56A"): [(("other", "Y", "none"), 0.88), (("other", "Y", "minor"), 0.12)],
    ("other", "56B"): [(("other", "Y", "none"), 1.0)],
    ("other", "19C"): [(("none", "N", "unknown"), 0.55), (("none", "N", "none"), 0.40), (("unknown", "N", "unknown"), 0.05)],
    ("other", "20A"): [(("none", "N", "none"), 0.80), (("none", "N", "unknown"), 0.20)],
    ("other", "17A"): [(("none", "N", "none"), 0.80), (("none", "N", "unknown"), 0.20)],
}


def weapon_profile(category: str, code: str) -> list:
    return WEAPON_PROFILES.get((category, code), _PLAIN)


@dataclass(frozen=True)
class OffenceReference:
    """The parts of the pipeline's offence reference seed the generator uses."""

    codes: tuple[str, ...]
    description: dict[str, str]
    group: dict[str, str]
    harm_weight_days: dict[str, float]
    is_serious_violence: dict[str, bool]


@lru_cache(maxsize=4)
def load_reference(path: Path | str = REFERENCE_OFFENCE_CODES) -> OffenceReference:
    """Read the reference seed; harm weights and the serious-violence flag come from it.

    The generator reads the seed rather than copying it so that the IOM ground
    truth uses exactly the harm weights the pipeline uses.
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    ref = OffenceReference(
        codes=tuple(r["offence_code"].strip() for r in rows),
        description={r["offence_code"].strip(): r["offence_description"] for r in rows},
        group={r["offence_code"].strip(): r["offence_group"] for r in rows},
        harm_weight_days={r["offence_code"].strip(): float(r["harm_weight_days"]) for r in rows},
        is_serious_violence={r["offence_code"].strip(): r["is_serious_violence"].strip().lower() == "true" for r in rows},
    )
    missing = sorted({code for code, _, _ in CRIME_MIX} - set(ref.codes))
    if missing:
        raise ValueError(f"offence reference {path} lacks code(s) the generator records: {', '.join(missing)}")
    clash = sorted(set(UNKNOWN_CODES) & set(ref.codes))
    if clash:
        raise ValueError(f"codes meant to be unknown are in the reference: {', '.join(clash)}")
    return ref


@dataclass(frozen=True)
class CrimeMix:
    """``CRIME_MIX`` as arrays, scaled to a preset's crimes a year."""

    codes: np.ndarray          # (n_rows,) offence code of each mix row
    category: np.ndarray       # (n_rows,) category index
    per_year: np.ndarray       # (n_rows,) crimes a year

    def category_totals(self) -> np.ndarray:
        return np.bincount(self.category, weights=self.per_year, minlength=len(CATEGORIES))

    def code_probabilities(self, category: int) -> tuple[np.ndarray, np.ndarray]:
        """Codes of one category and their probabilities within it."""
        sel = self.category == category
        p = self.per_year[sel]
        return self.codes[sel], p / p.sum()

    def serious_violence_share(self, category: int, ref: OffenceReference) -> float:
        """Share of a category's events recorded under a serious-violence code."""
        codes, p = self.code_probabilities(category)
        return float(sum(pi for c, pi in zip(codes, p) if ref.is_serious_violence[c]))


def crime_mix(crimes_per_year: float) -> CrimeMix:
    scale = crimes_per_year / MIX_TOTAL
    return CrimeMix(
        codes=np.array([c for c, _, _ in CRIME_MIX], dtype=object),
        category=np.array([CAT[k] for _, k, _ in CRIME_MIX], dtype=np.int64),
        per_year=np.array([n for _, _, n in CRIME_MIX], dtype=float) * scale,
    )


def check_weapon_profiles() -> None:
    """Only ``knife`` events may satisfy the knife-injury rule, and they always do."""
    for (cat, code), prof in WEAPON_PROFILES.items():
        total = sum(p for _, p in prof)
        if abs(total - 1.0) > 1e-9:
            raise AssertionError(f"weapon profile {cat}/{code} sums to {total}")
        for (wt, wu, inj), _ in prof:
            if wt not in WEAPON_TYPE_VALUES or inj not in INJURY_LEVEL_VALUES or wu not in ("Y", "N"):
                raise AssertionError(f"weapon profile {cat}/{code} has a value outside the contract")
            if is_knife_crime_used_causing_injury(wt, wu, inj) != (cat == "knife"):
                raise AssertionError(f"weapon profile {cat}/{code} breaks the knife-injury rule")
