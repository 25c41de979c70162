"""The briefing's view model: targets, tables, sections, and where the files go."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from wmp_pipeline import tables
from wmp_pipeline.settings import Settings

HORIZON_DAYS = 28
TREND_DAYS = 364
#: weeks at the end of the trend still filling up (crimes are recorded after they happen)
RECORDING_LAG_WEEKS = 2
HARM_TREND_DAYS = 91
PREDICTIONS = tables.HOTSPOT_PREDICTIONS
CELLS = tables.HOTSPOT_CELLS
CRIMES = tables.INT_CRIMES_CLASSIFIED
RISK = tables.IOM_RISK_SCORES
IOM_WEEKS = tables.IOM_OFFENDER_WEEK
KEYS = tables.RESTRICTED_PERSON_KEYS
DROP_LOG = tables.CONNECT_DROP_LOG
QUARANTINE = tables.CONNECT_QUARANTINE
UNKNOWN_CODES = tables.MART_UNKNOWN_OFFENCE_CODES
EXPECTATIONS = tables.DQ_EXPECTATION_RESULTS
#: Every table the briefing reads (its asset depends on their writers).
READS = (PREDICTIONS, CELLS, tables.HOTSPOT_BACKTEST_METRICS, CRIMES, IOM_WEEKS, RISK, tables.IOM_MODEL_METRICS,
         DROP_LOG, QUARANTINE, UNKNOWN_CODES, EXPECTATIONS)
BRIEFINGS_SUBDIR = "briefings"
_GRID_ID = re.compile(r"^(\d+)m_(-?\d+)_(-?\d+)$")


@dataclass(frozen=True)
class Target:
    code: str
    title: str
    crime_flag: str


TARGETS: tuple[Target, ...] = (
    Target("knife_injury", "Knife crime used causing injury", "is_knife_injury"),
    Target("serious_violence", "Serious violence", "is_serious_violence"),
)


# --------------------------------------------------------------------------- view model


@dataclass
class Cell:
    text: str
    css: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    numeric: set[int] = field(default_factory=set)
    caption: str = ""


@dataclass
class Section:
    anchor: str
    title: str
    intro: str = ""
    unavailable: str = ""
    images: list[dict] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    #: one line for the "this week at a glance" box at the top
    headline: str = ""


@dataclass(frozen=True)
class CheckResult:
    """One asset check result, as read from the Dagster instance."""

    asset: str
    check: str
    passed: bool
    severity: str = "ERROR"
    description: str = ""


@dataclass
class Briefing:
    forecast_date: date
    html: str
    #: small counts for Dagster metadata (never person identifiers)
    summary: dict
    #: ``target, cell_id, rank`` of this week, stored for next week's change in rank
    ranks: pd.DataFrame
    sections_unavailable: list[str]
    #: the first hotspot map, for a preview in the Dagster UI
    preview_png: bytes | None = None


# --------------------------------------------------------------------------- formatting


def briefing_path(settings: Settings, forecast_date: date) -> Path:
    return Path(settings.artifacts_dir) / BRIEFINGS_SUBDIR / f"briefing_{forecast_date.isoformat()}.html"


def ranks_path(settings: Settings, forecast_date: date) -> Path:
    return Path(settings.artifacts_dir) / BRIEFINGS_SUBDIR / f"hotspot_ranks_{forecast_date.isoformat()}.csv"
