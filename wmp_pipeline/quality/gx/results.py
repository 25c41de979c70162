"""What a suite run returns: plain, serialisable result types, safe to show (no identifying values).

A :class:`SuiteResult` round-trips through JSON (:meth:`SuiteResult.to_json`,
:meth:`SuiteResult.from_json`), so the result of the one suite run of a drop is
stored in DuckDB (:mod:`wmp_pipeline.quality.gx.store`) and read back by the
asset checks and the data-quality summary instead of running the suite again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date

import pandas as pd


@dataclass(frozen=True)
class DropInfo:
    """The drop a suite run looks at."""

    drop_id: str
    extract_date: date
    extract_type: str


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, safe to show (no identifying values)."""

    label: str
    expectation_type: str
    columns: tuple[str, ...]
    severity: str
    note: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: str | None = None
    #: (value, count) of the commonest unexpected values; empty for identifying columns
    top_unexpected_values: tuple[tuple[str, int], ...] = ()
    exception: str | None = None
    #: the failing rows kept for display, identifiers masked
    failing_rows: tuple[dict, ...] = ()


@dataclass(frozen=True)
class SuiteResult:
    suite_name: str
    table: str
    drop_id: str | None
    extract_date: date | None
    extract_type: str | None
    rows_in_drop: int
    rows_validated: int
    sampled: bool
    sample_note: str
    elapsed_s: float
    outcomes: tuple[ExpectationOutcome, ...] = field(default_factory=tuple)

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def outcomes_for(self, severity: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == severity]

    def failures(self, severity: str | None = None) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and (severity is None or o.severity == severity)]

    def passed(self, severity: str) -> bool:
        return not self.failures(severity)

    def failing_rows(self, severity: str | None = None, limit: int = 20) -> pd.DataFrame:
        """A sample of failing rows (identifiers masked), one line per (expectation, row)."""
        rows = [dict(check=o.label, **r) for o in self.failures(severity) for r in o.failing_rows]
        return pd.DataFrame(rows[:limit])

    def summary_frame(self) -> pd.DataFrame:
        """One row per expectation: what it checks, severity, outcome, counts."""
        return pd.DataFrame(
            [
                {
                    "expectation": o.label,
                    "severity": o.severity,
                    "success": o.success,
                    "unexpected_count": o.unexpected_count,
                    "unexpected_percent": None if o.unexpected_percent is None else round(o.unexpected_percent, 3),
                    "observed": o.observed_value,
                    "note": o.note,
                }
                for o in self.outcomes
            ]
        )


    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> SuiteResult:
        d = json.loads(text)
        outcomes = tuple(
            ExpectationOutcome(
                **{
                    **o,
                    "columns": tuple(o["columns"]),
                    "top_unexpected_values": tuple((str(v), int(n)) for v, n in o["top_unexpected_values"]),
                    "failing_rows": tuple(o["failing_rows"]),
                }
            )
            for o in d.pop("outcomes")
        )
        if d.get("extract_date"):
            d["extract_date"] = date.fromisoformat(d["extract_date"])
        return cls(**d, outcomes=outcomes)
