"""The weekly hotspot steps on the working database, without Dagster.

Each function is one asset's work (the assets in
``wmp_pipeline.defs.hotspot.assets`` only add Dagster metadata), so the same
steps run from a benchmark script or a test on a plain DuckDB connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd

from wmp_pipeline import warehouse
from wmp_pipeline.hotspot import engine
from wmp_pipeline.hotspot.backtest import BacktestResult, summary_table
from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.connect_source import create_events_view
from wmp_pipeline.hotspot.maps import render_top_map, write_geojson
from wmp_pipeline.hotspot.model import HotspotModel, newest_model
from wmp_pipeline.hotspot.panel import PanelInfo
from wmp_pipeline.hotspot.periods import period_index, period_start, require_period_start
from wmp_pipeline.hotspot import store

MODELS_SUBDIR = Path("models") / "hotspot"
MAPS_SUBDIR = "maps"


def build_cells_table(
    con: duckdb.DuckDBPyConnection, cfg: HotspotConfig, boundary_file: Path | None = None
) -> gpd.GeoDataFrame:
    """Build and store ``hotspot_cells`` from the CONNECT events (and the boundary, if any)."""
    events = create_events_view(con)
    boundary = engine.load_boundary(boundary_file) if boundary_file else None
    cells = engine.build_cells(con, events, cfg, boundary)
    store.write_cells(con, cells)
    return cells


def build_panel_table(con: duckdb.DuckDBPyConnection, cfg: HotspotConfig, forecast_date: date) -> PanelInfo:
    """Build ``hotspot_panel`` as known at ``forecast_date`` over the stored cells."""
    events = create_events_view(con)
    cells = store.read_cells(con)
    info = engine.build_panel(con, events, cells, cfg, forecast_date, table=store.PANEL_TABLE)
    store.write_panel_info(con, info, cfg)
    return info


def panel_for(con: duckdb.DuckDBPyConnection, forecast_date: date) -> tuple[PanelInfo, HotspotConfig]:
    """The stored panel and its config, which must be the one of ``forecast_date``."""
    info, cfg = store.read_panel_info(con)
    want = require_period_start(forecast_date, cfg.period)
    if info.as_of_period != want:
        have = period_start(info.as_of_period, cfg.period)
        raise LookupError(
            f"hotspot_panel was built for {have}, not {forecast_date}: materialise hotspot_panel for this partition first"
        )
    return info, cfg


@dataclass
class ModelsOutcome:
    models: dict[str, HotspotModel]
    retrained: dict[str, bool] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def model_is_fresh(model: HotspotModel | None, cfg: HotspotConfig, as_of_period: int, every: int) -> bool:
    """The retraining rule: a saved model of the same config, less than ``every`` periods old, is kept."""
    return model is not None and model.config_fingerprint == cfg.fingerprint() and as_of_period - model.fit_period < every


def train_or_reuse_models(
    con: duckdb.DuckDBPyConnection,
    forecast_date: date,
    artifacts_dir: Path,
    retrain_every: int | None = None,
    force: bool = False,
) -> ModelsOutcome:
    """Retrain each target's model when the newest saved one (same config) is
    ``retrain_every`` periods old or more; otherwise keep it."""
    info, cfg = panel_for(con, forecast_date)
    every = retrain_every or cfg.retrain_every
    directory = Path(artifacts_dir) / MODELS_SUBDIR
    out = ModelsOutcome(models={})
    for target in cfg.targets:
        current = newest_model(directory, target, forecast_date, cfg.period)
        fresh = model_is_fresh(current, cfg, info.as_of_period, every)
        if fresh and not force:
            out.models[target], out.retrained[target] = current, False
            continue
        model = engine.fit(con, cfg, info, target)
        out.paths[target] = model.save(directory)
        out.models[target], out.retrained[target] = model, True
    return out


def backtest_rows(result: BacktestResult, cfg: HotspotConfig, forecast_date: date, refit_every: int) -> pd.DataFrame:
    """The rows of ``hotspot_backtest_metrics`` for one backtest run."""
    run_id = f"{forecast_date.isoformat()}-{cfg.fingerprint()}-r{refit_every}"
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    per = result.per_origin.assign(scope="origin")
    overall = result.overall.assign(scope="overall", forecast_date=pd.NaT, model_version=None, n_units_flagged=None)
    cols = [
        "target", "model", "scope", "forecast_date", "area_share", "n_units_flagged",
        "hits", "n_crimes", "hit_rate", "pai", "model_version",
    ]
    rows = pd.concat([per[cols], overall[cols]], ignore_index=True)
    rows["forecast_date"] = pd.to_datetime(rows["forecast_date"]).dt.date
    rows.insert(0, "run_id", run_id)
    rows.insert(1, "as_of_date", forecast_date)
    rows["refit_every"] = refit_every
    rows["backtest_periods"] = cfg.backtest_periods
    rows["period"] = cfg.period
    rows["config_fingerprint"] = cfg.fingerprint()
    rows["created_at"] = created
    return rows


def run_backtest_table(
    con: duckdb.DuckDBPyConnection,
    forecast_date: date,
    truth: pd.DataFrame | None = None,
    refit_every: int | None = None,
    progress=None,
) -> tuple[BacktestResult, pd.DataFrame]:
    """Backtest on the stored panel and store its rows in ``hotspot_backtest_metrics``."""
    info, cfg = panel_for(con, forecast_date)
    every = refit_every or cfg.refit_every
    result = engine.run_backtest(con, cfg, info, truth=truth, refit_every=every, progress=progress)
    rows = backtest_rows(result, cfg, forecast_date, every)
    store.replace_rows(con, store.BACKTEST_TABLE, rows, "run_id = ?", [rows["run_id"].iloc[0]])
    return result, rows


@dataclass
class BacktestDecision:
    """Whether this week's backtest runs, or the newest stored one is reused (``reuse_run_id``)."""

    due: bool
    reason: str
    reuse_run_id: str | None = None
    reuse_as_of: date | None = None


def stored_backtest_runs(con: duckdb.DuckDBPyConnection, forecast_date: date) -> pd.DataFrame:
    """One row per stored backtest run made on or before ``forecast_date`` (empty if none)."""
    columns = ["run_id", "as_of_date", "config_fingerprint", "refit_every", "backtest_periods"]
    if not warehouse.table_exists(con, store.BACKTEST_TABLE):
        return pd.DataFrame(columns=columns)
    return con.execute(
        f"SELECT DISTINCT {', '.join(columns)} FROM {store.BACKTEST_TABLE} WHERE as_of_date <= ? ORDER BY as_of_date, run_id",
        [forecast_date],
    ).df()


def backtest_decision(
    con: duckdb.DuckDBPyConnection,
    forecast_date: date,
    artifacts_dir: Path,
    refit_every: int | None = None,
    retrain_every: int | None = None,
    force: bool = False,
) -> BacktestDecision:
    """Run the backtest this week, or reuse the newest stored one?

    It runs when forced; when no backtest with this configuration (the
    panel's config fingerprint and ``refit_every``) is stored on or before
    the forecast date; and in the weeks the hotspot models retrain. That is
    :func:`train_or_reuse_models`' rule judged on the models saved before
    this forecast week, so the answer does not depend on whether
    ``hotspot_models`` ran first; a model saved after the stored backtest
    also makes it due. Otherwise (a scoring-only week) the newest stored
    run is reused.
    """
    info, cfg = panel_for(con, forecast_date)
    refit = refit_every or cfg.refit_every
    every = retrain_every or cfg.retrain_every
    if force:
        return BacktestDecision(True, "forced")
    runs = stored_backtest_runs(con, forecast_date)
    same = runs[(runs["config_fingerprint"] == cfg.fingerprint()) & (runs["refit_every"] == refit)]
    if same.empty:
        if runs.empty:
            return BacktestDecision(True, "no backtest stored yet")
        return BacktestDecision(True, "the configuration changed since the newest stored backtest")
    newest = same.iloc[-1]
    run_id, as_of = str(newest["run_id"]), pd.Timestamp(newest["as_of_date"]).date()
    if as_of == forecast_date:
        return BacktestDecision(False, "this forecast week's backtest is already stored", run_id, as_of)
    directory = Path(artifacts_dir) / MODELS_SUBDIR
    week_before = period_start(info.as_of_period - 1, cfg.period)
    for target in cfg.targets:
        prior = newest_model(directory, target, week_before, cfg.period)
        if not model_is_fresh(prior, cfg, info.as_of_period, every):
            return BacktestDecision(True, f"the hotspot models retrain this week (cadence {_periods(every, cfg.period)})")
        if prior.fit_period > period_index(as_of, cfg.period):
            return BacktestDecision(True, f"the {target} model was retrained after the stored backtest of {as_of}")
    age = info.as_of_period - period_index(as_of, cfg.period)
    return BacktestDecision(
        False, f"no retraining due: the backtest of {as_of} ({_periods(age, cfg.period)} old) is reused", run_id, as_of
    )


def _periods(n: int, period: str) -> str:
    return f"{n} {period}" + ("" if n == 1 else "s")


def stored_backtest(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """The stored rows of one backtest run."""
    return con.execute(f"SELECT * FROM {store.BACKTEST_TABLE} WHERE run_id = ?", [run_id]).df()


def score_week(
    con: duckdb.DuckDBPyConnection, forecast_date: date, artifacts_dir: Path
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Score the forecast week with the newest saved models; store ``hotspot_predictions``
    (that week only) and write the GeoJSON files and the PNG map. Returns the table and paths."""
    info, cfg = panel_for(con, forecast_date)
    directory = Path(artifacts_dir) / MODELS_SUBDIR
    models = {}
    for target in cfg.targets:
        m = newest_model(directory, target, forecast_date, cfg.period)
        if m is None:
            raise LookupError(f"no saved hotspot model for {target} fitted on or before {forecast_date}: materialise hotspot_models")
        if m.features != info.features:
            raise ValueError(f"model {m.version} was trained on other features than the current panel: retrain it")
        models[target] = m
    cells = store.read_cells(con)
    table = engine.predict_latest(con, cfg, info, cells, models)
    store.write_frame(con, store.PREDICTIONS_TABLE, table)
    maps = Path(artifacts_dir) / MAPS_SUBDIR
    paths = {}
    for target in cfg.targets:
        paths[f"geojson_{target}"] = write_geojson(
            table[table["target"] == target], maps / f"hotspot_{target}_{forecast_date.isoformat()}.geojson"
        )
    png = render_top_map(cells, table, f"Hotspot forecast, 4 weeks from {forecast_date.isoformat()}")
    maps.mkdir(parents=True, exist_ok=True)
    paths["png"] = maps / f"hotspot_top_{forecast_date.isoformat()}.png"
    paths["png"].write_bytes(png)
    return table, paths


__all__ = [
    "BacktestDecision",
    "ModelsOutcome",
    "backtest_decision",
    "backtest_rows",
    "build_cells_table",
    "build_panel_table",
    "panel_for",
    "run_backtest_table",
    "model_is_fresh",
    "score_week",
    "stored_backtest",
    "stored_backtest_runs",
    "summary_table",
    "train_or_reuse_models",
]
