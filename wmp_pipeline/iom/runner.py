"""The IOM steps the Dagster assets (and scripts) call: snapshots, training, audit, scoring.

Each step takes an open DuckDB connection (the pipeline's single writer),
the forecast date and an :class:`IomConfig`, writes its tables and returns
a small result with what the asset shows as metadata. Nothing here logs or
returns a person identifier.

Tables written (working database):

- ``iom_snapshots``: the forecast week's snapshot features (person_id; not published);
- ``iom_training_snapshots``: the training and test weeks' snapshots, built
  when a retraining is due (person_id; not published);
- ``iom_backtest_predictions``: the newest training run's rolling-origin test
  predictions (person_id; not published; read by the fairness audit and by
  ``python -m wmp_pipeline.iom.evaluate_truth``);
- ``iom_model_metrics``: metrics per run, model and test week, their means and
  pooled values (analyst);
- ``iom_model_selection``: one row per retraining: the champion, its margin
  over the runner-up, calibration and operating point, or why the previous
  model kept serving (analyst);
- ``iom_operating_point``: the served model's operating point at the list
  size, overall and per group, small groups suppressed (analyst);
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

from wmp_pipeline import tables, warehouse
from wmp_pipeline.iom import artifacts
from wmp_pipeline.iom.audit import audit_predictions
from wmp_pipeline.iom.backtest import choose_test_weeks
from wmp_pipeline.iom.config import DEFAULT_CONFIG, IomConfig
from wmp_pipeline.iom.features import Feature, feature_catalogue
from wmp_pipeline.iom.model_card import write_model_card
from wmp_pipeline.iom.plots import calibration_png, lift_png
from wmp_pipeline.iom.scoring import score_week, write_scores
from wmp_pipeline.iom.training import TrainingFailed, TrainingOutcome, evaluate_and_select, training_decision
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
TRAINING_SNAPSHOTS = tables.IOM_TRAINING_SNAPSHOTS
BACKTEST = tables.IOM_BACKTEST_PREDICTIONS
METRICS = tables.IOM_MODEL_METRICS
FAIRNESS = tables.IOM_FAIRNESS_AUDIT
SELECTION = tables.IOM_MODEL_SELECTION
OPERATING_POINT = tables.IOM_OPERATING_POINT
#: the goal on the served model's pooled expected calibration error (issue 18)
ECE_GOAL = 0.01

METRICS_DDL = f"""
create table if not exists {METRICS} (
    run_id varchar not null,
    model varchar not null,
    test_week date,
    scope varchar,
    metric varchar not null,
    value double,
    horizon_weeks integer,
    model_version varchar not null,
    forecast_date date not null,
    created_at timestamp not null
)
"""
METRICS_COLUMNS = ["run_id", "model", "test_week", "scope", "metric", "value", "horizon_weeks", "model_version", "forecast_date", "created_at"]


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


def run_snapshots(con, forecast_date: date, config: IomConfig = DEFAULT_CONFIG, with_training: bool = False, log=None) -> SnapshotResult:
    """Build the forecast week into ``iom_snapshots``, or (``with_training``) the training and test
    weeks with it into ``iom_training_snapshots`` (what a retraining fits and backtests on)."""
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
    table = TRAINING_SNAPSHOTS if with_training else SNAPSHOTS
    with Progress("iom snapshots", total=9, log=log) as progress:
        rows = build_snapshots(
            con,
            forecast_date,
            weeks,
            full_weeks=sorted(set(test_weeks) | {forecast_date}),
            negative_rate=config.negative_sample_rate,
            config=config,
            table=table,
            progress=progress,
        )
    counts = con.execute(
        f"select count(*) filter (where week = ?), count(label), coalesce(sum(label), 0) from {table}",
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


def snapshot_weeks(con, table: str = SNAPSHOTS) -> list[date]:
    if not table_exists(con, table):
        return []
    return [r[0] for r in con.execute(f"select distinct week from {table} order by week").fetchall()]


def eligible_in_offender_week(con, forecast_date: date) -> int:
    return int(con.execute("select count(*) from iom_offender_week where week = ? and is_eligible", [forecast_date]).fetchall()[0][0])


def load_snapshots(
    con, features: list[Feature], where: str = "true", params: list | None = None, table: str = SNAPSHOTS
) -> pd.DataFrame:
    """Snapshot rows of ``table`` as a DataFrame, features as one float32 block.

    Read in chunks into one preallocated float32 array that becomes the
    DataFrame's feature block without a copy: converting the whole result at
    once (or building the frame from per-column arrays) holds two copies of
    the features at the same time, about 1 GB more at force scale.
    """
    names = [f.name for f in features]
    other = ["person_id", "week", "band", "label", "in_training_sample", "sample_weight", *AUDIT_COLUMNS]
    params = params or []
    n = con.execute(f"select count(*) from {table} where {where}", params).fetchall()[0][0]
    feature_cols = ", ".join(f"cast({name} as float) as {name}" for name in names)
    result = con.execute(f"select {', '.join(other)}, {feature_cols} from {table} where {where}", params)
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
    #: the champion choice of the served model (its metadata's, when an older model keeps serving)
    selection: dict = field(default_factory=dict)
    #: served model's calibration and operating point (``operating`` holds the groups too)
    calibration: dict = field(default_factory=dict)
    operating: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: retraining was due but failed: the previous model keeps serving (``reason`` says why)
    kept_previous: bool = False


def _write_table(con, name: str, frame: pd.DataFrame, replace_where: str | None = None, params: list | None = None) -> None:
    """Create ``name`` from ``frame`` if missing, else add its new columns, delete ``replace_where`` rows and append.

    An empty frame creates nothing (its column types would be unknown) but
    still clears the ``replace_where`` rows.
    """
    warehouse.replace_rows(con, name, frame, replace_where, params, create_when_empty=False)


def prepare_training_frame(con, forecast_date: date, features: list[Feature], config: IomConfig, log=None) -> tuple[pd.DataFrame, list[date], dict]:
    """Build the training and test snapshots of ``forecast_date`` and load them."""
    timings: dict[str, float] = {}
    result = run_snapshots(con, forecast_date, config, with_training=True, log=log)
    timings["snapshots_s"] = result.seconds
    t = time.monotonic()
    frame = load_snapshots(con, features, table=TRAINING_SNAPSHOTS)
    timings["load_s"] = time.monotonic() - t
    return frame, result.test_weeks, timings


def run_training(
    con,
    settings: Settings,
    forecast_date: date,
    config: IomConfig = DEFAULT_CONFIG,
    force: bool = False,
    run_id: str | None = None,
    log=None,
) -> TrainingResult:
    """Retrain when due (backtest, champion, model, card, tables), else reuse the newest model.

    When retraining is due but fails (too little history, a candidate that
    does not fit), the newest model keeps serving: the failure is recorded
    in ``iom_model_selection`` and returned with ``kept_previous``. With no
    model to fall back on, :class:`~.training.TrainingFailed` is raised.
    """
    features = features_for(config)
    decision = training_decision(settings.artifacts_dir, forecast_date, features, config, force)
    if not decision.due:
        return TrainingResult(False, decision.reason, decision.newest.version, decision.newest.trained_for,
                              selection=decision.newest.metadata.get("selection", {}))
    t0 = time.monotonic()
    limit_memory(con, config)
    run_id = run_id or uuid.uuid4().hex[:12]
    frame, test_weeks, timings = prepare_training_frame(con, forecast_date, features, config, log)
    try:
        outcome = evaluate_and_select(frame, test_weeks, features, config, forecast_date, log)
    except TrainingFailed as exc:
        if decision.newest is None:
            raise
        return keep_previous_model(con, decision.newest, forecast_date, str(exc), run_id, config)
    outcome.timings.update(timings)
    result = write_training(con, settings, frame, outcome, features, config, forecast_date, run_id, decision.reason)
    result.timings["total_s"] = time.monotonic() - t0
    return result


def _selection_row(run_id: str, forecast_date: date, status: str, version: str, selection: dict, calibration: dict,
                   overall: dict, config: IomConfig, message: str, now: str) -> pd.DataFrame:
    champion = selection.get("champion")
    return pd.DataFrame([{
        "run_id": run_id,
        "forecast_date": forecast_date,
        "status": status,
        "served_model": champion,
        "served_model_version": version,
        "runner_up": selection.get("runner_up"),
        "leader": selection.get("leader"),
        "primary_metric": selection.get("primary_metric"),
        "champion_value": (selection.get("primary") or {}).get(champion),
        "runner_up_value": (selection.get("primary") or {}).get(selection.get("runner_up")),
        "margin": selection.get("margin"),
        "margin_low": selection.get("margin_low"),
        "margin_high": selection.get("margin_high"),
        "kept_simpler": selection.get("kept_simpler"),
        "n_test_weeks": selection.get("n_weeks"),
        "ece": calibration.get("ece"),
        "brier_skill": calibration.get("brier_skill"),
        "list_size": config.operating_top_k,
        "n_flagged": overall.get("n_flagged"),
        "sensitivity": overall.get("sensitivity"),
        "sensitivity_low": overall.get("sensitivity_low"),
        "sensitivity_high": overall.get("sensitivity_high"),
        "precision": overall.get("precision"),
        "precision_low": overall.get("precision_low"),
        "precision_high": overall.get("precision_high"),
        "horizon_weeks": config.horizon_weeks,
        "message": message,
        "created_at": pd.Timestamp(now).tz_localize(None),
    }])


def write_training(
    con, settings: Settings, frame: pd.DataFrame, outcome: TrainingOutcome, features: list[Feature], config: IomConfig,
    forecast_date: date, run_id: str, reason: str,
) -> TrainingResult:
    """Save the champion, its card and the run's tables."""
    names = [f.name for f in features]
    train_pos = outcome.train_positions
    data_sha = artifacts.training_data_sha256(frame, ["person_id", "week", "label"] + names, train_pos)
    train = frame.iloc[train_pos][["week", "label"]]
    version = artifacts.model_version(forecast_date, data_sha)
    served = outcome.predictions[outcome.predictions["served"]]
    cal_png = calibration_png(outcome.predictions)
    gains_png = lift_png(outcome.predictions, config.top_k)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    train_weeks = sorted(train["week"].unique())
    selection = outcome.selection.as_dict()
    calibration = {"ece": outcome.ece, "brier_skill": outcome.brier_skill, "ece_goal": ECE_GOAL}
    metadata = {
        "version": version,
        "trained_for": forecast_date.isoformat(),
        "trained_at": now,
        "run_id": run_id,
        "training_data_sha256": data_sha,
        "training_window": {"first_week": str(train_weeks[0]), "last_week": str(train_weeks[-1])},
        "fit_weeks": [str(outcome.fit_weeks[0]), str(outcome.fit_weeks[1])],
        "calibration_weeks": [str(outcome.calibration_weeks[0]), str(outcome.calibration_weeks[1])],
        "n_training_rows": int(len(train)),
        "n_training_positives": int(train["label"].sum()),
        "feature_names": names,
        "xgb_params": config.xgb_params,
        "seed": config.seed,
        "config": config.as_dict(),
        "horizon_weeks": config.horizon_weeks,
        "n_test_weeks": int((outcome.origins["status"] == "tested").sum()) if len(outcome.origins) else 0,
        "test_weeks": [str(w) for w in sorted(served["test_week"].unique())],
        "mean_test_metrics": outcome.summary.to_dict(orient="index"),
        "selection": selection,
        "calibration": calibration,
        "operating_point": outcome.overall,
        "operating_threshold": outcome.threshold,
    }
    saved = artifacts.save_model(settings.artifacts_dir, outcome.served.model, outcome.served.calibrator, metadata)
    card = write_model_card(
        settings.artifacts_dir / "model_cards", saved.metadata, outcome.summary, outcome.fairness, features, config, cal_png,
        gains_png, operating=outcome.operating,
    )
    write_training_tables(con, outcome, version, forecast_date, run_id, config, now)
    return TrainingResult(
        retrained=True,
        reason=reason,
        model_version=version,
        trained_for=forecast_date,
        run_id=run_id,
        summary=outcome.summary,
        origins=outcome.origins,
        fairness=outcome.fairness,
        calibration_png=cal_png,
        lift_png=gains_png,
        model_card=str(card),
        n_training_rows=int(len(train)),
        timings=outcome.timings,
        selection=selection,
        calibration=calibration,
        operating=outcome.operating,
    )


def write_training_tables(con, outcome: TrainingOutcome, version: str, forecast_date: date, run_id: str, config: IomConfig, now: str) -> None:
    """The newest backtest predictions (restricted), the metrics history, the operating point and the selection row."""
    created = pd.Timestamp(now).tz_localize(None)
    preds_out = outcome.predictions.assign(run_id=run_id, model_version=version)
    con.execute(f"drop table if exists {BACKTEST}").fetchall()
    _write_table(con, BACKTEST, preds_out)
    metrics_out = outcome.metrics.assign(
        run_id=run_id, model_version=version, forecast_date=forecast_date, created_at=created, horizon_weeks=config.horizon_weeks
    )
    metrics_out["test_week"] = pd.to_datetime(metrics_out["test_week"]).dt.date
    con.execute(METRICS_DDL).fetchall()
    _write_table(con, METRICS, metrics_out[METRICS_COLUMNS], "run_id = ?", [run_id])
    operating = outcome.operating.assign(
        run_id=run_id, model_version=version, forecast_date=forecast_date, horizon_weeks=config.horizon_weeks
    )
    _write_table(con, OPERATING_POINT, operating, "run_id = ?", [run_id])
    row = _selection_row(run_id, forecast_date, "new_model", version, outcome.selection.as_dict(),
                         {"ece": outcome.ece, "brier_skill": outcome.brier_skill}, outcome.overall, config,
                         outcome.selection.reason, now)
    _write_table(con, SELECTION, row, "run_id = ?", [run_id])


def keep_previous_model(con, previous: artifacts.SavedModel, forecast_date: date, message: str, run_id: str, config: IomConfig) -> TrainingResult:
    """Record that retraining failed and ``previous`` keeps serving (its own champion figures are repeated)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = previous.metadata
    selection = meta.get("selection") or {"champion": previous.kind}
    row = _selection_row(run_id, forecast_date, "kept_previous", previous.version, selection, meta.get("calibration", {}),
                         meta.get("operating_point", {}), config, message, now)
    _write_table(con, SELECTION, row, "run_id = ?", [run_id])
    return TrainingResult(
        retrained=False,
        reason=f"retraining failed, the model {previous.version} (trained for {previous.trained_for}) keeps serving: {message}",
        model_version=previous.version,
        trained_for=previous.trained_for,
        run_id=run_id,
        selection=selection,
        calibration=meta.get("calibration", {}),
        kept_previous=True,
    )


# ---------------------------------------------------------------- fairness


def run_fairness(con, config: IomConfig = DEFAULT_CONFIG) -> tuple[pd.DataFrame, str | None]:
    """Audit the served model's newest backtest predictions into ``iom_fairness_audit`` (replacing that run's rows)."""
    if not table_exists(con, BACKTEST):
        return pd.DataFrame(), None
    preds = con.execute(f"select * from {BACKTEST}").df()
    if preds.empty:
        return pd.DataFrame(), None
    run_id = str(preds["run_id"].iloc[0])
    version = str(preds["model_version"].iloc[0])
    served = preds.loc[preds["served"].astype(bool), "model"] if "served" in preds else pd.Series(["xgboost"])
    table, _ = audit_predictions(
        preds, config.operating_top_k, model=str(served.iloc[0]), min_reported_group_size=config.min_reported_group_size
    )
    table.insert(0, "model_version", version)
    table.insert(0, "run_id", run_id)
    _write_table(con, FAIRNESS, table, "run_id = ?", [run_id])
    return table, run_id


# ---------------------------------------------------------------- scoring


@dataclass
class ScoringResult:
    forecast_date: date
    model_version: str
    model_kind: str
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
    scored = score_week(population, rows, saved, features, key, forecast_date, config.horizon_weeks)
    n = write_scores(con, scored, forecast_date)
    return ScoringResult(
        forecast_date=forecast_date,
        model_version=saved.version,
        model_kind=saved.kind,
        rows=n,
        eligible=int(scored["probability"].notna().sum()),
        by_band=scored["band"].value_counts().to_dict(),
        mean_probability=float(np.nanmean(scored["probability"])) if scored["probability"].notna().any() else float("nan"),
        seconds=time.monotonic() - start,
    )
