"""The briefing opened in headless Chromium, offline: the maps and tables must render.

Uses Debian's ``chromium`` (``.ci/run`` installs it); the test installs
nothing and is skipped where the browser is absent. The page is a local file
and the browser runs with networking features off, so anything the page
tried to fetch from outside would simply be missing from the screenshot.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from tests.briefing_html import outside_references, parse, png_images
from tests.report_data import FORECAST, build_report_db
from wmp_pipeline.reports.briefing import build_briefing, write_briefing
from wmp_pipeline.settings import get_settings

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1400, 4000


def chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def screenshot(page: Path, png: Path, profile: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert png.exists(), f"chromium wrote no screenshot (exit {proc.returncode}):\n{proc.stderr[-3000:]}"


def map_colour_pixels(rgb: np.ndarray) -> int:
    """Pixels in the maps' yellow-orange-red ramp (bright red channel, middling green, little blue).

    The page's other reds (the trend line, rank arrows) are dark red, with a
    green channel under 60, and are not counted."""
    r, g, bl = (rgb[..., i].astype(int) for i in range(3))
    return int(((r > 200) & (g > 60) & (g < 225) & (bl < 120)).sum())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("briefing_browser")
    settings = dataclasses.replace(get_settings(), artifacts_dir=root / "artifacts", boundary_file=None)
    with duckdb.connect() as con:
        build_report_db(con)
        briefing = build_briefing(con, settings, FORECAST)
    page = write_briefing(briefing, settings)
    png = root / "briefing.png"
    screenshot(page, png, root / "chromium-profile")
    return page, png


def test_screenshot_is_a_rendered_page(rendered):
    _, png = rendered
    with Image.open(png) as im:
        assert im.size == (WIDTH, HEIGHT)
        rgb = np.asarray(im.convert("RGB"))
    not_white = (rgb.min(axis=2) < 235).mean()
    assert not_white > 0.05, f"the page looks blank ({not_white:.1%} non-white pixels)"
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 200


def test_maps_are_drawn_in_the_map_column(rendered):
    _, png = rendered
    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"))
    left, right = rgb[:, : WIDTH // 2], rgb[:, WIDTH // 2 :]
    # two maps' cells and colour bars sit in the left column; the tables on the right have none of these colours
    assert map_colour_pixels(left) > 5000
    assert map_colour_pixels(left) > 5 * max(1, map_colour_pixels(right))


def test_html_carries_images_and_table_rows(rendered):
    page, _ = rendered
    html = page.read_text(encoding="utf-8")
    assert outside_references(html) == []
    assert len(png_images(html)) == 7
    parsed = parse(html)
    top_tables = [t for t in parsed.tables if t["header"][:2] == ["Rank", "Cell"]]
    assert [len(t["rows"]) for t in top_tables] == [20, 20]
    assert any(t["header"][:2] == ["#", "Offender key"] and len(t["rows"]) > 10 for t in parsed.tables)
