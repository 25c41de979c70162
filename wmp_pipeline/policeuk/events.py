"""police.uk street-level crime as events for the hotspot engine.

The engine (:mod:`wmp_pipeline.hotspot.engine`) wants one row per event with
``event_id, easting, northing, event_time, known_time`` and one boolean
column per signal. From ``stg_policeuk__street_crimes``:

* **signals** are police.uk crime types (police.uk has no weapon or injury
  fields): targets ``violence_and_sexual_offences``, ``robbery``,
  ``possession_of_weapons`` and ``serious_violence_proxy`` (violence and
  sexual offences or robbery, the nearest police.uk has to CONNECT's serious
  violence); related signals from other types (:data:`RELATED`).
* **time** is the month: ``event_time`` = first day of the month,
  ``known_time`` = its last day, so a forecast dated the 1st of a month uses
  every month before it (one-step-ahead; see docs/policeuk.md on the
  publication lag).
* **missing months** (a force's file absent for a month, e.g. South Yorkshire
  July 2019) are closed up: the engine counts windows in periods, and an
  absent month would read as a month without crime, pulling every window
  that spans it down and teaching the model a month of zeros. The months the
  data has are laid on a gap-free *model calendar* that ends at the real last
  month (:func:`month_calendar`); months after the last gap keep their dates,
  earlier months move forward by the number of gaps after them. Windows are
  then "the last W published months". The backtest reports real dates.
* **area**: crimes located in another force's area (police.uk places a
  few of a force's records wherever they happened, e.g. in a neighbouring
  county) are left out: a record belongs to the force's area when its LSOA's
  local authority holds at least :data:`MIN_LOCAL_AUTHORITY_SHARE` of the
  force's located records (:func:`home_local_authorities`). They are counted
  and reported.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

STAGING_MODEL = "stg_policeuk__street_crimes"
EVENTS_VIEW = "policeuk_events"
MONTH_MAP_TABLE = "_policeuk_month_map"

#: engine signal -> the police.uk crime types it counts
TARGETS: dict[str, tuple[str, ...]] = {
    "violence_and_sexual_offences": ("Violence and sexual offences",),
    "robbery": ("Robbery",),
    "possession_of_weapons": ("Possession of weapons",),
    "serious_violence_proxy": ("Violence and sexual offences", "Robbery"),
}
RELATED: dict[str, tuple[str, ...]] = {
    "anti_social_behaviour": ("Anti-social behaviour",),
    "drugs": ("Drugs",),
    "public_order": ("Public order",),
    "criminal_damage_and_arson": ("Criminal damage and arson",),
    "theft_from_the_person": ("Theft from the person",),
    "burglary": ("Burglary",),
    "shoplifting": ("Shoplifting",),
}
SIGNALS: dict[str, tuple[str, ...]] = {**TARGETS, **RELATED}

#: a local authority is the force's own when it holds at least this share of
#: the force's located records (South Yorkshire: four districts with 15-40%
#: each; neighbouring authorities with under 0.02% each)
MIN_LOCAL_AUTHORITY_SHARE = 0.0005


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def signal_sql(signals: dict[str, tuple[str, ...]] = SIGNALS, column: str = "s.crime_type") -> str:
    """``<column> IN (...) AS <signal>`` for each signal."""
    return ",\n       ".join(
        f"coalesce({column} IN ({', '.join(_quote(t) for t in types)}), FALSE) AS {name}" for name, types in signals.items()
    )


def month_calendar(months: list[date]) -> pd.DataFrame:
    """``month, model_month, gaps_after``: the months present, laid on a gap-free calendar.

    Pure. ``model_month`` of the newest month is itself; each earlier month is
    one calendar month before the next present one. ``gaps_after`` is how
    many absent months lie between the month and the newest one.
    """
    present = sorted({pd.Timestamp(m).to_period("M") for m in months})
    if not present:
        return pd.DataFrame({"month": [], "model_month": [], "gaps_after": []})
    last = present[-1]
    n = len(present)
    rows = []
    for i, m in enumerate(present):
        model = last - (n - 1 - i)
        rows.append({"month": m.to_timestamp().date(), "model_month": model.to_timestamp().date(), "gaps_after": (model - m).n})
    return pd.DataFrame(rows)


def missing_months(months: list[date]) -> list[date]:
    """Calendar months between the first and last present month that have no data (pure)."""
    present = sorted({pd.Timestamp(m).to_period("M") for m in months})
    if not present:
        return []
    full = pd.period_range(present[0], present[-1], freq="M")
    return [p.to_timestamp().date() for p in full if p not in set(present)]


def home_local_authorities(counts: pd.DataFrame, min_share: float = MIN_LOCAL_AUTHORITY_SHARE) -> list[str]:
    """Local authorities holding at least ``min_share`` of the located records (pure).

    ``counts``: columns ``local_authority, n``.
    """
    c = counts.dropna(subset=["local_authority"])
    total = c["n"].sum()
    if total <= 0:
        return []
    return sorted(c.loc[c["n"] / total >= min_share, "local_authority"].astype(str))


def force_months(con: duckdb.DuckDBPyConnection, force_slug: str, source: str = STAGING_MODEL) -> pd.DataFrame:
    """``month, n_records, n_located`` of one force, by month."""
    return con.execute(
        f"SELECT month, count(*) AS n_records, count(*) FILTER (WHERE has_location) AS n_located "
        f"FROM {source} WHERE force_slug = ? GROUP BY month ORDER BY month",
        [force_slug],
    ).df()


def create_events_view(
    con: duckdb.DuckDBPyConnection,
    force_slug: str,
    source: str = STAGING_MODEL,
    name: str = EVENTS_VIEW,
    min_share: float = MIN_LOCAL_AUTHORITY_SHARE,
) -> dict:
    """A temporary view ``name`` of the force's events on the model calendar.

    Returns what it did: months present and missing, the home local
    authorities, and the records left out (outside the force's area) or not
    placeable (no location).
    """
    months = force_months(con, force_slug, source)
    if months.empty:
        raise ValueError(f"no police.uk records for force {force_slug!r} in {source}")
    calendar = month_calendar(list(pd.to_datetime(months["month"]).dt.date))
    con.register("_policeuk_calendar", calendar)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {MONTH_MAP_TABLE} AS "
        "SELECT CAST(month AS DATE) AS month, CAST(model_month AS DATE) AS model_month FROM _policeuk_calendar"
    )
    con.unregister("_policeuk_calendar")
    las = con.execute(
        f"SELECT local_authority, count(*) AS n FROM {source} WHERE force_slug = ? AND has_location GROUP BY 1",
        [force_slug],
    ).df()
    home = home_local_authorities(las, min_share)
    home_sql = ", ".join(_quote(a) for a in home) or "NULL"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {name} AS
        SELECT s.street_crime_key AS event_id,
               s.easting, s.northing,
               m.model_month AS event_time,
               last_day(m.model_month) AS known_time,
               s.month AS real_month,
               s.lsoa_code,
               {signal_sql()}
        FROM {source} s JOIN {MONTH_MAP_TABLE} m ON m.month = s.month
        WHERE s.force_slug = {_quote(force_slug)}
          AND (NOT s.has_location OR s.local_authority IN ({home_sql}))
        """
    )
    outside = int(
        con.execute(
            f"SELECT count(*) FROM {source} WHERE force_slug = ? AND has_location "
            f"AND (local_authority IS NULL OR local_authority NOT IN ({home_sql}))",
            [force_slug],
        ).fetchone()[0]
    )
    return {
        "force_slug": force_slug,
        "force_name": con.execute(f"SELECT mode(force_name) FROM {source} WHERE force_slug = ?", [force_slug]).fetchone()[0],
        "first_month": calendar["month"].min(),
        "last_month": calendar["month"].max(),
        "n_months": len(calendar),
        "missing_months": missing_months(list(calendar["month"])),
        "home_local_authorities": home,
        "records": int(months["n_records"].sum()),
        "records_without_location": int((months["n_records"] - months["n_located"]).sum()),
        "records_outside_force_area": outside,
    }
