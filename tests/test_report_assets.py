"""The report assets materialised in-process on a hand-made warehouse file."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import DagsterInstance, materialize

from tests.report_data import FORECAST, build_report_db
from wmp_pipeline.defs.partitions import partition_for_forecast_date
from wmp_pipeline.defs.reports.assets import assets, dbt_docs, transparency_record, weekly_briefing
from wmp_pipeline.defs.resources import build_resources
from wmp_pipeline.settings import get_settings


def _settings(root: Path):
    import dataclasses

    base = get_settings()
    return dataclasses.replace(
        base, data_dir=root, duckdb_path=root / "warehouse" / "wmp.duckdb", artifacts_dir=root / "artifacts",
        analyst_db_path=root / "analyst" / "wmp_analyst.duckdb", boundary_file=None,
    )


def test_assets_are_exported_with_group_and_partitions():
    assert {a.key.to_user_string() for a in assets} == {"weekly_briefing", "transparency_record", "dbt_docs"}
    for a in assets:
        assert a.group_names_by_key[a.key] == "reports"
    assert weekly_briefing.partitions_def is not None and transparency_record.partitions_def is not None


def test_briefing_and_record_materialise_for_a_partition(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    monkeypatch.setenv("WMP_DUCKDB_PATH", str(settings.duckdb_path))
    settings.duckdb_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        build_report_db(con)
    result = materialize(
        [weekly_briefing, transparency_record],
        partition_key=partition_for_forecast_date(FORECAST),
        resources=build_resources(settings),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    briefing = settings.artifacts_dir / "briefings" / f"briefing_{FORECAST.isoformat()}.html"
    assert briefing.exists() and "Knife crime used causing injury" in briefing.read_text()
    assert (settings.artifacts_dir / "transparency" / f"transparency_record_{FORECAST.isoformat()}.md").exists()
    meta = result.asset_materializations_for_node("weekly_briefing")[0].metadata
    assert meta["images"].value == 7
    assert "OFF-" not in str({k: v.value for k, v in meta.items() if k != "preview"})
    record_meta = result.asset_materializations_for_node("transparency_record")[0].metadata
    assert record_meta["tools"].value == 3 and record_meta["fairness_groups_flagged"].value == 0


def test_dbt_docs_site_is_generated(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    monkeypatch.setenv("WMP_DUCKDB_PATH", str(settings.duckdb_path))
    result = materialize([dbt_docs], resources=build_resources(settings), instance=DagsterInstance.ephemeral())
    assert result.success
    site = settings.artifacts_dir / "dbt_docs"
    page = (site / "static_index.html").read_text()
    assert "int_crimes__classified" in page and "stg_connect__crimes" in page
    assert {p.name for p in site.iterdir()} >= {"index.html", "static_index.html", "manifest.json", "catalog.json"}
