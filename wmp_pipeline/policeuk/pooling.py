"""Pooling for small forces: one force's model trained on several forces' data.

City of London records ~650 crimes a month over ~50 cells of 250 m: a model
fitted on the force alone sees a few dozen robberies a year. The engine's
features are per-cell counts and rates (own cell, rings, district,
prospective score, month of year), which mean the same thing in any force, so
a model can be trained on the union of several forces' panels and then
score one force's cells. Whether that helps is measured, not assumed:

* :func:`compare_pooling` builds each force's panel once (its own study area
  and model calendar, :func:`~wmp_pipeline.policeuk.backtest.prepare_force`),
  unions them into a pooled panel (:func:`pool_panels`, cell ids prefixed by
  the force), and runs the police.uk rolling-origin backtest of every force
  twice: with the model fitted on the force alone, and with the model fitted
  on the pooled panel (fitted once per target and refit month, shared by
  every force), scored and judged on the force's own cells and crimes. Same
  months, same baselines, same metrics.
* :func:`choose_training` keeps, per force, the training with the higher
  mean over targets of the hit rate at 5% of the study area (pooled over the
  backtest months); a tie keeps the force alone (the simpler model).
* :func:`store_comparison` records the choice in ``policeuk_pooling_choice``
  (one row per force) and the figures in ``policeuk_pooling_metrics``.
* The monthly police.uk path (``wmp policeuk-backtest``) reads the recorded
  choice (:func:`recorded_choice`) and trains as chosen
  (:func:`fitter_for_force`).

The pool is every force given (for the three police.uk forces here: South
Yorkshire, Avon and Somerset, City of London). It is not re-weighted: the
big forces dominate it, which is the point for a small one; for a big force
the pool adds data from other places, which may or may not help (measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from wmp_pipeline import tables
from wmp_pipeline.warehouse import table_exists
from wmp_pipeline.hotspot import engine
from wmp_pipeline.hotspot.periods import period_start
from wmp_pipeline.policeuk.backtest import ForcePanel, PoliceUkBacktest, prepare_force, run_backtest

CHOICE_TABLE = tables.POLICEUK_POOLING_CHOICE
METRICS_TABLE = tables.POLICEUK_POOLING_METRICS
POOLED_PANEL = tables.POLICEUK_POOLED_PANEL
ALONE, POOLED = "alone", "pooled"
#: the figure the choice is made on (mean over targets, pooled over the backtest months)
CHOICE_METRIC = "hit_rate@5%"


def panel_table(force_slug: str) -> str:
    """The DuckDB table of one force's panel in a pooling run."""
    return "policeuk_panel__" + "".join(c if c.isalnum() else "_" for c in force_slug.lower())


def pool_panels(con: duckdb.DuckDBPyConnection, panels: dict[str, engine.PanelInfo], table: str = POOLED_PANEL) -> engine.PanelInfo:
    """Union the forces' panels (and their ``_events`` tables) into ``table``.

    Cell ids become ``<force>/<cell>`` so cells of different forces never
    merge. The panels must share the forecast date and features (same
    config); training then starts where every force's longest window is
    filled (the latest data start) and may reach back to the earliest first
    period.
    """
    if not panels:
        raise ValueError("no panels to pool")
    infos = list(panels.values())
    as_of = {p.as_of_period for p in infos}
    if len(as_of) != 1:
        raise ValueError(f"panels to pool end at different months {sorted(as_of)}: {sorted(panels)}")
    features = {tuple(p.features) for p in infos}
    if len(features) != 1:
        raise ValueError("panels to pool were built with different settings (their features differ)")
    for suffix in ("", "_events"):
        union = " UNION ALL BY NAME ".join(
            f"SELECT * REPLACE ('{force}/' || cell_id AS cell_id) FROM {p.table}{suffix}" for force, p in panels.items()
        )
        con.execute(f"CREATE OR REPLACE TABLE {table}{suffix} AS {union}")
    n_rows, n_units = con.execute(f"SELECT count(*), count(DISTINCT cell_id) FROM {table}").fetchone()
    counts: dict[str, int] = {}
    for p in infos:
        for k, v in p.event_counts.items():
            if isinstance(v, (int, np.integer)):
                counts[k] = counts.get(k, 0) + int(v)
    return engine.PanelInfo(
        table=table,
        as_of_period=as_of.pop(),
        first_period=min(p.first_period for p in infos),
        data_start_period=max(p.data_start_period for p in infos),
        n_rows=int(n_rows),
        n_units=int(n_units),
        features=list(infos[0].features),
        targets=list(infos[0].targets),
        event_counts=counts,
    )


def pooled_fitter(
    con: duckdb.DuckDBPyConnection, cfg: engine.HotspotConfig, pooled: engine.PanelInfo
) -> Callable[[str, int], engine.HotspotModel]:
    """``fit_model(target, fit_period)`` fitting on the pooled panel, each fit once (cached)."""
    cache: dict[tuple[str, int], engine.HotspotModel] = {}

    def fit_model(target: str, fit_period: int) -> engine.HotspotModel:
        key = (target, int(fit_period))
        if key not in cache:
            cache[key] = engine.fit(con, cfg, pooled, target, period_start(int(fit_period), cfg.period))
        return cache[key]

    return fit_model


def model_scores(bt: PoliceUkBacktest, metrics: tuple[str, ...] = (CHOICE_METRIC, "pai@1%")) -> pd.DataFrame:
    """``target, n_crimes, <metrics>`` of the model (not the baselines) in a backtest (pure)."""
    s = bt.summary[bt.summary["model"] == engine.MODEL_NAME]
    return s[["target", "n_crimes", *[m for m in metrics if m in s.columns]]].reset_index(drop=True)


def choose_training(alone: pd.DataFrame, pooled: pd.DataFrame, metric: str = CHOICE_METRIC) -> tuple[str, float, float]:
    """(choice, alone score, pooled score): the mean of ``metric`` over targets, higher wins, a tie keeps alone (pure)."""
    a = float(alone[metric].mean())
    p = float(pooled[metric].mean())
    if np.isnan(a) and np.isnan(p):
        raise ValueError(f"no {metric} to compare: the backtest months hold no target crime")
    return (POOLED if (np.isnan(a) or p > a) else ALONE), a, p


@dataclass
class PoolingComparison:
    """What :func:`compare_pooling` measured."""

    forces: list[str]
    cfg: engine.HotspotConfig
    #: one row per force: ``force_slug, training, score_alone, score_pooled, ...``
    choices: pd.DataFrame
    #: one row per force, target and training: ``n_crimes``, hit rate @5%, PAI @1%
    scores: pd.DataFrame
    backtests: dict[tuple[str, str], PoliceUkBacktest] = field(default_factory=dict)
    pooled_panel: dict = field(default_factory=dict)


def compare_pooling(
    con: duckdb.DuckDBPyConnection,
    forces: list[str],
    cfg: engine.HotspotConfig,
    log=None,
) -> PoolingComparison:
    """Backtest every force trained alone and trained on the pool of ``forces``; choose per force."""
    if len(forces) < 2:
        raise ValueError(f"pooling needs at least two forces, got {forces}")
    prepared = {f: prepare_force(con, f, cfg, table=panel_table(f)) for f in forces}
    pooled = pool_panels(con, {f: p.panel for f, p in prepared.items()})
    fitter = pooled_fitter(con, cfg, pooled)
    backtests: dict[tuple[str, str], PoliceUkBacktest] = {}
    score_frames, rows = [], []
    for force in forces:
        alone = run_backtest(con, force, cfg, log=log, prepared=prepared[force])
        pooled_bt = run_backtest(con, force, cfg, log=log, prepared=prepared[force], fit_model=fitter)
        backtests[(force, ALONE)], backtests[(force, POOLED)] = alone, pooled_bt
        a, p = model_scores(alone), model_scores(pooled_bt)
        choice, score_a, score_p = choose_training(a, p)
        score_frames += [a.assign(force_slug=force, training=ALONE), p.assign(force_slug=force, training=POOLED)]
        rows.append(
            {
                "force_slug": force,
                "training": choice,
                "pool_forces": ",".join(forces) if choice == POOLED else force,
                "metric": f"mean over targets of {CHOICE_METRIC}",
                "score_alone": round(score_a, 4),
                "score_pooled": round(score_p, 4),
                "target_crimes": int(a["n_crimes"].sum()),
                "study_cells": alone.study_area["cells"],
                "backtest_months": f"{alone.source['backtest_months'][0][:7]}..{alone.source['backtest_months'][-1][:7]}",
            }
        )
    scores = pd.concat(score_frames, ignore_index=True)
    scores = scores[["force_slug", "training", *[c for c in scores.columns if c not in ("force_slug", "training")]]]
    return PoolingComparison(
        forces=list(forces),
        cfg=cfg,
        choices=pd.DataFrame(rows),
        scores=scores,
        backtests=backtests,
        pooled_panel={"cells": pooled.n_units, "rows": pooled.n_rows},
    )


def store_comparison(con: duckdb.DuckDBPyConnection, comparison: PoolingComparison) -> None:
    """Replace the compared forces' rows in ``policeuk_pooling_choice`` and ``policeuk_pooling_metrics``."""
    stamp = datetime.now().replace(microsecond=0)
    fingerprint = comparison.cfg.fingerprint()
    choices = comparison.choices.assign(config_fingerprint=fingerprint, measured_at=stamp)
    scores = comparison.scores.rename(columns=lambda c: c.replace("@", "_at_").replace("%", "pct").replace(".", "_"))
    scores = scores.assign(config_fingerprint=fingerprint, measured_at=stamp)
    for table, frame in ((CHOICE_TABLE, choices), (METRICS_TABLE, scores)):
        con.register("_pooling_frame", frame)
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM _pooling_frame LIMIT 0")
        forces = ", ".join("'" + f.replace("'", "''") + "'" for f in comparison.forces)
        con.execute(f"DELETE FROM {table} WHERE force_slug IN ({forces})")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _pooling_frame")
        con.unregister("_pooling_frame")


@dataclass(frozen=True)
class TrainingChoice:
    """How a force's model is trained: ``alone``, or ``pooled`` over ``pool_forces``."""

    force_slug: str
    training: str = ALONE
    pool_forces: tuple[str, ...] = ()
    measured_at: str = ""
    recorded: bool = False

    def describe(self) -> str:
        if not self.recorded:
            return f"{self.force_slug} alone (no pooling choice recorded in {CHOICE_TABLE})"
        if self.training == POOLED:
            return f"pooled over {', '.join(self.pool_forces)} (recorded in {CHOICE_TABLE}, measured {self.measured_at})"
        return f"{self.force_slug} alone (recorded in {CHOICE_TABLE}, measured {self.measured_at})"


def recorded_choice(con: duckdb.DuckDBPyConnection, force_slug: str) -> TrainingChoice:
    """The recorded training choice of ``force_slug``; a force never compared trains alone."""
    if not table_exists(con, CHOICE_TABLE):
        return TrainingChoice(force_slug)
    row = con.execute(
        f"SELECT training, pool_forces, CAST(measured_at AS VARCHAR) FROM {CHOICE_TABLE} WHERE force_slug = ?", [force_slug]
    ).fetchone()
    if row is None:
        return TrainingChoice(force_slug)
    return TrainingChoice(force_slug, row[0], tuple(f for f in row[1].split(",") if f), row[2], recorded=True)


def fitter_for_force(
    con: duckdb.DuckDBPyConnection,
    cfg: engine.HotspotConfig,
    choice: TrainingChoice,
    force_panel: ForcePanel,
    loaded_forces: list[str],
) -> Callable[[str, int], engine.HotspotModel] | None:
    """The ``fit_model`` the choice asks for: None (the force alone) or a pooled fitter.

    For a pooled choice the other forces of the pool must be loaded in the
    same database; their panels are built for the same forecast month.
    """
    if choice.training != POOLED:
        return None
    missing = [f for f in choice.pool_forces if f not in loaded_forces]
    if missing:
        raise ValueError(
            f"{choice.force_slug} trains pooled over {list(choice.pool_forces)} ({CHOICE_TABLE}), but {missing} "
            "are not loaded in this database: load their police.uk files too, or compare again with wmp policeuk-pooling"
        )
    panels = {choice.force_slug: force_panel.panel}
    for force in choice.pool_forces:
        if force != choice.force_slug:
            panels[force] = prepare_force(con, force, cfg, table=panel_table(force)).panel
    return pooled_fitter(con, cfg, pool_panels(con, panels))
