"""What the briefing says about the served IOM model, from the newest ``iom_model_selection`` row.

Plain words for offender managers and their supervisors: which model
serves the list and why (the champion, its margin over the runner-up), how
well its probabilities are calibrated, what a list of the operating size
catches (sensitivity and precision with intervals) and over what horizon;
and, when the week's retraining failed, that last week's model keeps
serving and why. The briefing only places these lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import duckdb

from wmp_pipeline.iom.champion import LABELS

SELECTION = "iom_model_selection"


@dataclass
class ServedModelText:
    facts: list[tuple[str, str]] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    #: set when the newest retraining failed and an older model keeps serving
    warning: str = ""
    #: the horizon the probabilities are over, in words
    horizon: str = "12 months"


def _pct(value, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(v) else f"{100 * v:.{digits}f}%"


def _num(value, digits: int = 3) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(v) else f"{v:.{digits}f}"


def horizon_words(horizon_weeks) -> str:
    """``52`` -> ``"12 months (52 weeks)"``."""
    try:
        weeks = int(horizon_weeks)
    except (TypeError, ValueError):
        return "the model's horizon"
    return f"12 months ({weeks} weeks)" if weeks in (52, 53) else f"{weeks} weeks"


def latest_selection(con: duckdb.DuckDBPyConnection, forecast_date: date) -> dict | None:
    """The newest selection row dated on or before ``forecast_date`` (None: no table or no row)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [SELECTION]
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(
        f"select * from {SELECTION} where cast(forecast_date as date) <= ? order by forecast_date desc, created_at desc limit 1",
        [forecast_date],
    ).df()
    return rows.iloc[0].to_dict() if len(rows) else None


def served_model_text(row: dict | None) -> ServedModelText:
    out = ServedModelText()
    if not row:
        return out
    champion = str(row.get("served_model") or "")
    runner = row.get("runner_up")
    runner = None if runner is None or (isinstance(runner, float) and math.isnan(runner)) else str(runner)
    horizon = horizon_words(row.get("horizon_weeks"))
    out.horizon = horizon
    k = int(row.get("list_size") or 0)
    out.facts += [
        ("Served model", LABELS.get(champion, champion) or "–"),
        ("Runner-up", LABELS.get(runner, runner) if runner else "none"),
        (f"Margin ({str(row.get('primary_metric') or '').replace('_', ' ')})", _num(row.get("margin"), 3)),
        ("Calibration error (ECE)", _num(row.get("ece"), 3)),
        (f"Sensitivity at {k}", f"{_pct(row.get('sensitivity'))} ({_pct(row.get('sensitivity_low'))}–{_pct(row.get('sensitivity_high'))})"),
        (f"Precision at {k}", f"{_pct(row.get('precision'))} ({_pct(row.get('precision_low'))}–{_pct(row.get('precision_high'))})"),
        ("Horizon", horizon),
    ]
    if runner:
        choice = (
            f"The list comes from the {LABELS.get(champion, champion)}, the champion of the backtest: over "
            f"{int(row.get('n_test_weeks') or 0)} test weeks it found {_pct(row.get('champion_value'), 1)} of its top {k} "
            f"going on to high harm, against {_pct(row.get('runner_up_value'), 1)} for the runner-up "
            f"({LABELS.get(runner, runner)})."
        )
        if row.get("kept_simpler"):
            choice += " A more complex model did slightly better but not beyond the week-to-week noise, so the simpler one serves."
    else:
        choice = f"The list comes from the {LABELS.get(champion, champion)}, the only candidate that could be compared."
    out.sentences.append(choice)
    out.sentences.append(
        f"Probabilities are of reaching high harm within {horizon}. Their expected calibration error is "
        f"{_num(row.get('ece'), 3)} (a predicted 10% means about 10% within that error). Over the test weeks a list of "
        f"{k} a week held {_pct(row.get('sensitivity'))} of the people who went on to reach high harm (sensitivity; "
        f"95% interval {_pct(row.get('sensitivity_low'))} to {_pct(row.get('sensitivity_high'))}) and "
        f"{_pct(row.get('precision'))} of those listed did (precision; {_pct(row.get('precision_low'))} to "
        f"{_pct(row.get('precision_high'))}). Published figures (West Midlands IOM sensitivity 75%; Avon and Somerset "
        "precision 0.755, recall 0.339) use other cohorts and definitions: see the model card."
    )
    if row.get("status") == "kept_previous":
        out.warning = (
            f"This week's retraining failed, so last week's model ({row.get('served_model_version')}) keeps serving the "
            f"list. Why: {row.get('message')}"
        )
    return out
