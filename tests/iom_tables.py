"""Hand-made IOM input tables (the dbt models' shapes) in an in-memory DuckDB.

``int_charges__harm`` and ``stg_connect__persons`` are written from small
lists; ``iom_offender_week`` is derived with the pure Python reference
(:func:`wmp_pipeline.harm.person_week_scores`), so the snapshot SQL is
tested against the definitions, not against itself.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from wmp_pipeline.harm import bands_for_scores, mondays, person_week_scores
from wmp_pipeline.harm.score import load_harm_weights
from wmp_pipeline.settings import REFERENCE_OFFENCE_CODES

_GROUPS = pd.read_csv(REFERENCE_OFFENCE_CODES, dtype=str).set_index("offence_code")
_WEIGHTS = load_harm_weights(REFERENCE_OFFENCE_CODES)
VIOLENT_GROUPS = {"homicide", "violence_with_injury", "violence_without_injury", "robbery"}


def charge(person_id: str, charge_date: date, offence_code: str, crime_id: str | None = None, knife: bool = False) -> dict:
    known = offence_code in _WEIGHTS
    group = _GROUPS.loc[offence_code, "offence_group"] if known else "unknown"
    return {
        "charge_id": f"{person_id}-{charge_date}-{offence_code}-{crime_id}",
        "person_id": person_id,
        "crime_id": crime_id,
        "charge_date": charge_date,
        "offence_code": offence_code,
        "is_known_offence_code": known,
        "offence_group": group,
        "harm_weight_days": int(_WEIGHTS.get(offence_code, 0)),
        "is_violent": group in VIOLENT_GROUPS,
        "is_weapon": group == "possession_of_weapons" or knife,
        "is_knife": knife,
        "is_serious_violence": known and _GROUPS.loc[offence_code, "is_serious_violence"] == "true",
    }


def person(person_id: str, date_of_birth: date | None = date(2000, 1, 1), sex: str = "M", ethnicity: str | None = "W1") -> dict:
    return {"person_id": person_id, "date_of_birth": date_of_birth, "sex": sex, "self_defined_ethnicity": ethnicity}


def _age(dob, week: date):
    if dob is None or pd.isna(dob):
        return None
    return week.year - dob.year - ((week.month, week.day) < (dob.month, dob.day))


def offender_week(charges: pd.DataFrame, persons: pd.DataFrame, last_week: date) -> pd.DataFrame:
    """``iom_offender_week`` from the Python reference definitions."""
    weeks = mondays(min(charges["charge_date"]), last_week)
    table = person_week_scores(charges[["person_id", "charge_date", "harm_weight_days"]], weeks)
    table["band"] = bands_for_scores(table["harm_score"])
    last = []
    for row in table.itertuples():
        prior = charges[(charges["person_id"] == row.person_id) & (charges["charge_date"] < row.week)]["charge_date"]
        last.append((row.week - max(prior)).days)
    table["days_since_last_charge"] = last
    dob = persons.set_index("person_id")["date_of_birth"].to_dict()
    table["age_at_week"] = [_age(dob.get(p), w) for p, w in zip(table["person_id"], table["week"])]
    return table


def make_connection(charges: list[dict], persons: list[dict], last_week: date) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ch = pd.DataFrame(charges)
    pe = pd.DataFrame(persons)
    ow = offender_week(ch, pe, last_week)
    con.register("_ch", ch)
    con.register("_pe", pe)
    con.register("_ow", ow)
    con.execute(
        "create table int_charges__harm as select charge_id, person_id, crime_id, cast(charge_date as date) as charge_date, "
        "offence_code, is_known_offence_code, offence_group, cast(harm_weight_days as integer) as harm_weight_days, "
        "is_violent, is_weapon, is_knife, is_serious_violence from _ch"
    )
    con.execute(
        "create table stg_connect__persons as select person_id, cast(date_of_birth as date) as date_of_birth, sex, "
        "self_defined_ethnicity from _pe"
    )
    con.execute(
        "create table iom_offender_week as select person_id, cast(week as date) as week, cast(harm_score as double) as harm_score, "
        "band, is_eligible, cast(days_since_last_charge as integer) as days_since_last_charge, "
        "cast(age_at_week as integer) as age_at_week from _ow"
    )
    for name in ("_ch", "_pe", "_ow"):
        con.unregister(name)
    return con


