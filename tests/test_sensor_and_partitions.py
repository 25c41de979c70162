from __future__ import annotations

from datetime import date

import pytest

from tests.drop_factory import base_drop
from wmp_pipeline.defs.partitions import forecast_date_for_partition, partition_for_forecast_date
from wmp_pipeline.defs.sensors import new_complete_drops, partition_for_drop


def test_partition_and_forecast_date_are_inverse():
    assert forecast_date_for_partition("2026-11-16") == date(2026, 11, 23)
    assert partition_for_forecast_date(date(2026, 11, 23)) == "2026-11-16"
    with pytest.raises(ValueError):
        partition_for_forecast_date(date(2026, 11, 24))


def test_a_drop_completes_the_week_before_its_monday():
    assert partition_for_drop("2026-11-23") == "2026-11-16"
    assert partition_for_drop("2026-11-25") == "2026-11-16"  # a mid-week drop belongs to the same run


def test_sensor_sees_only_new_drops_with_a_manifest(tmp_path):
    connect = tmp_path / "connect"
    base_drop(connect, "2026-11-16")
    base_drop(connect, "2026-11-23")
    (connect / "2026-11-30").mkdir()  # still landing: no manifest yet
    assert new_complete_drops(connect, None) == ["2026-11-16", "2026-11-23"]
    assert new_complete_drops(connect, "2026-11-16") == ["2026-11-23"]
    assert new_complete_drops(connect, "2026-11-23") == []


def test_sensor_uses_the_configured_future_tolerance(tmp_path):
    from datetime import timedelta

    connect = tmp_path / "connect"
    soon = date.today() + timedelta(days=3)
    base_drop(connect, soon.isoformat())
    assert new_complete_drops(connect, None, future_tolerance_days=1) == []  # refused by ingest: never the newest drop
    assert new_complete_drops(connect, None, future_tolerance_days=7) == [soon.isoformat()]
