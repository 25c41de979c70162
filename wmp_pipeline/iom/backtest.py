"""Rolling-origin training and testing of the escalation model and its baselines.

For each test week ``T`` (a snapshot date whose horizon is complete):

- **training rows** are snapshots dated ``d <= T - horizon``: their labels
  were fully observed by ``T``, so nothing the model learns comes from the
  test period (train and test are separated by the whole horizon);
- the newest ``calibration_share`` of the training *dates* is held out and
  used only to fit the calibrator (time-ordered, never shuffled);
- the **test rows** are every eligible person at ``T`` (no sampling).

The same training rows fit xgboost and the logistic baseline; the third
baseline ranks by the current harm score. All three are scored on the same
test rows, so their metrics are directly comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from wmp_pipeline.evaluation.classification import classification_summary
from wmp_pipeline.iom.config import DEFAULT_CONFIG, IomConfig
from wmp_pipeline.iom.features import Feature, monotone_direction
from wmp_pipeline.iom.models import Calibrator, LogisticEscalationModel, XgbEscalationModel

MODELS = ("xgboost", "logistic", "harm_score")
#: minimum positives to fit a model, and to fit its calibrator
MIN_FIT_POSITIVES = 20
MIN_CALIBRATION_POSITIVES = 5
#: minimum snapshot dates in a training window (the newest ones calibrate)
MIN_TRAINING_DATES = 3


def choose_test_weeks(weeks: list[date], as_of: date, config: IomConfig = DEFAULT_CONFIG) -> list[date]:
    """Test weeks: every ``test_every_weeks`` back from the newest complete snapshot, over the span."""
    horizon = timedelta(days=config.windows.horizon_days)
    complete = sorted(w for w in weeks if w + horizon <= as_of)
    if not complete:
        return []
    newest = complete[-1]
    earliest = newest - timedelta(weeks=config.backtest_span_weeks - 1)
    step = config.test_every_weeks * 7
    return [w for w in complete if w >= earliest and (newest - w).days % step == 0]


def training_positions(snapshots: pd.DataFrame, origin: date, config: IomConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Row positions of the sampled snapshots whose horizon ended by ``origin`` (labels known then)."""
    horizon = pd.Timedelta(days=config.windows.horizon_days)
    weeks = pd.to_datetime(snapshots["week"])
    mask = snapshots["in_training_sample"].astype(bool) & (weeks + horizon <= pd.Timestamp(origin))
    return np.flatnonzero(mask.to_numpy())


def training_rows(snapshots: pd.DataFrame, origin: date, config: IomConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """The rows of :func:`training_positions`."""
    return snapshots.iloc[training_positions(snapshots, origin, config)]


def split_positions(weeks, positions: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Split ``positions`` into (fit, calibration): the newest ``share`` of their dates calibrate."""
    w = np.asarray(weeks, dtype=object)[positions]
    dates = np.array(sorted(set(w)), dtype=object)
    if len(dates) < MIN_TRAINING_DATES:
        raise ValueError(f"only {len(dates)} snapshot dates with complete outcomes (need {MIN_TRAINING_DATES})")
    n_cal = min(max(1, int(round(share * len(dates)))), len(dates) - 1)
    is_cal = np.isin(w, dates[-n_cal:])
    return positions[~is_cal], positions[is_cal]


def split_fit_calibration(train: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out the newest ``share`` of the training dates for calibration."""
    fit, cal = split_positions(train["week"].to_numpy(), np.arange(len(train)), share)
    return train.iloc[fit], train.iloc[cal]


def cap_positions(frame: pd.DataFrame, positions: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """At most ``max_rows`` of ``positions``, chosen by a seeded hash of (person, week), in (week, person) order.

    Neither the choice nor the order depends on the order the rows were
    read in, so retraining on the same data gives the same model.
    """
    keys = pd.DataFrame({"week": frame["week"].to_numpy()[positions], "person_id": frame["person_id"].to_numpy()[positions]})
    if max_rows and len(positions) > max_rows:
        text = keys["person_id"].astype(str) + "|" + keys["week"].astype(str)
        h = pd.util.hash_pandas_object(text, index=False, hash_key=f"{seed:016d}"[:16]).to_numpy()
        keep = np.argpartition(h, max_rows - 1)[:max_rows]
        keys, positions = keys.iloc[keep], positions[keep]
    order = keys.reset_index(drop=True).sort_values(["week", "person_id"], kind="mergesort").index.to_numpy()
    return positions[order]


@dataclass
class FittedModels:
    xgb: XgbEscalationModel
    xgb_calibrator: Calibrator
    logistic: LogisticEscalationModel
    logistic_calibrator: Calibrator
    fit_weeks: tuple[date, date]
    calibration_weeks: tuple[date, date]
    n_fit: int
    n_fit_positives: int
    n_calibration: int
    n_calibration_positives: int


def fit_models(
    snapshots: pd.DataFrame,
    features: list[Feature],
    config: IomConfig = DEFAULT_CONFIG,
    positions: np.ndarray | None = None,
) -> FittedModels:
    """Fit xgboost and logistic on the older training dates, calibrate both on the newest.

    ``positions`` picks the training rows of ``snapshots`` (default: all);
    only the capped fit rows and the calibration rows are ever copied.
    """
    positions = np.arange(len(snapshots)) if positions is None else positions
    fit_pos, cal_pos = split_positions(snapshots["week"].to_numpy(), positions, config.calibration_share)
    fit = snapshots.iloc[cap_positions(snapshots, fit_pos, config.max_fit_rows, config.seed)]
    cal = snapshots.iloc[cal_pos]
    if fit["label"].sum() < MIN_FIT_POSITIVES:
        raise ValueError(f"only {int(fit['label'].sum())} positives to fit on (need {MIN_FIT_POSITIVES})")
    if cal["label"].sum() < MIN_CALIBRATION_POSITIVES:
        raise ValueError(f"only {int(cal['label'].sum())} positives to calibrate on (need {MIN_CALIBRATION_POSITIVES})")
    names = [f.name for f in features]
    y_fit = fit["label"].to_numpy(dtype=int)
    y_cal = cal["label"].to_numpy(dtype=int)
    w_cal = cal["sample_weight"].to_numpy(dtype=float)
    logit = LogisticEscalationModel(features, c=config.logistic_c, seed=config.seed).fit(fit, y_fit)
    logit_cal = Calibrator(config.calibration_method).fit(logit.score(cal), y_cal, w_cal)
    init = logit if config.boost_from_logistic else None
    params = dict(config.xgb_params)
    if config.monotone:
        params["monotone_constraints"] = "(" + ",".join(str(monotone_direction(f)) for f in features) + ")"
    xgb_model = XgbEscalationModel(names, params, seed=config.seed, init=init).fit(fit, y_fit)
    xgb_cal = Calibrator(config.calibration_method).fit(xgb_model.score(cal), y_cal, w_cal)
    return FittedModels(
        xgb=xgb_model,
        xgb_calibrator=xgb_cal,
        logistic=logit,
        logistic_calibrator=logit_cal,
        fit_weeks=(min(fit["week"]), max(fit["week"])),
        calibration_weeks=(min(cal["week"]), max(cal["week"])),
        n_fit=len(fit),
        n_fit_positives=int(y_fit.sum()),
        n_calibration=len(cal),
        n_calibration_positives=int(y_cal.sum()),
    )


def predict_all(models: FittedModels, rows: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """model name -> (ranking score, calibrated probability or None)."""
    xgb_raw = models.xgb.score(rows)
    logit_raw = models.logistic.score(rows)
    return {
        "xgboost": (xgb_raw, models.xgb_calibrator.predict(xgb_raw)),
        "logistic": (logit_raw, models.logistic_calibrator.predict(logit_raw)),
        "harm_score": (rows["harm_score"].to_numpy(dtype=float), None),
    }


PREDICTION_KEEP = ["person_id", "week", "label", "harm_score", "band", "sex", "ethnicity_group", "age_band"]


def rolling_origin(
    snapshots: pd.DataFrame,
    test_weeks: list[date],
    features: list[Feature],
    config: IomConfig = DEFAULT_CONFIG,
    progress=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train at each test week's origin and predict that week.

    Models are refitted when ``backtest_refit_every_weeks`` have passed since
    the last fit (the origin); in between, the last fit predicts the later
    test weeks, exactly as the weekly pipeline reuses its newest model. The
    training rows of a fit at origin ``O`` end at ``O - horizon``, so they
    never overlap a test week ``T >= O``.

    Returns ``(predictions, origins)``: predictions have one row per test
    person, week and model (``score``, ``probability``); origins one row
    per test week with the training window and sizes, or the reason it was
    skipped.
    """
    preds, origins = [], []
    week_col = pd.to_datetime(snapshots["week"]).dt.date
    fitted: FittedModels | None = None
    fitted_origin: date | None = None
    refit_every = timedelta(weeks=max(config.backtest_refit_every_weeks, 1))
    for t in sorted(test_weeks):
        test = snapshots.loc[(week_col == t) & snapshots["label"].notna()]
        try:
            if test.empty:
                raise ValueError("no labelled test snapshots")
            if fitted is None or t - fitted_origin >= refit_every:
                fitted = fit_models(snapshots, features, config, training_positions(snapshots, t, config))
                fitted_origin = t
        except ValueError as exc:
            origins.append({"test_week": t, "status": "skipped", "reason": str(exc)})
            if progress is not None:
                progress.update(1, note=f"{t} skipped")
            continue
        origins.append(
            {
                "test_week": t,
                "status": "tested",
                "reason": "",
                "origin": fitted_origin,
                "fit_from": fitted.fit_weeks[0],
                "fit_to": fitted.fit_weeks[1],
                "calibration_from": fitted.calibration_weeks[0],
                "calibration_to": fitted.calibration_weeks[1],
                "n_fit": fitted.n_fit,
                "n_fit_positives": fitted.n_fit_positives,
                "n_calibration": fitted.n_calibration,
                "n_test": len(test),
                "n_test_positives": int(test["label"].sum()),
            }
        )
        base = test[PREDICTION_KEEP].reset_index(drop=True)
        base["label"] = base["label"].astype(int)
        for model, (score, prob) in predict_all(fitted, test).items():
            frame = base.copy()
            frame["model"] = model
            frame["score"] = score
            frame["probability"] = prob if prob is not None else np.nan
            preds.append(frame)
        if progress is not None:
            progress.update(1, note=str(t))
    predictions = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(columns=PREDICTION_KEEP + ["model", "score", "probability"])
    predictions = predictions.rename(columns={"week": "test_week"})
    return predictions, pd.DataFrame(origins)


def metrics_table(predictions: pd.DataFrame, top_k=(100, 250, 500)) -> pd.DataFrame:
    """Long table ``model, test_week, metric, value``; ``test_week`` NaT rows are means over weeks."""
    rows = []
    for (model, week), g in predictions.groupby(["model", "test_week"], sort=True):
        prob = g["probability"].to_numpy(dtype=float)
        summary = classification_summary(
            g["label"].to_numpy(dtype=int),
            g["score"].to_numpy(dtype=float),
            y_prob=None if np.isnan(prob).all() else prob,
            top_k=top_k,
        )
        rows += [{"model": model, "test_week": week, "metric": k, "value": v} for k, v in summary.items()]
    table = pd.DataFrame(rows, columns=["model", "test_week", "metric", "value"])
    if table.empty:
        return table
    means = table.groupby(["model", "metric"], sort=True)["value"].mean().reset_index()
    means["test_week"] = None
    return pd.concat([table, means[table.columns]], ignore_index=True)


def summary_wide(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean over test weeks, one row per model, one column per metric."""
    means = metrics[metrics["test_week"].isna()]
    return means.pivot(index="model", columns="metric", values="value")
