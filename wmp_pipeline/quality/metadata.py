"""Turning quality results into the plain metadata a Dagster check shows.

Kept apart from the Dagster definitions so the text (what an operator reads
when a check fails) is tested without running Dagster. Values here are
already safe to show: suite results carry masked failing rows only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from wmp_pipeline import markdown as md
from wmp_pipeline.quality.gx_suites import SuiteResult
from wmp_pipeline.quality.reconciliation import ReconciliationReport


def markdown_table(frame: pd.DataFrame, max_rows: int = 20) -> str:
    """The quality checks' tables: at most ``max_rows`` rows, values as they are, long ones cut at 80 characters."""
    return md.markdown_table(frame, floatfmt=None, max_rows=max_rows, missing="", max_chars=80)


def failed_expectations_frame(result: SuiteResult, severity: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "expectation": o.label,
                "unexpected": o.unexpected_count,
                "unexpected_%": None if o.unexpected_percent is None else round(o.unexpected_percent, 3),
                "observed": o.observed_value,
                "top unexpected values": ", ".join(f"{v} ({n})" for v, n in o.top_unexpected_values),
                "error": o.exception,
                "why": o.note,
            }
            for o in result.failures(severity)
        ]
    )


def suite_check_metadata(result: SuiteResult, severity: str) -> dict[str, Any]:
    """Counts and two markdown tables (failed expectations, failing rows) for one severity.

    Markdown values are returned as ``("md", text)`` pairs so the caller can
    wrap them in ``MetadataValue.md``.
    """
    outcomes = result.outcomes_for(severity)
    failures = result.failures(severity)
    meta: dict[str, Any] = {
        "table": f"raw.connect_{result.table}",
        "drop_id": result.drop_id or "none",
        "extract_type": result.extract_type or "none",
        "rows_in_drop": int(result.rows_in_drop),
        "rows_validated": int(result.rows_validated),
        "sampled": bool(result.sampled),
        "expectations_evaluated": len(outcomes),
        "expectations_failed": len(failures),
        "unexpected_rows_total": int(sum(o.unexpected_count or 0 for o in failures)),
        "elapsed_s": float(result.elapsed_s),
        "failed_expectations": ("md", markdown_table(failed_expectations_frame(result, severity))),
        "failing_rows_sample": ("md", markdown_table(result.failing_rows(severity))),
    }
    if result.sample_note:
        meta["sample_note"] = result.sample_note
    return meta


def reconciliation_check_metadata(report: ReconciliationReport) -> dict[str, Any]:
    frame = report.frame()
    unbalanced = frame[~frame["balanced"]] if not frame.empty else frame
    shown = pd.concat([unbalanced, frame[frame["balanced"]].tail(10)]) if not frame.empty else frame
    return {
        "drops": int(frame["drop_id"].nunique()) if not frame.empty else 0,
        "files": len(frame),
        "files_unbalanced": len(unbalanced),
        "rows_delivered": int(frame["rows_delivered"].clip(lower=0).sum()) if not frame.empty else 0,
        "rows_loaded": int(frame["rows_loaded"].sum()) if not frame.empty else 0,
        "rows_quarantined": int(frame["rows_quarantined"].sum()) if not frame.empty else 0,
        "rows_missing": int(frame["rows_missing"].clip(lower=0).sum()) if not frame.empty else 0,
        "unlogged_drops": len(report.unlogged),
        "problems": ("md", "\n".join(f"- {p}" for p in report.problems) or "_none_"),
        "files_reconciled": ("md", markdown_table(shown.drop(columns=["problem"]) if not shown.empty else shown)),
    }
