"""Assembly: every section into one HTML page, and the files written beside it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

import wmp_pipeline
from wmp_pipeline.reports.briefing.hotspots import force_outline, hotspot_section, previous_ranks
from wmp_pipeline.reports.briefing.iom import iom_section
from wmp_pipeline.reports.briefing.model import DROP_LOG, HORIZON_DAYS, TARGETS, Briefing, CheckResult, Section, briefing_path, ranks_path
from wmp_pipeline.reports.briefing.performance import hotspot_performance, iom_performance
from wmp_pipeline.reports.briefing.quality import quality_section
from wmp_pipeline.reports.tables import table_exists
from wmp_pipeline.settings import Settings


def _latest_drop(con: duckdb.DuckDBPyConnection) -> str:
    if table_exists(con, DROP_LOG):
        row = con.execute(f"select max(extract_date) from {DROP_LOG}").fetchall()[0]
        if row and row[0]:
            return str(row[0])
    return "–"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("wmp_pipeline.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _all_sections(sections: list[Section]) -> list[Section]:
    out = []
    for s in sections:
        out.append(s)
        out += _all_sections(s.children)
    return out


def build_briefing(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    forecast_date: date,
    checks: list[CheckResult] | None = None,
    top_cells: int = 20,
    iom_list_size: int = 50,
    progress=None,
    generated_at: datetime | None = None,
) -> Briefing:
    """Build this week's briefing from the working database (nothing is written).

    ``checks``: this run's asset check results (from the Dagster instance);
    without them the data-quality section reads ``dq_expectation_results``.
    ``progress``: a :class:`wmp_pipeline.progress.Progress` with 6 steps.
    """

    def step(note: str) -> None:
        if progress is not None:
            progress.update(1, note=note)

    outline = force_outline(con, settings)
    prev = previous_ranks(con, settings, forecast_date)
    step("force outline")
    hotspots, ranks = [], []
    for target in TARGETS:
        section, r = hotspot_section(con, target, forecast_date, outline, prev, table_rows=top_cells)
        hotspots.append(section)
        ranks.append(r)
        step(target.code)
    iom = iom_section(con, forecast_date, list_size=iom_list_size)
    step("iom")
    performance = Section(anchor="performance", title="How well the models have done",
                          children=[hotspot_performance(con, forecast_date), iom_performance(con, forecast_date)])
    step("performance")
    quality = quality_section(con, forecast_date, checks)
    step("quality")
    sections = [*hotspots, iom, performance, quality]
    unavailable = [s.title for s in _all_sections(sections) if s.unavailable]
    generated_at = generated_at or datetime.now().replace(microsecond=0)
    end = forecast_date + timedelta(days=HORIZON_DAYS - 1)
    page = _environment().get_template("briefing.html.j2").render(
        title=f"Weekly briefing, {forecast_date:%d %B %Y}",
        forecast_date=forecast_date,
        window=f"{forecast_date:%d %b %Y} to {end:%d %b %Y}",
        sections=sections,
        latest_drop=_latest_drop(con),
        generated_at=generated_at,
        version=wmp_pipeline.__version__,
        mode=settings.mode,
    )
    all_ranks = pd.concat(ranks, ignore_index=True) if ranks else pd.DataFrame(columns=["target", "cell_id", "rank"])
    summary = {
        "sections": len(_all_sections(sections)),
        "sections_unavailable": len(unavailable),
        "images": sum(len(s.images) for s in _all_sections(sections)),
        "table_rows": sum(len(t.rows) for s in _all_sections(sections) for t in s.tables),
        "bytes": len(page.encode("utf-8")),
    }
    maps = [img["png"] for s in hotspots for img in s.images if img["role"] == "map"]
    return Briefing(forecast_date=forecast_date, html=page, summary=summary, ranks=all_ranks,
                    sections_unavailable=unavailable, preview_png=maps[0] if maps else None)


def write_briefing(briefing: Briefing, settings: Settings) -> Path:
    """Write the HTML (owner-only: it lists pseudonymised offenders) and this week's ranks."""
    from wmp_pipeline.privacy.file_permissions import write_private_bytes

    path = briefing_path(settings, briefing.forecast_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_bytes(path, briefing.html.encode("utf-8"))
    if len(briefing.ranks):
        rp = ranks_path(settings, briefing.forecast_date)
        tmp = rp.with_name(rp.name + ".tmp")
        briefing.ranks.to_csv(tmp, index=False)
        tmp.replace(rp)
    return path
