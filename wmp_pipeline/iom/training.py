"""The decisions of a training run, as pure functions (no database, no files).

- :func:`training_decision`: is retraining due this week (the one place the
  cadence is applied)?
- :func:`evaluate_and_select`: the rolling-origin backtest of every
  candidate, the champion choice, the final fit of the champion, its
  calibration and operating point and the fairness audit. It raises
  :class:`TrainingFailed` with a message naming what is missing when the
  data cannot support a choice, or a candidate fails to fit.

:mod:`.runner` turns the outcome into files and tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from wmp_pipeline.evaluation.classification import operating_point
from wmp_pipeline.evaluation.fairness import suppress_small_groups
from wmp_pipeline.iom import artifacts
from wmp_pipeline.iom.audit import AUDIT_ATTRIBUTES, audit_predictions
from wmp_pipeline.iom.backtest import Candidate, fit_models, metrics_table, rolling_origin, summary_wide, training_positions
from wmp_pipeline.iom.champion import Selection, select_champion
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.iom.features import Feature
from wmp_pipeline.progress import Progress

#: the operating point is broken down by these columns of the test predictions (when present)
AREA_COLUMN = "local_policing_area"


class TrainingFailed(ValueError):
    """The run could not train and choose a model; the message says what is missing."""


@dataclass
class TrainingDecision:
    due: bool
    reason: str
    #: the newest model trained for this week or earlier (None: none yet)
    newest: artifacts.SavedModel | None


def training_decision(artifacts_dir: Path, forecast_date: date, features: list[Feature], config: IomConfig, force: bool = False) -> TrainingDecision:
    """Retrain when forced, when there is no model, when the newest is ``retrain_every_weeks`` old, or the features changed."""
    newest = artifacts.newest_model(artifacts_dir, on_or_before=forecast_date, features=features)
    due, reason = artifacts.retraining_due(newest, forecast_date, config.retrain_every_weeks, [f.name for f in features])
    if force:
        due, reason = True, "retraining forced"
    return TrainingDecision(due, reason, newest)


def history_needed_days(config: IomConfig) -> int:
    """Days of charges a force needs before the week scored to backtest and train every candidate.

    The first snapshot comes ``min_history_days`` after the first charge; a
    fit needs 3 snapshot dates with complete outcomes (a horizon later); a
    test week needs that fit a horizon before it.
    """
    return config.min_history_days + 2 * config.windows.horizon_days + 3 * 7 * config.snapshot_stride_weeks


def _history_message(forecast_date: date, what: str, config: IomConfig) -> str:
    need = history_needed_days(config)
    return (
        f"cannot train the IOM model for {forecast_date}: {what}. A snapshot's outcome is complete a "
        f"{config.windows.horizon_days}-day horizon after it, the first snapshot comes {config.min_history_days} days "
        f"after the first charge in the data, and the candidates are compared on test weeks a further horizon later, "
        f"so training needs charges over at least {need} days (about {need / 365.25:.1f} years) before the week scored"
    )


@dataclass
class TrainingOutcome:
    """Everything a training run decided, before anything is written."""

    predictions: pd.DataFrame
    origins: pd.DataFrame
    metrics: pd.DataFrame
    summary: pd.DataFrame
    selection: Selection
    served: Candidate
    #: the final fit's training rows (positions in the snapshot frame) and windows
    train_positions: np.ndarray
    fit_weeks: tuple[date, date]
    calibration_weeks: tuple[date, date]
    #: the served model's pooled calibration (mean over test weeks in ``summary``)
    ece: float
    brier_skill: float
    #: operating point at the list size: an ``all`` row, then groups (small ones suppressed)
    operating: pd.DataFrame
    fairness: pd.DataFrame
    threshold: float
    timings: dict = field(default_factory=dict)

    @property
    def overall(self) -> dict:
        rows = self.operating[self.operating["attribute"] == "all"]
        return rows.iloc[0].to_dict() if len(rows) else {}


def _failures(origins: pd.DataFrame) -> list[str]:
    """Test weeks where a candidate failed to fit, with the candidate and its error."""
    out = []
    for r in origins.itertuples():
        failed = getattr(r, "failed", "")
        if isinstance(failed, str) and failed:
            out.append(f"{r.test_week}: {failed}")
        elif isinstance(r.reason, str) and r.reason.startswith("no candidate could be fitted"):
            out.append(f"{r.test_week}: {r.reason}")
    return out


def served_operating_point(predictions: pd.DataFrame, model: str, config: IomConfig) -> pd.DataFrame:
    """The served model's operating point at the list size: all, then per area (if the data has one) and fairness group."""
    p = predictions[predictions["model"] == model]
    y, s, w = p["label"].to_numpy(int), p["score"].to_numpy(float), p["test_week"].to_numpy(object)
    parts = [operating_point(y, s, w, config.operating_top_k).assign(attribute="all")]
    for attribute in (AREA_COLUMN, *AUDIT_ATTRIBUTES):
        if attribute in p.columns:
            table = operating_point(y, s, w, config.operating_top_k, groups=p[attribute].to_numpy(object))
            parts.append(table[table["group"] != "all"].assign(attribute=attribute))
    table = pd.concat(parts, ignore_index=True)
    table.insert(0, "attribute", table.pop("attribute"))
    table.insert(0, "model", model)
    return suppress_small_groups(table, config.min_reported_group_size)


def evaluate_and_select(
    frame: pd.DataFrame,
    test_weeks: list[date],
    features: list[Feature],
    config: IomConfig,
    forecast_date: date,
    log=None,
) -> TrainingOutcome:
    """Backtest every candidate, choose the champion, fit it for ``forecast_date``; raises :class:`TrainingFailed`."""
    timings: dict[str, float] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        t = time.monotonic()
        with Progress("iom rolling-origin backtest", total=len(test_weeks), log=log) as progress:
            predictions, origins = rolling_origin(frame, test_weeks, features, config, progress=progress)
        timings["backtest_s"] = time.monotonic() - t
        failed = _failures(origins)
        if failed:
            raise TrainingFailed(
                f"cannot train the IOM model for {forecast_date}: a candidate failed to fit in the rolling-origin "
                f"backtest ({'; '.join(failed)}), so the candidates cannot all be compared"
            )
        if predictions.empty:
            skipped = "; ".join(f"{r.test_week}: {r.reason}" for r in origins.itertuples()) if len(origins) else "no test week"
            raise TrainingFailed(_history_message(forecast_date, f"no rolling-origin test week could be scored ({skipped})", config))
        metrics = metrics_table(predictions, config.top_k, config.ece_bins)
        try:
            selection = select_champion(
                metrics, config.primary_metric, config.candidates, config.bootstrap_draws, config.win_confidence, config.seed
            )
        except ValueError as exc:
            raise TrainingFailed(_history_message(forecast_date, str(exc), config)) from exc

        t = time.monotonic()
        train_pos = training_positions(frame, forecast_date, config)
        try:
            fitted = fit_models(frame, features, config, train_pos, candidates=(selection.champion,))
        except ValueError as exc:
            raise TrainingFailed(_history_message(forecast_date, str(exc), config)) from exc
        if selection.champion not in fitted.candidates:
            raise TrainingFailed(
                f"cannot train the IOM model for {forecast_date}: the champion {selection.champion} failed to fit on "
                f"the final training window ({fitted.failures.get(selection.champion, 'unknown error')})"
            )
        timings["final_fit_s"] = time.monotonic() - t

    champion = selection.champion
    pooled = metrics[(metrics["scope"] == "pooled") & (metrics["model"] == champion)].set_index("metric")["value"]
    fairness, threshold = audit_predictions(
        predictions, config.operating_top_k, model=champion, min_reported_group_size=config.min_reported_group_size
    )
    return TrainingOutcome(
        predictions=predictions.assign(served=predictions["model"] == champion),
        origins=origins,
        metrics=metrics,
        summary=summary_wide(metrics),
        selection=selection,
        served=fitted.candidates[champion],
        train_positions=train_pos,
        fit_weeks=fitted.fit_weeks,
        calibration_weeks=fitted.calibration_weeks,
        ece=float(pooled.get("ece", np.nan)),
        brier_skill=float(pooled.get("brier_skill", np.nan)),
        operating=served_operating_point(predictions, champion, config),
        fairness=fairness,
        threshold=threshold,
        timings=timings,
    )
