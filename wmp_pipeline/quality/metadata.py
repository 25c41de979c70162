"""Turning quality results into the plain metadata a Dagster check shows.

Kept apart from the Dagster definitions so the text (what an operator reads
when a check fails) is tested without running Dagster. Values here are
already safe to show: suite results carry masked failing rows only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from wmp_pipeline import markdown as md
from wmp_pipeline.quality.gx.results import SuiteResult
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


def drops_check_metadata(results: list[SuiteResult], severity: str) -> dict[str, Any]:
    """Check metadata for every drop validated (one result per drop, oldest first).

    The counts and tables of :func:`suite_check_metadata` describe all drops
    together (failed expectations and failing rows are labelled by drop when
    there is more than one); ``drops`` lists each drop's outcome.
    """
    if len(results) == 1:
        return {**suite_check_metadata(results[0], severity), "drops_validated": 1}
    last = results[-1]
    failed = pd.concat(
        [failed_expectations_frame(r, severity).assign(drop=r.drop_id) for r in results if r.failures(severity)]
        or [pd.DataFrame()],
        ignore_index=True,
    )
    failing_rows = pd.concat(
        [r.failing_rows(severity).assign(drop=r.drop_id) for r in results if r.failures(severity)] or [pd.DataFrame()],
        ignore_index=True,
    )
    per_drop = pd.DataFrame(
        [
            {
                "drop": r.drop_id,
                "type": r.extract_type,
                "rows": r.rows_in_drop,
                "validated": r.rows_validated,
                "failed": len(r.failures(severity)),
                "expectations": "; ".join(o.label for o in r.failures(severity)),
            }
            for r in results
        ]
    )
    meta: dict[str, Any] = {
        "table": f"raw.connect_{last.table}",
        "drop_id": last.drop_id or "none",
        "extract_type": last.extract_type or "none",
        "drops_validated": len(results),
        "drops_failed": sum(1 for r in results if r.failures(severity)),
        "rows_in_drop": int(sum(r.rows_in_drop for r in results)),
        "rows_validated": int(sum(r.rows_validated for r in results)),
        "sampled": any(r.sampled for r in results),
        "expectations_evaluated": int(sum(len(r.outcomes_for(severity)) for r in results)),
        "expectations_failed": int(sum(len(r.failures(severity)) for r in results)),
        "unexpected_rows_total": int(sum(o.unexpected_count or 0 for r in results for o in r.failures(severity))),
        "elapsed_s": float(sum(r.elapsed_s for r in results)),
        "drops": ("md", markdown_table(per_drop)),
        "failed_expectations": ("md", markdown_table(failed)),
        "failing_rows_sample": ("md", markdown_table(failing_rows)),
    }
    notes = [f"{r.drop_id}: {r.sample_note}" for r in results if r.sample_note]
    if notes:
        meta["sample_note"] = "; ".join(notes)
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
