"""The report assets materialised in-process on a hand-made warehouse file."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import DagsterInstance, materialize

from tests.report_data import FORECAST, build_report_db
from wmp_pipeline.defs.partitions import default_force_week, partition_for_forecast_date
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
        partition_key=default_force_week(partition_for_forecast_date(FORECAST)),
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
    result = materialize([dbt_docs], resources=build_resources(settings), instance=DagsterInstance.ephemeral(), partition_key=default_force_week(partition_for_forecast_date(FORECAST)))
    assert result.success
    site = settings.artifacts_dir / "dbt_docs"
    page = (site / "static_index.html").read_text()
    assert "int_crimes__classified" in page and "stg_connect__crimes" in page
    assert {p.name for p in site.iterdir()} >= {"index.html", "static_index.html", "manifest.json", "catalog.json"}


def test_dbt_docs_are_regenerated_only_when_what_they_show_changed(tmp_path, monkeypatch):
    from wmp_pipeline.defs.reports import assets as report_assets
    from wmp_pipeline.reports.dbt_docs import DbtDocs

    settings = _settings(tmp_path)
    monkeypatch.setenv("WMP_DUCKDB_PATH", str(settings.duckdb_path))
    settings.duckdb_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("create table int_crimes__classified as select 'C1' as crime_id")

    calls = []

    def fake_generate(duckdb_path, out_dir, log=None):
        calls.append(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "static_index.html").write_text("<html>docs</html>")
        return DbtDocs(directory=out_dir, files=("static_index.html",), nodes=3, catalog_tables=2, seconds=0.1)

    monkeypatch.setattr(report_assets, "generate_dbt_docs", fake_generate)

    def run(config=None):
        result = materialize(
            [dbt_docs], resources=build_resources(settings), instance=DagsterInstance.ephemeral(),
            partition_key=default_force_week(partition_for_forecast_date(FORECAST)),
            run_config={"ops": {"dbt_docs": {"config": config or {}}}},
        )
        assert result.success
        return {k: v.value for k, v in result.asset_materializations_for_node("dbt_docs")[0].metadata.items()}

    first = run()
    assert first["regenerated"] is True and len(calls) == 1
    # new rows only: the site would be the same, so it is not regenerated
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("insert into int_crimes__classified values ('C2')")
    second = run()
    assert second["regenerated"] is False and len(calls) == 1
    assert second["nodes"] == 3 and "unchanged" in second["why"]
    # a documented table gains a column: regenerated
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("alter table int_crimes__classified add column offence_code varchar")
    assert run()["regenerated"] is True and len(calls) == 2
    # a table dbt does not document changes nothing; force regenerates anyway
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("create table hotspot_scratch as select 1 as x")
    assert run()["regenerated"] is False and len(calls) == 2
    assert run({"force": True})["regenerated"] is True and len(calls) == 3
