"""Turning quality results into the plain metadata a Dagster check shows.

Kept apart from the Dagster definitions so the text (what an operator reads
when a check fails) is tested without running Dagster. Values here are
already safe to show: suite results carry masked failing rows only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from wmp_pipeline.quality.gx_suites import SuiteResult
from wmp_pipeline.quality.reconciliation import ReconciliationReport


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def markdown_table(frame: pd.DataFrame, max_rows: int = 20) -> str:
    """A GitHub-style markdown table of the first ``max_rows`` rows (``_none_`` when empty)."""
    if frame is None or frame.empty:
        return "_none_"
    shown = frame.head(max_rows)
    lines = [
        "| " + " | ".join(_cell(c) for c in shown.columns) + " |",
        "|" + "---|" * len(shown.columns),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    if len(frame) > max_rows:
        lines.append(f"\n_{len(frame) - max_rows:,} more row(s) not shown_")
    return "\n".join(lines)


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
