"""The weekly transparency record: ATRS sections, FOI answers, weekly metadata."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tests.report_data import FORECAST, build_report_db
from wmp_pipeline.reports import tool_facts
from wmp_pipeline.reports.transparency import build_record, registry_entries, render_html, render_markdown, write_record
from wmp_pipeline.settings import get_settings

ATRS_SECTIONS = [
    "Overview",
    "Owner and responsibility",
    "Description and rationale",
    "Decision-making process",
    "Tool specification",
    "Risks, mitigations and impact assessments",
]


@pytest.fixture()
def settings(tmp_path: Path):
    s = dataclasses.replace(get_settings(), artifacts_dir=tmp_path / "artifacts")
    registry = s.artifacts_dir / "models" / "hotspot"
    registry.mkdir(parents=True)
    for target in ("knife_injury", "serious_violence"):
        version = f"xgboost_poisson-{target}-2024-05-06-abc"
        (registry / f"{version}.json").write_text(json.dumps({
            "model": "xgboost_poisson", "version": version, "target": target, "features": ["knife_injury_c4", "season_sin"],
            "fit_date": "2024-05-06", "n_train_rows": 12345, "trained_at": "2024-05-06T06:10:00",
        }))
    return s


@pytest.fixture()
def record(settings):
    with duckdb.connect() as con:
        build_report_db(con)
        return build_record(con, settings, FORECAST, generated_at=datetime(2024, 6, 3, 7, 0))


def test_one_record_per_tool_in_atrs_sections(record):
    assert [t.code for t in record.tools] == ["iom", "knife_injury", "serious_violence"]
    for tool in record.tools:
        assert [s.title for s in [tool.tier1, *tool.tier2]] == ATRS_SECTIONS
        assert [s.number for s in tool.tier2] == [f"Tier 2, section {i}" for i in range(1, 6)]


def _field(tool, label):
    return next(f for s in [tool.tier1, *tool.tier2] for f in s.fields if f.label == label)


def test_foi_answers_and_dates(record):
    iom, knife, violence = record.tools
    assert "November 2021" in _field(iom, "Dates").text
    assert "November 2021" in _field(knife, "Dates").text
    assert "May 2022" in _field(violence, "Dates").text
    assert _field(iom, "Intended users").source == "FOI"
    assert "Local Offender Management Units" in _field(iom, "Intended users").text
    assert "Project Guardian" in _field(knife, "Intended users").text
    assert "not targeted at individuals" in _field(violence, "Decisions supported (and about whom or what)").text
    assert _field(iom, "Senior responsible owner").source == "not stated"


def test_weekly_metadata_model_versions_metrics_and_fairness(record):
    iom, knife, violence = record.tools
    versions = _field(knife, "Model: versions in use this week")
    assert versions.text == "xgboost_poisson-knife_injury-2024-05-06-abc"
    registry = dict(versions.table.rows)
    assert registry["Training rows"] == "12,345"
    assert registry["Features"].startswith("2: knife_injury_c4")
    assert _field(violence, "Model: versions in use this week").text.startswith("xgboost_poisson-serious_violence")
    perf = _field(knife, "Model: performance").table
    assert perf.rows[0][0] == "xgboost_poisson"  # the model first, then the baselines
    assert perf.columns[1:3] == ["hit rate @ 1% of area", "PAI @ 1% of area"]
    assert perf.rows[0][1] == "32.4%"
    fairness = _field(iom, "Model: fairness").table
    assert [r[1] for r in fairness.rows] == ["F", "M"]
    window = _field(iom, "Data: this week's window").items
    assert window[0].startswith("CONNECT drops applied: 2 ")
    assert _field(knife, "Data: this week's window").items[1].startswith("Active recorded crimes known before 2024-06-03")


def test_markdown_and_html_are_written(record, settings):
    paths = write_record(record, settings)
    md = paths["md"].read_text()
    html = paths["html"].read_text()
    assert paths["md"].name == f"transparency_record_{FORECAST.isoformat()}.md"
    for tool in tool_facts.TOOLS:
        assert tool.name in md and tool.name in html
    assert md.count("### Tier 2, section 4: Tool specification") == 3
    assert "| xgboost_poisson | 32.4% |" in md
    assert html.count("<h3>Tier 1: Overview</h3>") == 3
    assert "<script" not in html
    assert tool_facts.FACTS_VERSION in md


def test_missing_tables_are_said_not_crashed(settings):
    with duckdb.connect() as con:
        rec = build_record(con, settings, FORECAST)
    md = render_markdown(rec)
    assert "Not available this week" in md
    assert "No output of this tool for this week was found." in md
    render_html(rec)


def test_registry_picks_the_named_version_else_the_newest(tmp_path):
    for name, fit in (("m-knife_injury-2024-01-01", "2024-01-01"), ("m-knife_injury-2024-03-04", "2024-03-04")):
        (tmp_path / f"{name}.json").write_text(json.dumps({"version": name, "target": "knife_injury", "fit_date": fit}))
    assert [e["version"] for e in registry_entries(tmp_path, ["m-knife_injury-2024-01-01"])] == ["m-knife_injury-2024-01-01"]
    assert [e["version"] for e in registry_entries(tmp_path, [], match="knife_injury")] == ["m-knife_injury-2024-03-04"]
    assert registry_entries(tmp_path / "absent", []) == []


def test_facts_cite_their_source():
    for tool in tool_facts.TOOLS:
        for name in ("description", "reasons_and_purpose", "data_sources", "decisions", "intended_users", "training", "dates"):
            answer = getattr(tool, name)
            assert answer.source == "FOI" and len(answer.text) > 20, (tool.code, name)
        assert tool.risks


def test_iom_metrics_use_weekly_rows_in_a_fixed_metric_order():
    from datetime import date

    import pandas as pd

    from wmp_pipeline.reports.metrics import iom_metrics

    weeks = [date(2024, 1, 1), date(2024, 1, 29), None]
    rows = [
        {"model": m, "test_week": w, "metric": k, "value": (v if w is not None else 99.0)}
        for m in ("xgboost", "logistic") for w in weeks
        for k, v in (("recall_at_100", 0.2), ("roc_auc", 0.8 if m == "xgboost" else 0.7), ("brier", 0.05))
    ]
    with duckdb.connect() as con:
        con.register("r", pd.DataFrame(rows))
        con.execute("create table iom_model_metrics as select * from r")
        out = iom_metrics(con, date(2024, 6, 3))
    assert list(out.wide.columns) == ["roc_auc", "brier", "recall_at_100"]
    assert list(out.wide.index) == ["xgboost", "logistic"]
    assert out.wide.loc["xgboost", "roc_auc"] == pytest.approx(0.8)  # the pooled rows (99) are not averaged in
    assert out.n_weeks == 2 and out.last_week == date(2024, 1, 29)


def test_registry_reads_iom_model_folders_metadata_only(tmp_path):
    folder = tmp_path / "iom-2024-06-03-abcd1234"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"learner": {"huge": "booster"}}))
    (folder / "metadata.json").write_text(json.dumps({
        "version": "iom-2024-06-03-abcd1234", "trained_for": "2024-06-03", "feature_names": ["a", "b", "c"],
        "training_window": {"first_week": "2021-01-04", "last_week": "2023-06-05"}, "n_training_rows": 5000,
    }))
    entries = registry_entries(tmp_path, ["iom-2024-06-03-abcd1234"])
    assert len(entries) == 1 and "learner" not in entries[0]
    from wmp_pipeline.reports.transparency import registry_table

    rows = dict(registry_table(entries).rows)
    assert rows["Training window"] == "first week 2021-01-04, last week 2023-06-05"
    assert rows["Features"] == "3: a, b, c"
