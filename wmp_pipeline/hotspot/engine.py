"""Public API of the source-agnostic hotspot engine.

Any crime source can be forecast once it is shaped as an **events** relation
(a DuckDB table/view name, or a pandas DataFrame) with one row per event:

==============  ==============================================================
``event_id``    any unique id
``easting``     British National Grid metres (EPSG:27700); null = not located
``northing``    idem
``event_time``  when it happened (DATE or TIMESTAMP): places it in a period
``known_time``  when it became known (recorded); for monthly sources that only
                publish months, the first day of the month after publication
``<signal>``    one BOOLEAN column per signal named in the config (targets and
                related signals)
``lsoa_code``   optional: used for the ``lsoa_code`` of grid cells without a
                boundary file
==============  ==============================================================

The flow, all in one DuckDB connection::

    cfg = HotspotConfig.weekly()                        # or .monthly()
    events = prepare_events(con, df_or_table_name)
    cells = build_cells(con, events, cfg, boundary)     # GeoDataFrame of units
    panel = build_panel(con, events, cells, cfg, forecast_date)
    result = run_backtest(con, cfg, panel, truth=None)  # tidy metrics
    models = {t: fit(con, cfg, panel, t) for t in cfg.targets}
    table = predict_latest(con, cfg, panel, cells, models)

Period arithmetic (weeks starting Monday, or calendar months) is in
:mod:`wmp_pipeline.hotspot.periods`; forecast dates must be period starts.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import duckdb
import geopandas as gpd
import pandas as pd

from wmp_pipeline.hotspot import grid as _grid
from wmp_pipeline.hotspot import model as _model
from wmp_pipeline.hotspot import panel as _panel
from wmp_pipeline.hotspot.backtest import CEILING, CEILING_SUMMED_WEEKLY, BacktestResult, backtest_origins, summary_table
from wmp_pipeline.hotspot.backtest import run_backtest as _run_backtest
from wmp_pipeline.hotspot.baselines import PROSPECTIVE, baseline_columns
from wmp_pipeline.hotspot.config import HotspotConfig, XGBoostParams
from wmp_pipeline.hotspot.model import MODEL_NAME, HotspotModel, newest_model
from wmp_pipeline.hotspot.panel import PanelInfo, feature_columns, target_column
from wmp_pipeline.hotspot.periods import period_start, require_period_start
from wmp_pipeline.hotspot.predictions import PREDICTION_COLUMNS, prediction_table

__all__ = [
    "CEILING",
    "CEILING_SUMMED_WEEKLY",
    "EVENT_COLUMNS",
    "MODEL_NAME",
    "PREDICTION_COLUMNS",
    "PROSPECTIVE",
    "BacktestResult",
    "HotspotConfig",
    "HotspotModel",
    "PanelInfo",
    "XGBoostParams",
    "backtest_origins",
    "baselines",
    "build_cells",
    "build_neighbours",
    "build_panel",
    "feature_columns",
    "fit",
    "load_boundary",
    "newest_model",
    "predict",
    "predict_latest",
    "prepare_events",
    "run_backtest",
    "summary_table",
    "target_column",
]

EVENT_COLUMNS = _panel.REQUIRED_EVENT_COLUMNS
load_boundary = _grid.load_boundary
build_neighbours = _grid.build_neighbours


def prepare_events(con: duckdb.DuckDBPyConnection, events: str | pd.DataFrame, name: str | None = None) -> str:
    """Return a relation name for ``events`` in ``con``.

    A string is taken as an existing table or view name and returned as is; a
    DataFrame is copied into a temporary table (so later steps can scan it
    in SQL) whose name is returned.
    """
    if isinstance(events, str):
        return events
    name = name or f"_hs_events_{uuid.uuid4().hex[:8]}"
    con.register("_hs_events_df", events)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _hs_events_df")
    con.unregister("_hs_events_df")
    return name


def build_cells(
    con: duckdb.DuckDBPyConnection,
    events: str,
    cfg: HotspotConfig,
    boundary: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """The spatial units of the force area (EPSG:27700).

    Columns: ``cell_id, cell_size_m, x0, y0, cx, cy, area_m2, geometry_wkt,
    lsoa_code, in_force_area, geometry``. ``cfg.unit='grid'``: square cells
    (area from ``boundary`` if given, else the data's buffered footprint);
    ``'lsoa'``: the boundary's LSOA polygons (``cell_id`` = LSOA code).
    """
    return _grid.build_cells(con, events, cfg, boundary)


def build_panel(
    con: duckdb.DuckDBPyConnection,
    events: str,
    cells: gpd.GeoDataFrame,
    cfg: HotspotConfig,
    forecast_date: date,
    table: str = "hotspot_panel",
    neighbours: pd.DataFrame | None = None,
    first_date: date | None = None,
) -> PanelInfo:
    """Write the unit x period panel of features and targets to ``table``.

    Only events known before ``forecast_date`` are used (``known_time <
    forecast_date``); each row's features use only events known before that
    row's own date. Also writes ``<table>_events`` (the placed target events,
    used to relabel training rows as known at each fit date). By default the
    panel starts where the earliest backtest fit needs it (see
    :func:`wmp_pipeline.hotspot.panel.panel_first_period`); ``first_date``
    moves that start (never before the data's first period + 1).
    """
    t = require_period_start(forecast_date, cfg.period)
    nbrs = neighbours if neighbours is not None else _grid.build_neighbours(cells, cfg)
    first = None if first_date is None else require_period_start(first_date, cfg.period)
    return _panel.build_panel(con, events, cells, nbrs, cfg, t, table=table, first_period=first)


def fit(
    con: duckdb.DuckDBPyConnection,
    cfg: HotspotConfig,
    panel: PanelInfo,
    target: str,
    fit_date: date | None = None,
) -> HotspotModel:
    """Fit ``target``'s count model using only data known before ``fit_date``
    (default: the panel's forecast date)."""
    if target not in cfg.targets:
        raise ValueError(f"{target!r} is not a target of the config {cfg.targets}")
    t = panel.as_of_period if fit_date is None else require_period_start(fit_date, cfg.period)
    if t > panel.as_of_period:
        raise ValueError("cannot fit after the panel's forecast date")
    return _model.fit(con, cfg, panel, target, t)


def predict(
    con: duckdb.DuckDBPyConnection,
    model: HotspotModel,
    panel: PanelInfo,
    forecast_dates: list[date] | None = None,
) -> pd.DataFrame:
    """``cell_id, t, forecast_date, predicted_count`` (expected count over the
    horizon) for each forecast date (default: the panel's own)."""
    if forecast_dates is None:
        periods = [panel.as_of_period]
    else:
        periods = [require_period_start(d, model.period) for d in forecast_dates]
    out = _model.predict(con, model, panel.table, periods)
    out["forecast_date"] = [period_start(t, model.period) for t in out["t"]]
    return out


def baselines(
    con: duckdb.DuckDBPyConnection,
    cfg: HotspotConfig,
    panel: PanelInfo,
    target: str,
    forecast_dates: list[date] | None = None,
) -> pd.DataFrame:
    """Long table ``cell_id, t, model, score`` of every baseline of ``target``."""
    periods = (
        [panel.as_of_period]
        if forecast_dates is None
        else [require_period_start(d, cfg.period) for d in forecast_dates]
    )
    cols = baseline_columns(cfg, target)
    plist = ", ".join(str(t) for t in periods)
    wide = con.execute(
        f"SELECT cell_id, t, {', '.join(cols.values())} FROM {panel.table} WHERE t IN ({plist})"
    ).df()
    frames = [wide[["cell_id", "t", c]].rename(columns={c: "score"}).assign(model=n) for n, c in cols.items()]
    return pd.concat(frames, ignore_index=True)[["cell_id", "t", "model", "score"]]


def run_backtest(
    con: duckdb.DuckDBPyConnection,
    cfg: HotspotConfig,
    panel: PanelInfo,
    truth: pd.DataFrame | None = None,
    refit_every: int | None = None,
    progress=None,
    targets: tuple[str, ...] | None = None,
    fit_model=None,
) -> BacktestResult:
    """Rolling-origin backtest over the last ``cfg.backtest_periods`` forecast dates.

    ``result.per_origin`` columns: ``target, model, t, forecast_date,
    area_share, n_units_flagged, hits, n_crimes, hit_rate, pai,
    model_version``; ``result.overall`` pools the origins per target, model
    and area share. ``truth`` (evaluation only; columns ``target, cell_id,
    period_start, expected_count`` and optional ``window_periods``: the
    expected count of the ``window_periods`` periods from ``period_start``
    given the history before it) adds the ``ceiling`` rows (from the rows
    whose window is the horizon) and, when it also holds one-period rows,
    the ``ceiling_diag_summed_weekly`` diagnostic. ``targets`` limits the run to some targets.
    ``fit_model(target, fit_period)``, if given, fits the judged model (e.g. on a pool of panels).
    """
    return _run_backtest(
        con, cfg, panel, truth=truth, refit_every=refit_every, progress=progress, targets=targets, fit_model=fit_model
    )


def predict_latest(
    con: duckdb.DuckDBPyConnection,
    cfg: HotspotConfig,
    panel: PanelInfo,
    cells: pd.DataFrame,
    models: dict[str, HotspotModel],
    targets: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """The analyst table for the panel's forecast date: one row per unit and target
    (``targets``: default every target of the config).

    Also scores the period before with the same model (``rank_last_week``)
    and reads the target's own 4- and 52-period counts from the panel, when
    the config has those windows."""
    T = panel.as_of_period
    forecast_date = period_start(T, cfg.period)
    window_end = period_start(T + cfg.horizon_periods, cfg.period) - timedelta(days=1)
    frames = []
    for target in targets or cfg.targets:
        m = models[target]
        both = _model.predict(con, m, panel.table, [T - 1, T])
        scores, previous = both[both["t"] == T], both[both["t"] == T - 1]
        wanted = {w: f"{target}_c{w}" for w in (4, 52) if f"{target}_c{w}" in panel.features}
        recent = None
        if wanted:
            recent = con.execute(
                f"SELECT cell_id, {', '.join(f'{c} AS count_last_{w}_weeks' for w, c in wanted.items())} "
                f"FROM {panel.table} WHERE t = {T}"
            ).df()
        frames.append(prediction_table(scores, cells, cfg, target, forecast_date, m.version,
                                       previous=previous, recent=recent, window_end=window_end))
    return pd.concat(frames, ignore_index=True)
