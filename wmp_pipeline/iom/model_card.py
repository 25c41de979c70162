"""The model card written beside every trained IOM model.

A markdown page for the ethics committee, the Local Offender Management
Units and auditors: what the model is for and not for, the data window,
the features, the rolling-origin metrics against both baselines, the
fairness audit and the limitations. Written to
``<artifacts_dir>/model_cards/<version>.md`` with its two plots beside it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wmp_pipeline.harm import BAND_LABELS
from wmp_pipeline.iom.champion import LABELS
from wmp_pipeline.iom.config import IomConfig, horizon_in_words
from wmp_pipeline.iom.features import Feature
from wmp_pipeline.markdown import markdown_table


def _feature_summary(features: list[Feature]) -> str:
    lines = []
    for f in features:
        words = f.describe.replace("{v}", "N")
        lines.append(f"- `{f.name}`: {words}")
    return "\n".join(lines)


#: the published figures the operating point is set beside, and how their definitions differ
PUBLISHED_FIGURES = (
    ("West Midlands Police IOM (published)", "sensitivity 75%",
     "share of the people who went on to cause high harm that the IOM process had identified; the cohort, the "
     "harm definition and the period are the force's, not this model's list of a fixed size each week"),
    ("Avon and Somerset offender model (published)", "precision 0.755, recall 0.339",
     "a different force, population and outcome (its own definition of high harm and horizon), with the cut-off "
     "chosen by that force; not a list of a fixed size among people who are not yet high harm"),
)


def _num(value, digits: int = 3) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if v != v else f"{v:.{digits}f}"


def selection_markdown(selection: dict, calibration: dict) -> str:
    """The champion paragraph: who serves, by what margin over whom, and its calibration."""
    if not selection:
        return "_no champion choice recorded (a model trained before the champion choice)_"
    champion, runner = selection.get("champion"), selection.get("runner_up")
    metric = selection.get("primary_metric", "")
    primary = selection.get("primary", {})
    lines = [
        f"**Served model (champion): {LABELS.get(champion, champion)}** (`{champion}`), chosen by mean {metric.replace('_', ' ')} "
        f"over {selection.get('n_weeks', 0)} rolling-origin test weeks (tie-break {selection.get('tiebreak_metric', 'roc_auc').replace('_', ' ')}).",
    ]
    if runner:
        lines.append(
            f"Runner-up: {LABELS.get(runner, runner)} (`{runner}`). Margin (champion minus runner-up, {metric.replace('_', ' ')}): "
            f"{_num(selection.get('margin'), 4)} (90% paired bootstrap interval over test weeks {_num(selection.get('margin_low'), 4)} "
            f"to {_num(selection.get('margin_high'), 4)}); the champion was ahead in {_num(100 * float(selection.get('win_share') or float('nan')), 0)}% of draws."
        )
    lines.append(f"Why: {selection.get('reason', '')}.")
    table = "| candidate | " + metric.replace("_", " ") + " | " + selection.get("tiebreak_metric", "roc_auc").replace("_", " ") + " |\n|---|---|---|\n"
    for name, value in sorted(primary.items(), key=lambda kv: -kv[1]):
        table += f"| {name}{' (served)' if name == champion else ''} | {_num(value, 4)} | {_num(selection.get('tiebreak', {}).get(name), 4)} |\n"
    for name, why in (selection.get("excluded") or {}).items():
        table += f"| {name} (not compared: {why}) | – | – |\n"
    ece = calibration.get("ece")
    goal = calibration.get("ece_goal", 0.01)
    cal = (
        f"Calibration of the served model, all test weeks pooled: expected calibration error **{_num(ece, 4)}** "
        f"(goal at most {goal:g}: {'met' if ece is not None and ece == ece and ece <= goal else 'not met'}), "
        f"Brier skill against the base rate **{_num(calibration.get('brier_skill'), 3)}**. Per test week: `ece` and "
        "`brier_skill` rows of `iom_model_metrics`."
    )
    return "\n".join(lines) + "\n\n" + table + "\n" + cal


def operating_markdown(operating: pd.DataFrame | None, list_size: int, horizon: str) -> str:
    """The operating point at the list size, pooled over the test weeks, beside the published figures."""
    if operating is None or len(operating) == 0:
        return "_not available_"
    rows = operating.copy()
    def interval(r, name):
        return f"{_num(r[name], 3)} ({_num(r[name + '_low'], 3)} to {_num(r[name + '_high'], 3)})"
    lines = ["| group | flagged (person-weeks) | escalations | sensitivity (95% CI) | precision (95% CI) |", "|---|---|---|---|---|"]
    for r in rows.to_dict(orient="records"):
        label = "everyone" if r["attribute"] == "all" else f"{r['attribute']} = {r['group']}"
        if r.get("suppressed"):
            lines.append(f"| {label} | suppressed (fewer than the minimum group size) | | | |")
            continue
        lines.append(f"| {label} | {_num(r['n_flagged'], 0)} | {_num(r['positives'], 0)} | {interval(r, 'sensitivity')} | {interval(r, 'precision')} |")
    published = "\n".join(f"- {name}: {figure}. Differs: {how}." for name, figure, how in PUBLISHED_FIGURES)
    return (
        f"Each test week the {list_size} eligible people with the highest scores are flagged; pooled over the test weeks, "
        f"**sensitivity** is the share of everyone who reached high harm within {horizon} who had been flagged, "
        f"**precision** the share of those flagged who did. Intervals are Wilson 95% intervals over person-weeks "
        f"(a person flagged in several weeks counts each week, so they are somewhat too narrow). Groups are the served "
        f"list broken down; groups smaller than the minimum size are suppressed.\n\n" + "\n".join(lines)
        + "\n\nBeside the published figures:\n\n" + published
        + "\n\nA list of a fixed size each week cannot reach a sensitivity of 75% when the week's escalations far "
        "outnumber the list: sensitivity here grows with the list size, precision falls."
    )


def write_model_card(
    cards_dir: Path,
    metadata: dict,
    summary: pd.DataFrame,
    fairness: pd.DataFrame,
    features: list[Feature],
    config: IomConfig,
    calibration_png: bytes | None = None,
    lift_png: bytes | None = None,
    operating: pd.DataFrame | None = None,
) -> Path:
    """Write the card and return its path. ``summary``: mean metrics per model (rows) and metric (columns)."""
    cards_dir = Path(cards_dir)
    cards_dir.mkdir(parents=True, exist_ok=True)
    version = metadata["version"]
    images = ""
    if calibration_png:
        (cards_dir / f"{version}_calibration.png").write_bytes(calibration_png)
        images += f"![calibration]({version}_calibration.png)\n"
    if lift_png:
        (cards_dir / f"{version}_lift.png").write_bytes(lift_png)
        images += f"![lift]({version}_lift.png)\n"

    t = config.thresholds
    w = config.windows
    metric_cols = [c for c in ["roc_auc", "pr_auc", "brier", "brier_skill", "ece"] + [f"precision_at_{k}" for k in config.top_k] + [f"recall_at_{k}" for k in config.top_k] if c in summary.columns]
    metrics_md = markdown_table(summary[metric_cols].reset_index()) if len(summary) else "_no test week could be evaluated_"
    fair_cols = ["attribute", "group", "n", "base_rate", "selection_rate", "fpr", "fnr", "ppv", "auc", "mean_score", "flags"]
    fairness_md = (
        markdown_table(fairness[[c for c in fair_cols if c in fairness.columns]], floatfmt="{:.4f}")
        if len(fairness)
        else "_not available_"
    )

    kind = metadata.get("model_kind", "xgboost")
    horizon = horizon_in_words(w.horizon_days)
    if kind == "logistic":
        model_text = (
            "Regularised (L2) logistic regression on the signed log of counts and harm, 'never' days set to ten "
            "years, standardised (coefficients and transform in model.json)."
        )
    elif kind == "harm_score":
        model_text = "Ranking by the current harm score (nothing fitted but the probability calibration)."
    elif config.boost_from_logistic:
        model_text = (
            "xgboost gradient-boosted trees boosted from a regularised logistic regression's log-odds "
            "(xgboost base margin): the linear part carries the smooth additive risk, the trees the "
            "non-linear corrections and interactions. Parameters in metadata.json; the linear part in "
            "linear_init.json."
        )
    else:
        model_text = "xgboost gradient-boosted trees (parameters in metadata.json)."
    if config.monotone and kind == "xgboost":
        model_text += (
            " The trees are monotone: more charges, more harm or more recent activity never lower a score, "
            "more days since the last charge never raise it (age, career length and trends are left free)."
        )
    fit_rows_text = (
        f"at most {config.max_fit_rows:,} rows (a seeded hash sample)" if config.max_fit_rows else "all rows"
    )
    text = f"""# Model card: IOM escalation model `{version}`

Trained for the week of **{metadata['trained_for']}** at {metadata.get('trained_at', '')}.
Training data sha256: `{metadata['training_data_sha256']}`.
Served model: **{LABELS.get(kind, kind)}**. Horizon: the probability of reaching high harm
within **{horizon}** (`horizon_weeks` = {config.horizon_weeks} in every score and metric row).

## Champion by backtest

{selection_markdown(metadata.get('selection', {}), metadata.get('calibration', {}))}

## Operating point: the list of {config.operating_top_k} a week

{operating_markdown(operating, config.operating_top_k, horizon)}

## Intended use and users

- **Users**: Local Offender Management Units (LOMU) of West Midlands Police
  and the local Neighbourhood Policing Teams they work with.
- **Use**: each week, rank charged offenders who are *not yet* high harm by
  their estimated probability of becoming high harm within {w.horizon_days} days,
  low-medium band first, so that offender managers can **research and
  cross-reference** them (with other sources and officers' local knowledge)
  when deciding who to consider for preventive offender management.
- **Not for**: any decision about charge, bail, custody, sentence,
  stop and search or intelligence grading; any automated decision; anyone
  who has not been charged. The score is a prompt for human review, never a
  finding about a person.

## Definitions

- Harm score on date d: sum of the Cambridge-Crime-Harm-Index-style weights
  (days) of the person's active charges dated in [d - {w.window_days} days, d); unknown
  offence codes weigh 0.
- Bands: {BAND_LABELS['low']} < {t.low_medium_min:g} <= {BAND_LABELS['low_medium']} < {t.high_medium_min:g} <=
  {BAND_LABELS['high_medium']} < {t.high_min:g} <= {BAND_LABELS['high']} < {t.super_high_min:g} <= {BAND_LABELS['super_high']}.
- Eligible on d: charged in [d - {w.lookback_days} days, d) and harm score below {t.high_min:g}.
- Outcome: the harm score reaches {t.high_min:g} at some time in (d, d + {w.horizon_days} days].

## Data

- Source: CONNECT weekly extracts (charges, persons), internal police data only.
- Training snapshots: every {config.snapshot_stride_weeks} weeks, dated {metadata['training_window']['first_week']}
  to {metadata['training_window']['last_week']} (only snapshots whose {w.horizon_days}-day outcome was
  fully observed by the training date); {metadata['n_training_rows']:,} rows,
  {metadata['n_training_positives']:,} of them positive. Negatives sampled at
  {config.negative_sample_rate:g}; the newest {config.calibration_share:.0%} of training dates is held out
  to calibrate probabilities ({config.calibration_method}).
- Sex and ethnicity are **not** model inputs; they are used only for the fairness audit below.

## Model

{model_text}
Fitted on {fit_rows_text} of the training snapshots; probabilities calibrated ({config.calibration_method}) on the held-out
later slice. Reasons shown to users are the three largest per-person
contributions to the log-odds.

## Features ({len(features)})

{_feature_summary(features)}

## Rolling-origin evaluation

Test weeks: {metadata.get('n_test_weeks', 0)} (every {config.test_every_weeks} weeks over the last
{config.backtest_span_weeks} weeks with complete outcomes). For each test week the models
are trained only on snapshots whose outcomes were known by then (train and
test separated by the {w.horizon_days}-day horizon). Means over test weeks:

{metrics_md}

`harm_score` ranks by the current harm score; like the other candidates its score is calibrated
on the held-out later slice, so it has a Brier score and a calibration error too. `ece` is the expected
calibration error over {config.ece_bins} equal-count bins; `brier_skill` is 1 - Brier / (base rate x (1 - base rate)).

{images}
## Fairness audit (test weeks, served model, operating point = top {config.operating_top_k} a week)

Threshold on the calibrated probability: {metadata.get('operating_threshold', float('nan')):.4f}.
Flags (tolerance in docs/iom.md) are prompts for review, not verdicts:
selection-rate differences follow base-rate differences. Groups of fewer than
{config.min_reported_group_size} people are suppressed.

{fairness_md}

## Limitations

- Trained on charges only: offending that is not detected or not charged is
  invisible, and differences in policing between areas or groups carry into
  the data and so into the score.
- History before the extract's first date is unknown; "on record" features
  count only what the extract holds.
- The harm weights are a documented stand-in for the licensed Cambridge
  Crime Harm Index (see dbt_project/seeds/README.md).
- Probabilities are calibrated on the population of recent years; a change
  in charging practice, in the CONNECT feed or in the offence reference
  can shift them until the next retraining.
- The model ranks people; at any caseload most of those ranked highly will
  **not** become high harm (see precision at k above).
"""
    path = cards_dir / f"{version}.md"
    path.write_text(text, encoding="utf-8")
    return path
