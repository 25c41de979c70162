"""The weekly briefing's HTML builder on hand-made tables (fast; no browser)."""

from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from PIL import Image

from tests.briefing_html import outside_references, parse, png_images
from tests.report_data import FORECAST, build_report_db
from wmp_pipeline.reports import briefing as b
from wmp_pipeline.settings import get_settings


@pytest.fixture()
def settings(tmp_path: Path):
    return dataclasses.replace(get_settings(), artifacts_dir=tmp_path / "artifacts", boundary_file=None)


@pytest.fixture()
def con():
    c = duckdb.connect()
    build_report_db(c)
    yield c
    c.close()


def _table_after(parsed, first_header: str, n: int = 0) -> dict:
    tables = [t for t in parsed.tables if t["header"] and t["header"][0] == first_header]
    return tables[n]


def test_briefing_has_both_maps_tables_and_no_outside_references(con, settings):
    out = b.build_briefing(con, settings, FORECAST, generated_at=datetime(2024, 6, 3, 6, 0))
    assert out.sections_unavailable == []
    assert outside_references(out.html) == []
    images = png_images(out.html)
    # 2 maps + 2 trends + 1 band chart + 2 backtest charts
    assert len(images) == 7
    for png in images:
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.size[0] > 300
    parsed = parse(out.html)
    roles = [img.get("alt", "") for img in parsed.images]
    assert sum("Map of the top" in r for r in roles) == 2
    knife, violence = _table_after(parsed, "Rank", 0), _table_after(parsed, "Rank", 1)
    assert len(knife["rows"]) == 20 and len(violence["rows"]) == 20
    assert [r[0] for r in knife["rows"]] == [str(i) for i in range(1, 21)]
    assert out.preview_png is not None and out.preview_png[:4] == b"\x89PNG"


def test_top_table_matches_predictions_and_change_in_rank(con, settings):
    out = b.build_briefing(con, settings, FORECAST)
    knife = _table_after(parse(out.html), "Rank", 0)
    now = con.execute(
        "select cell_id, rank from hotspot_predictions where target = 'knife_injury' and forecast_week = ? order by rank limit 20",
        [FORECAST],
    ).fetchall()
    before = dict(con.execute(
        "select cell_id, rank from hotspot_predictions where target = 'knife_injury' and forecast_week = ?",
        [FORECAST - timedelta(days=7)],
    ).fetchall())
    for row, (cell_id, rank) in zip(knife["rows"], now, strict=True):
        assert row[1] == cell_id
        delta = before[cell_id] - rank
        expected = f"▲ {delta}" if delta > 0 else f"▼ {-delta}" if delta < 0 else "="
        assert row[-1] == expected


def test_change_in_rank_falls_back_to_last_weeks_rank_file(con, settings):
    prev = con.execute(
        "select target, cell_id, rank from hotspot_predictions where forecast_week = ?", [FORECAST - timedelta(days=7)]
    ).df()
    con.execute("delete from hotspot_predictions where forecast_week <> ?", [FORECAST])
    without = b.build_briefing(con, settings, FORECAST)
    assert {r[-1] for r in _table_after(parse(without.html), "Rank")["rows"]} == {"–"}
    # last week's briefing left its ranks; this week's top knife cell was not ranked then
    first = con.execute(
        "select cell_id from hotspot_predictions where target = 'knife_injury' and rank = 1"
    ).fetchall()[0][0]
    prev = prev[~((prev["target"] == "knife_injury") & (prev["cell_id"] == first))]
    path = b.ranks_path(settings, FORECAST - timedelta(days=7))
    path.parent.mkdir(parents=True)
    prev.to_csv(path, index=False)
    withfile = b.build_briefing(con, settings, FORECAST)
    rows = _table_after(parse(withfile.html), "Rank", 0)["rows"]
    changes = {r[1]: r[-1] for r in rows}
    assert changes[first] == "new"
    assert "–" not in changes.values()
    moved = [c for c in changes.values() if c != "new"]
    assert moved and all(c == "=" or c[0] in "▲▼" for c in moved)


def test_write_briefing_writes_owner_only_html_and_ranks(con, settings):
    out = b.build_briefing(con, settings, FORECAST)
    path = b.write_briefing(out, settings)
    assert path == settings.artifacts_dir / "briefings" / f"briefing_{FORECAST.isoformat()}.html"
    assert path.stat().st_mode & 0o777 == 0o600
    ranks = pd.read_csv(b.ranks_path(settings, FORECAST))
    assert set(ranks["target"]) == {"knife_injury", "serious_violence"}
    assert len(ranks) == 2 * con.execute(
        "select count(*) from hotspot_predictions where target = 'knife_injury' and forecast_week = ?", [FORECAST]
    ).fetchall()[0][0]


def test_missing_tables_give_not_available_sections_not_a_crash(settings):
    with duckdb.connect() as empty:
        out = b.build_briefing(empty, settings, FORECAST)
    assert out.html.count("Not available this week") >= 6
    assert out.ranks.empty
    assert "hotspot_predictions" in out.html and "iom_risk_scores" in out.html
    assert png_images(out.html) == []


def test_predictions_of_another_week_are_not_shown_as_this_weeks(con, settings):
    out = b.build_briefing(con, settings, FORECAST + timedelta(days=14))
    assert "no knife crime used causing injury predictions for" in out.html
    assert f"(the table holds the forecast of {FORECAST}" in out.html


def test_no_person_ids_or_quarantined_values_in_the_html(con, settings):
    html = b.build_briefing(con, settings, FORECAST).html
    person_ids = [r[0] for r in con.execute("select person_id from restricted_person_keys").fetchall()]
    assert not [p for p in person_ids if p in html]
    # quarantine reasons quote values ('P00001', '2024-13-01'): the briefing shows only the rule
    assert "2024-13-01" not in html and "P00001" not in html
    assert "person_id: duplicated in the file" in html
    assert "OFF-" in html


def test_iom_list_is_low_medium_ranked_by_probability_with_harm_trend(con, settings):
    html = b.build_briefing(con, settings, FORECAST, iom_list_size=10).html
    table = _table_after(parse(html), "#")
    keys = [r[1] for r in table["rows"]]
    expected = con.execute(
        "select offender_key, harm_score from iom_risk_scores where band = 'low_medium' order by probability desc limit 10"
    ).fetchall()
    assert keys == [k for k, _ in expected]
    assert all(r[3] == "low-medium" for r in table["rows"])
    assert "<dt>Offenders scored</dt><dd>120</dd>" in html  # the two high harm rows have no probability
    # the hand-made history has every harm score 13 weeks earlier at 60 %: all rising
    for row, (_, harm) in zip(table["rows"], expected, strict=True):
        assert row[4] == f"▲ {harm * 0.6:,.0f} → {harm:,.0f}"


def test_cell_counts_last_four_weeks_respect_recording_time():
    con = duckdb.connect()
    fd = date(2024, 6, 3)
    rows = pd.DataFrame({
        "easting": [400010.0, 400100.0, 400300.0, 400010.0, 400010.0],
        "northing": [280010.0, 280200.0, 280010.0, 280010.0, 280010.0],
        "lsoa_code": ["A"] * 5,
        "committed_date": [fd - timedelta(days=3), fd - timedelta(days=27), fd - timedelta(days=1), fd - timedelta(days=29), fd - timedelta(days=2)],
        "recorded_at": [datetime(2024, 6, 1), datetime(2024, 5, 10), datetime(2024, 6, 2), datetime(2024, 5, 6), datetime(2024, 6, 3, 9)],
        "is_knife_injury": [True, True, True, True, True],
    })
    con.register("r", rows)
    con.execute("create table int_crimes__classified as select * from r")
    counts = b.cell_counts_last_weeks(con, b.TARGETS[0], fd, ["250m_400000_280000", "250m_400250_280000"])
    # row 4 committed too early, row 5 recorded on the forecast date: neither counts
    assert counts == {"250m_400000_280000": 2, "250m_400250_280000": 1}


def test_weekly_counts_fill_empty_weeks_with_zero(con):
    weeks = b.weekly_counts(con, b.TARGETS[0], FORECAST)
    assert len(weeks) == 52
    assert weeks["week_start"].iloc[-1] == FORECAST - timedelta(days=7)
    direct = con.execute(
        "select count(*) from int_crimes__classified where is_knife_injury and committed_date >= ? and committed_date < ? and recorded_at < ?",
        [FORECAST - timedelta(days=364), FORECAST, datetime(2024, 6, 3)],
    ).fetchall()[0][0]
    assert int(weeks["n"].sum()) == direct


@pytest.mark.parametrize(
    ("rank", "previous", "have", "text"),
    [(3, 7, True, "▲ 4"), (7, 3, True, "▼ 4"), (5, 5, True, "="), (5, None, True, "new"), (5, None, False, "–")],
)
def test_rank_change_cell(rank, previous, have, text):
    assert b.rank_change_cell(rank, previous, have).text == text


def test_harm_trend_cell():
    assert b.harm_trend_cell(45.0, 12.0).text == "▲ 12 → 45"
    assert b.harm_trend_cell(10.0, 30.0).text == "▼ 30 → 10"
    assert b.harm_trend_cell(10.0, None).text.endswith("(no earlier score)")


def test_checks_from_the_instance_replace_the_table(con, settings):
    checks = [b.CheckResult("raw/connect_crimes", "gx_blocking", True), b.CheckResult("raw/connect_crimes", "gx_warnings", False, "WARN")]
    html = b.build_briefing(con, settings, FORECAST, checks=checks).html
    table = _table_after(parse(html), "Asset")
    assert table["rows"] == [["raw/connect_crimes", "2", "1", "gx_warnings (warn)"]]
    assert "1 of 2 checks failed" in html


def test_quality_section_names_refused_drops_and_missing_weeks(con, settings):
    out = b.build_briefing(con, settings, FORECAST)
    parsed = parse(out.html)
    refused = _table_after(parsed, "Drop", 1)
    assert refused["rows"] == [["2024-05-20", "full drop holds 2% of the current persons (minimum 90%)"]]
    gaps = _table_after(parsed, "Last drop before the gap")
    assert gaps["rows"][0][:3] == ["2024-05-13", "2024-05-27", "1"]
    assert "1 drop refused" in out.html and "1 week with no drop" in out.html


def test_quality_section_says_when_nothing_was_refused(con, settings):
    con.execute("delete from dq_drop_refusals")
    con.execute("delete from dq_drop_sequence")
    out = b.build_briefing(con, settings, FORECAST)
    assert "No drop was refused and no week is missing from the drop sequence." in out.html
