"""The IOM steps the Dagster assets (and scripts) call: snapshots, training, audit, scoring.

Each step takes an open DuckDB connection (the pipeline's single writer),
the forecast date and an :class:`IomConfig`, writes its tables and returns
a small result with what the asset shows as metadata. Nothing here logs or
returns a person identifier.

Tables written (working database):

- ``iom_snapshots``: snapshot features (person_id; not published);
- ``iom_backtest_predictions``: the newest training run's rolling-origin test
  predictions (person_id; not published; read by the fairness audit and by
  ``python -m wmp_pipeline.iom.evaluate_truth``);
- ``iom_model_metrics``: metrics per run, model and test week (analyst);
- ``iom_fairness_audit``: the audit per run and group (analyst);
- ``iom_risk_scores`` and ``restricted_person_keys`` (see :mod:`.scoring`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from wmp_pipeline import tables, warehouse
from wmp_pipeline.iom import artifacts
from wmp_pipeline.iom.audit import audit_predictions
from wmp_pipeline.iom.backtest import (
    choose_test_weeks,
    fit_models,
    metrics_table,
    rolling_origin,
    summary_wide,
    training_positions,
)
from wmp_pipeline.iom.config import DEFAULT_CONFIG, IomConfig
from wmp_pipeline.iom.features import Feature, feature_catalogue
from wmp_pipeline.iom.model_card import write_model_card
from wmp_pipeline.iom.plots import calibration_png, lift_png
from wmp_pipeline.iom.scoring import score_week, write_scores
from wmp_pipeline.iom.snapshots import (
    AUDIT_COLUMNS,
    build_snapshots,
    first_charge_date,
    snapshot_dates,
)
from wmp_pipeline.privacy.pseudonymise import check_key
from wmp_pipeline.progress import Progress
from wmp_pipeline.settings import Settings

SNAPSHOTS = tables.IOM_SNAPSHOTS
BACKTEST = tables.IOM_BACKTEST_PREDICTIONS
METRICS = tables.IOM_MODEL_METRICS
FAIRNESS = tables.IOM_FAIRNESS_AUDIT

METRICS_DDL = f"""
create table if not exists {METRICS} (
    run_id varchar not null,
    model varchar not null,
    test_week date,
    metric varchar not null,
    value double,
    model_version varchar not null,
    forecast_date date not null,
    created_at timestamp not null
)
"""


def features_for(config: IomConfig) -> list[Feature]:
    return feature_catalogue(
        config.feature_windows_days,
        harm_window_days=config.windows.window_days,
        history_cap_days=config.history_cap_days,
    )


def limit_memory(con, config: IomConfig) -> None:
    """Cap DuckDB's memory on this connection (it spills to disk beyond it) and drop row-order
    preservation, which the IOM tables do not need and which costs memory."""
    con.execute("set preserve_insertion_order = false").fetchall()
    if config.duckdb_memory_limit:
        con.execute(f"set memory_limit = '{config.duckdb_memory_limit}'").fetchall()


table_exists = warehouse.table_exists


# ---------------------------------------------------------------- snapshots


@dataclass
class SnapshotResult:
    forecast_date: date
    with_training: bool
    rows: int
    weeks: int
    test_weeks: list[date]
    eligible_on_forecast_date: int
    labelled_rows: int
    positives: int
    seconds: float


def latest_week(con) -> date | None:
    return con.execute("select max(week) from iom_offender_week").fetchall()[0][0]


def run_snapshots(con, forecast_date: date, config: IomConfig = DEFAULT_CONFIG, with_training: bool = True, log=None) -> SnapshotResult:
    """Build ``iom_snapshots``: the forecast week, plus the training and test weeks when asked."""
    start = time.monotonic()
    limit_memory(con, config)
    newest = latest_week(con)
    if newest is None:
        raise RuntimeError("iom_offender_week is empty: no charges have been loaded")
    if forecast_date > newest:
        raise RuntimeError(
            f"forecast date {forecast_date} is after the newest week of data ({newest}); "
            "load that week's CONNECT drop and rebuild the dbt models first"
        )
    test_weeks: list[date] = []
    if with_training:
        weeks = snapshot_dates(forecast_date, first_charge_date(con), config)
        test_weeks = choose_test_weeks(weeks, forecast_date, config)
    else:
        weeks = [forecast_date]
    with Progress("iom snapshots", total=9, log=log) as progress:
        rows = build_snapshots(
            con,
            forecast_date,
            weeks,
            full_weeks=sorted(set(test_weeks) | {forecast_date}),
            negative_rate=config.negative_sample_rate,
            config=config,
            table=SNAPSHOTS,
            progress=progress,
        )
    counts = con.execute(
        f"select count(*) filter (where week = ?), count(label), coalesce(sum(label), 0) from {SNAPSHOTS}",
        [forecast_date],
    ).fetchall()[0]
    return SnapshotResult(
        forecast_date=forecast_date,
        with_training=with_training,
        rows=rows,
        weeks=len(weeks),
        test_weeks=test_weeks,
        eligible_on_forecast_date=int(counts[0]),
        labelled_rows=int(counts[1]),
        positives=int(counts[2]),
        seconds=time.monotonic() - start,
    )


def snapshot_weeks(con) -> list[date]:
    if not table_exists(con, SNAPSHOTS):
        return []
    return [r[0] for r in con.execute(f"select distinct week from {SNAPSHOTS} order by week").fetchall()]


def load_snapshots(con, features: list[Feature], where: str = "true", params: list | None = None) -> pd.DataFrame:
    """Snapshot rows as a DataFrame, features as one float32 block.

    Read in chunks into one preallocated float32 array that becomes the
    DataFrame's feature block without a copy: converting the whole result at
    once (or building the frame from per-column arrays) holds two copies of
    the features at the same time, about 1 GB more at force scale.
    """
    names = [f.name for f in features]
    other = ["person_id", "week", "band", "label", "in_training_sample", "sample_weight", *AUDIT_COLUMNS]
    params = params or []
    n = con.execute(f"select count(*) from {SNAPSHOTS} where {where}", params).fetchall()[0][0]
    feature_cols = ", ".join(f"cast({name} as float) as {name}" for name in names)
    result = con.execute(f"select {', '.join(other)}, {feature_cols} from {SNAPSHOTS} where {where}", params)
    values = np.empty((n, len(names)), dtype=np.float32)
    parts, filled = [], 0
    while filled < n:
        chunk = result.fetch_df_chunk(16)
        if chunk is None or len(chunk) == 0:
            break
        m = len(chunk)
        values[filled : filled + m] = chunk[names].to_numpy(dtype=np.float32, na_value=np.nan)
        parts.append(chunk[other])
        filled += m
    if filled != n:
        raise RuntimeError(f"read {filled} snapshot rows, expected {n}")
    frame = pd.DataFrame(values, columns=names, copy=False)
    info = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=other)
    for column in reversed(other):
        frame.insert(0, column, info[column].to_numpy())
    frame["week"] = pd.to_datetime(frame["week"]).dt.date
    return frame


# ---------------------------------------------------------------- training


@dataclass
class TrainingResult:
    retrained: bool
    reason: str
    model_version: str
    trained_for: date
    run_id: str | None = None
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    origins: pd.DataFrame = field(default_factory=pd.DataFrame)
    fairness: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration_png: bytes | None = None
    lift_png: bytes | None = None
    model_card: str | None = None
    n_training_rows: int = 0
    timings: dict = field(default_factory=dict)


def _write_table(con, name: str, frame: pd.DataFrame, replace_where: str | None = None, params: list | None = None) -> None:
    """Create ``name`` from ``frame`` if missing, else delete ``replace_where`` rows and append.

    An empty frame creates nothing (its column types would be unknown) but
    still clears the ``replace_where`` rows.
    """
    warehouse.replace_rows(con, name, frame, replace_where, params, create_when_empty=False)


def run_training(
    con,
    settings: Settings,
    forecast_date: date,
    config: IomConfig = DEFAULT_CONFIG,
    force: bool = False,
    run_id: str | None = None,
    log=None,
) -> TrainingResult:
    """Retrain (rolling-origin backtest + production model + card) when due, else reuse the newest model."""
    features = features_for(config)
    names = [f.name for f in features]
    newest = artifacts.newest_model(settings.artifacts_dir, on_or_before=forecast_date, features=features)
    due, reason = artifacts.retraining_due(newest, forecast_date, config.retrain_every_weeks, names)
    if force:
        due, reason = True, "retraining forced"
    if not due:
        return TrainingResult(False, reason, newest.version, newest.trained_for)

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    limit_memory(con, config)
    weeks = snapshot_weeks(con)
    if len(weeks) < 3 or max(weeks) != forecast_date:
        result = run_snapshots(con, forecast_date, config, with_training=True, log=log)
        timings["snapshots_s"] = result.seconds
        weeks = snapshot_weeks(con)
    test_weeks = choose_test_weeks(weeks, forecast_date, config)

    t = time.monotonic()
    frame = load_snapshots(con, features)
    timings["load_s"] = time.monotonic() - t

    run_id = run_id or uuid.uuid4().hex[:12]
    with threadpool_limits(limits=1, user_api="blas"):
        t = time.monotonic()
        with Progress("iom rolling-origin backtest", total=len(test_weeks), log=log) as progress:
            predictions, origins = rolling_origin(frame, test_weeks, features, config, progress=progress)
        timings["backtest_s"] = time.monotonic() - t

        t = time.monotonic()
        train_pos = training_positions(frame, forecast_date, config)
        try:
            fitted = fit_models(frame, features, config, train_pos)
        except ValueError as exc:
            need_days = config.min_history_days + config.windows.horizon_days + 3 * 7 * config.snapshot_stride_weeks
            raise ValueError(
                f"cannot train the IOM model for {forecast_date}: {exc}. A snapshot's outcome is complete a "
                f"{config.windows.horizon_days}-day horizon after it, and the first snapshot comes "
                f"{config.min_history_days} days after the first charge in the data, so training needs charges "
                f"over at least {need_days} days (about {need_days / 365.25:.1f} years) before the week scored"
            ) from exc
        timings["final_fit_s"] = time.monotonic() - t

    data_sha = artifacts.training_data_sha256(frame, ["person_id", "week", "label"] + names, train_pos)
    train = frame.iloc[train_pos][["week", "label"]]
    version = artifacts.model_version(forecast_date, data_sha)
    metrics = metrics_table(predictions, config.top_k)
    summary = summary_wide(metrics) if len(metrics) else pd.DataFrame()
    fairness, threshold = audit_predictions(predictions, config.operating_top_k) if len(predictions) else (pd.DataFrame(), float("nan"))
    cal_png = calibration_png(predictions) if len(predictions) else None
    gains_png = lift_png(predictions, config.top_k) if len(predictions) else None

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    train_weeks = sorted(train["week"].unique())
    metadata = {
        "version": version,
        "trained_for": forecast_date.isoformat(),
        "trained_at": now,
        "run_id": run_id,
        "training_data_sha256": data_sha,
        "training_window": {"first_week": str(train_weeks[0]), "last_week": str(train_weeks[-1])},
        "fit_weeks": [str(fitted.fit_weeks[0]), str(fitted.fit_weeks[1])],
        "calibration_weeks": [str(fitted.calibration_weeks[0]), str(fitted.calibration_weeks[1])],
        "n_training_rows": int(len(train)),
        "n_training_positives": int(train["label"].sum()),
        "feature_names": names,
        "xgb_params": config.xgb_params,
        "seed": config.seed,
        "config": config.as_dict(),
        "n_test_weeks": int((origins["status"] == "tested").sum()) if len(origins) else 0,
        "test_weeks": [str(w) for w in test_weeks],
        "mean_test_metrics": summary.to_dict(orient="index") if len(summary) else {},
        "operating_threshold": threshold,
    }
    saved = artifacts.save_model(settings.artifacts_dir, fitted.xgb, fitted.xgb_calibrator, metadata)
    card = write_model_card(
        settings.artifacts_dir / "model_cards", metadata, summary, fairness, features, config, cal_png, gains_png
    )

    # tables: newest backtest predictions (restricted), metrics history, audit
    preds_out = predictions.assign(run_id=run_id, model_version=version)
    con.execute(f"drop table if exists {BACKTEST}").fetchall()
    _write_table(con, BACKTEST, preds_out)
    metrics_out = metrics.assign(
        run_id=run_id, model_version=version, forecast_date=forecast_date, created_at=pd.Timestamp(now).tz_localize(None)
    )
    metrics_out["test_week"] = pd.to_datetime(metrics_out["test_week"]).dt.date
    con.execute(METRICS_DDL).fetchall()
    _write_table(con, METRICS, metrics_out[["run_id", "model", "test_week", "metric", "value", "model_version", "forecast_date", "created_at"]], "run_id = ?", [run_id])
    timings["total_s"] = time.monotonic() - t0
    return TrainingResult(
        retrained=True,
        reason=reason,
        model_version=version,
        trained_for=forecast_date,
        run_id=run_id,
        summary=summary,
        origins=origins,
        fairness=fairness,
        calibration_png=cal_png,
        lift_png=gains_png,
        model_card=str(card),
        n_training_rows=int(len(train)),
        timings=timings,
    )


# ---------------------------------------------------------------- fairness


def run_fairness(con, config: IomConfig = DEFAULT_CONFIG) -> tuple[pd.DataFrame, str | None]:
    """Audit the newest backtest predictions into ``iom_fairness_audit`` (replacing that run's rows)."""
    if not table_exists(con, BACKTEST):
        return pd.DataFrame(), None
    preds = con.execute(f"select * from {BACKTEST}").df()
    if preds.empty:
        return pd.DataFrame(), None
    run_id = str(preds["run_id"].iloc[0])
    version = str(preds["model_version"].iloc[0])
    table, _ = audit_predictions(preds, config.operating_top_k)
    table.insert(0, "model_version", version)
    table.insert(0, "run_id", run_id)
    _write_table(con, FAIRNESS, table, "run_id = ?", [run_id])
    return table, run_id


# ---------------------------------------------------------------- scoring


@dataclass
class ScoringResult:
    forecast_date: date
    model_version: str
    rows: int
    eligible: int
    by_band: dict
    mean_probability: float
    seconds: float


def run_scoring(con, settings: Settings, forecast_date: date, config: IomConfig = DEFAULT_CONFIG) -> ScoringResult:
    """Score the forecast week with the newest model trained on or before it; write the tables."""
    start = time.monotonic()
    limit_memory(con, config)
    key = check_key(settings)
    features = features_for(config)
    saved = artifacts.newest_model(settings.artifacts_dir, on_or_before=forecast_date, features=features)
    if saved is None:
        raise RuntimeError(f"no trained IOM model for {forecast_date} or earlier: materialise iom_model first")
    population = con.execute(
        "select person_id, harm_score, band from iom_offender_week where week = ?", [forecast_date]
    ).df()
    if population.empty:
        raise RuntimeError(f"iom_offender_week has no rows for {forecast_date}")
    if forecast_date not in snapshot_weeks(con):
        run_snapshots(con, forecast_date, config, with_training=False)
    rows = load_snapshots(con, features, "week = ?", [forecast_date])
    scored = score_week(population, rows, saved, features, key, forecast_date)
    n = write_scores(con, scored, forecast_date)
    return ScoringResult(
        forecast_date=forecast_date,
        model_version=saved.version,
        rows=n,
        eligible=int(scored["probability"].notna().sum()),
        by_band=scored["band"].value_counts().to_dict(),
        mean_probability=float(np.nanmean(scored["probability"])) if scored["probability"].notna().any() else float("nan"),
        seconds=time.monotonic() - start,
    )
