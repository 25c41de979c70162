"""police.uk as engine events: model calendar over missing months, force area, signals."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from wmp_pipeline.policeuk.events import (
    create_events_view,
    home_local_authorities,
    missing_months,
    month_calendar,
)


def test_month_calendar_closes_gaps_and_keeps_recent_months_on_their_dates():
    months = [date(2019, 5, 1), date(2019, 6, 1), date(2019, 8, 1), date(2019, 9, 1)]
    cal = month_calendar(months)
    assert cal["model_month"].tolist() == [date(2019, 6, 1), date(2019, 7, 1), date(2019, 8, 1), date(2019, 9, 1)]
    assert cal["gaps_after"].tolist() == [1, 1, 0, 0]
    assert missing_months(months) == [date(2019, 7, 1)]
    assert missing_months(months[2:]) == []
    # no gap: identity
    cal = month_calendar([date(2020, 12, 1), date(2021, 1, 1)])
    assert (cal["month"] == cal["model_month"]).all()


def test_home_local_authorities_leave_out_stray_neighbours():
    counts = pd.DataFrame({"local_authority": ["Sheffield", "Barnsley", "East Riding of Yorkshire", None], "n": [60_000, 39_990, 10, 5]})
    assert home_local_authorities(counts) == ["Barnsley", "Sheffield"]
    assert home_local_authorities(counts, min_share=0.00001) == ["Barnsley", "East Riding of Yorkshire", "Sheffield"]


def _staging(con: duckdb.DuckDBPyConnection) -> str:
    rows = [
        # key, month, crime_type, easting, northing, local_authority
        ("k1", "2019-06-01", "Violence and sexual offences", 435_000.0, 387_000.0, "Sheffield"),
        ("k2", "2019-08-01", "Robbery", 435_100.0, 387_100.0, "Sheffield"),
        ("k3", "2019-08-01", "Possession of weapons", None, None, None),
        ("k4", "2019-08-01", "Anti-social behaviour", 436_000.0, 388_000.0, "Sheffield"),
        ("k5", "2019-08-01", "Robbery", 500_000.0, 430_000.0, "East Riding of Yorkshire"),
    ] + [(f"f{i}", "2019-08-01", "Burglary", 435_000.0, 387_000.0, "Sheffield") for i in range(3000)]
    frame = pd.DataFrame(rows, columns=["street_crime_key", "month", "crime_type", "easting", "northing", "local_authority"])
    frame["month"] = pd.to_datetime(frame["month"])
    frame["has_location"] = frame["easting"].notna()
    frame["force_slug"] = "test"
    frame["force_name"] = "Test Police"
    frame["lsoa_code"] = "E01000001"
    con.register("_stg_df", frame)
    con.execute("CREATE TABLE stg AS SELECT * REPLACE (CAST(month AS DATE) AS month) FROM _stg_df")
    return "stg"


def test_events_view_maps_months_types_and_area():
    con = duckdb.connect()
    info = create_events_view(con, "test", source=_staging(con), name="ev")
    ev = con.execute("SELECT * FROM ev ORDER BY event_id").df().set_index("event_id")
    assert info["missing_months"] == [date(2019, 7, 1)]
    assert info["home_local_authorities"] == ["Sheffield"]
    assert info["records_outside_force_area"] == 1 and "k5" not in ev.index
    assert info["records_without_location"] == 1 and "k3" in ev.index  # kept, the engine counts it
    # June 2019 sits right before August on the model calendar; August keeps its date
    assert pd.Timestamp(ev.loc["k1", "event_time"]).date() == date(2019, 7, 1)
    assert pd.Timestamp(ev.loc["k1", "real_month"]).date() == date(2019, 6, 1)
    assert pd.Timestamp(ev.loc["k2", "event_time"]).date() == date(2019, 8, 1)
    assert pd.Timestamp(ev.loc["k2", "known_time"]).date() == date(2019, 8, 31)
    assert ev.loc["k1", "violence_and_sexual_offences"] and ev.loc["k1", "serious_violence_proxy"]
    assert ev.loc["k2", "robbery"] and ev.loc["k2", "serious_violence_proxy"] and not ev.loc["k2", "violence_and_sexual_offences"]
    assert ev.loc["k3", "possession_of_weapons"] and not ev.loc["k3", "serious_violence_proxy"]
    assert ev.loc["k4", "anti_social_behaviour"] and not ev.loc["k4", "robbery"]
