"""The map and IOM pages driven in headless Chromium with every network request blocked.

Uses Debian's ``chromium`` (``.ci/run`` installs it) through playwright's
``executable_path`` (playwright downloads no browser here); skipped, with
the reason, where either is absent. Screenshots are kept under
tests/artifacts/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.maps_pages import boundary_from_cells
from wmp_pipeline.hotspot.config import HotspotMapConfig
from wmp_pipeline.maps.build import build_week

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def pages(tiny_run, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("map_pages")
    boundary = boundary_from_cells(tiny_run.settings.duckdb_path, root / "lsoas.geojson")
    with duckdb.connect(str(tiny_run.settings.duckdb_path), read_only=True) as con:
        out = build_week(con, tiny_run.forecast_date, root, boundary, HotspotMapConfig(), 100)
        bare = build_week(con, tiny_run.forecast_date, root / "bare", None, HotspotMapConfig(), 100)
    return {"map": out.paths["map_page"], "iom": out.paths["iom_page"], "bare": bare.paths["map_page"]}


def _open(browser, path: Path):
    """A page of ``path`` with every request but the file itself refused; returns (page, errors, blocked)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    errors, blocked = [], []

    def route(r):
        if r.request.url == path.resolve().as_uri():
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors, blocked


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _field(page, name: str) -> str:
    return page.inner_text(f"#info [data-field={name}]")


def test_map_renders_hovers_and_switches_targets_offline(browser, pages):
    page, errors, blocked = _open(browser, pages["map"])
    try:
        data = page.evaluate("window.WMP_MAP.targets.map(t => [t.code, t.cells.id.length, t.top_n])")
        (first, n_first, top_first), (second, n_second, _) = data
        assert page.locator("path.wmp-cell").count() == n_first
        assert page.locator("path.wmp-top").count() == top_first
        assert page.locator(".area-label").count() >= 1  # the district name
        legend = page.inner_text("#legend")
        assert "Expected crimes per 1000 m cell" in legend and f"top {top_first} cell" in legend

        pt = page.evaluate("wmpCellPoint(1)")
        page.mouse.move(pt["x"], pt["y"])
        page.wait_for_selector("#info [data-field=cell_id]")
        assert _field(page, "cell_id").startswith(pt["id"]) and pt["id"].startswith("1000m_")
        expected = page.evaluate("window.WMP_MAP.targets[0].cells.p[0]")
        assert _field(page, "predicted_count") == f"{expected:.2f}"
        assert re.fullmatch(r"\d+\.\d%", _field(page, "prob"))
        assert re.fullmatch(r"\d+", _field(page, "c4")) and re.fullmatch(r"\d+", _field(page, "c52"))
        assert _field(page, "rank").startswith(f"1 of {n_first}")
        assert re.search(r"up|down|no change", _field(page, "rank_change"))
        assert "Tinyshire" in _field(page, "lsoa")
        _shot(page, "map_knife_hover.png")

        page.check(f"input[name=target][value={second}]")
        assert page.locator("path.wmp-cell").count() == n_second
        assert "707 m" in page.inner_text("#target-title")
        pt = page.evaluate("wmpCellPoint(1)")
        page.mouse.move(pt["x"] + 1, pt["y"] + 1)
        page.mouse.move(pt["x"], pt["y"])
        page.wait_for_selector("#info [data-field=cell_id]")
        assert _field(page, "cell_id").startswith("707m_")
        assert _field(page, "predicted_count") == f"{page.evaluate('window.WMP_MAP.targets[1].cells.p[0]'):.2f}"

        chart = page.locator(f".trend[data-target={second}] svg")
        box = chart.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
        tip = page.inner_text(f".trend[data-target={second}] .wmp-trend-tip")
        assert re.search(r"4 weeks from \d{4}-\d\d-\d\d: recorded \d+, forecast \d+\.\d", tip), tip
        _shot(page, "map_serious_violence_trend.png")
        assert errors == [], errors
        assert blocked == [], f"the page tried to fetch: {blocked}"
    finally:
        page.context.close()


def test_map_without_boundary_file_still_renders(browser, pages):
    page, errors, blocked = _open(browser, pages["bare"])
    try:
        assert "No boundary file is configured" in page.inner_text(".note")
        assert page.locator("path.wmp-cell").count() > 0
        assert page.locator(".area-label").count() == 0
        _shot(page, "map_no_boundary.png")
        assert errors == [] and blocked == []
    finally:
        page.context.close()


def test_iom_table_sorts_and_filters(browser, pages):
    page, errors, blocked = _open(browser, pages["iom"])
    try:
        def column(cls: str) -> list[str]:
            return page.eval_on_selector_all(f"#iom-table td.{cls}", "els => els.map(e => e.textContent)")

        ranks = [int(r) for r in column("rank")]
        assert ranks == sorted(ranks) and len(ranks) > 5
        page.click("#iom-table th[data-key=probability]")
        probs = [float(p.rstrip("%")) for p in column("probability")]
        assert probs == sorted(probs, reverse=True)
        page.click("#iom-table th[data-key=probability]")
        probs = [float(p.rstrip("%")) for p in column("probability")]
        assert probs == sorted(probs)
        bands = page.eval_on_selector_all("#filter-band option", "els => els.map(e => e.value).filter(v => v)")
        page.select_option("#filter-band", bands[0])
        shown = set(column("band"))
        assert len(shown) == 1
        assert re.search(r"\d+ of \d+ shown", page.inner_text("#iom-count"))
        assert all(re.fullmatch(r"[0-9a-f]{16,}|[A-Za-z0-9_-]{8,}", k) for k in column("offender_key"))
        _shot(page, "iom_list.png")
        assert errors == [] and blocked == []
    finally:
        page.context.close()
