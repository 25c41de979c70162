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
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.iom.features import Feature
from wmp_pipeline.markdown import markdown_table


def _feature_summary(features: list[Feature]) -> str:
    lines = []
    for f in features:
        words = f.describe.replace("{v}", "N")
        lines.append(f"- `{f.name}`: {words}")
    return "\n".join(lines)


def write_model_card(
    cards_dir: Path,
    metadata: dict,
    summary: pd.DataFrame,
    fairness: pd.DataFrame,
    features: list[Feature],
    config: IomConfig,
    calibration_png: bytes | None = None,
    lift_png: bytes | None = None,
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
    metric_cols = [c for c in ["roc_auc", "pr_auc", "brier"] + [f"precision_at_{k}" for k in config.top_k] + [f"recall_at_{k}" for k in config.top_k] if c in summary.columns]
    metrics_md = markdown_table(summary[metric_cols].reset_index()) if len(summary) else "_no test week could be evaluated_"
    fair_cols = ["attribute", "group", "n", "base_rate", "selection_rate", "fpr", "fnr", "ppv", "auc", "mean_score", "flags"]
    fairness_md = (
        markdown_table(fairness[[c for c in fair_cols if c in fairness.columns]], floatfmt="{:.4f}")
        if len(fairness)
        else "_not available_"
    )

    if config.boost_from_logistic:
        model_text = (
            "xgboost gradient-boosted trees boosted from a regularised logistic regression's log-odds "
            "(xgboost base margin): the linear part carries the smooth additive risk, the trees the "
            "non-linear corrections and interactions. Parameters in metadata.json; the linear part in "
            "linear_init.json."
        )
    else:
        model_text = "xgboost gradient-boosted trees (parameters in metadata.json)."
    if config.monotone:
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

`harm_score` ranks by the current harm score (no probability, so no Brier score).

{images}
## Fairness audit (test weeks, xgboost, operating point = top {config.operating_top_k} a week)

Threshold on the calibrated probability: {metadata.get('operating_threshold', float('nan')):.4f}.
Flags (tolerance in docs/iom.md) are prompts for review, not verdicts:
selection-rate differences follow base-rate differences.

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
