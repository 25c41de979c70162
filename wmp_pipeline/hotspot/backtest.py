"""Rolling-origin backtest: one forecast per period over the last ``backtest_periods``.

Origins are the last ``backtest_periods`` forecast dates whose whole target
window has ended before the panel's date ``T``: ``T - horizon - B + 1 ..
T - horizon``. The model is refitted every ``refit_every`` origins on data
strictly before that origin (see :mod:`wmp_pipeline.hotspot.model`) and
predicts the origins up to the next refit with features known at each of
them. Baselines are scored at every origin. Each forecast is judged by hit
rate and PAI at each of ``cfg.area_shares`` (see
:mod:`wmp_pipeline.evaluation.spatial`).

With the generator's ground truth (evaluation only), the **ceiling**
(``ceiling``) is judged the same way: for each origin ``T`` and cell, the
true expected number of crimes in the window *given the history before*
``T``, ``E[N(T, T + horizon) | H_T]`` (the generator's
``hotspot_forecast_truth.parquet``; see ``wmp_pipeline/generator/README.md``).
It is the best ranking any forecast made at ``T`` could have.

Diagnostic (only when the truth frame also holds the one-period truth):
``ceiling_diag_summed_weekly`` sums the weekly true intensities over the
window. In a self-exciting process the intensity of weeks 2-4 holds the
crimes *triggered by crimes inside the window* (a stabbing in week 1 raises
the expected counts of weeks 2-4 around it), so that sum ranks cells partly
on the very crimes it is judged on: it is not a ceiling for a forecast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from wmp_pipeline.evaluation.spatial import hit_rate_pai, pool
from wmp_pipeline.hotspot.baselines import baseline_columns
from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.model import MODEL_NAME, HotspotModel, fit, predict
from wmp_pipeline.hotspot.panel import PanelInfo, target_column
from wmp_pipeline.hotspot.periods import period_index, period_starts

#: the ceiling: E[crimes in the window | history before the origin] (generator truth)
CEILING = "ceiling"
#: diagnostic, not a ceiling: the one-period true intensities summed over the window
CEILING_SUMMED_WEEKLY = "ceiling_diag_summed_weekly"
#: columns of a truth frame; an optional ``window_periods`` (default 1) says how many periods
#: from ``period_start`` ``expected_count`` covers, given the history before ``period_start``
TRUTH_COLUMNS = ("target", "cell_id", "period_start", "expected_count")


@dataclass
class BacktestResult:
    #: one row per target, model, origin and area share
    per_origin: pd.DataFrame
    #: pooled over origins: one row per target, model and area share
    overall: pd.DataFrame
    #: the models fitted during the backtest, by (target, fit period)
    models: dict[tuple[str, int], HotspotModel] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def backtest_origins(cfg: HotspotConfig, as_of_period: int, first_period: int | None = None) -> list[int]:
    """The forecast periods judged by a backtest run at ``as_of_period``."""
    last = as_of_period - cfg.horizon_periods
    first = last - cfg.backtest_periods + 1
    if first_period is not None:
        first = max(first, first_period)
    return list(range(first, last + 1))


def refit_schedule(cfg: HotspotConfig, origins: list[int], refit_every: int | None = None) -> dict[int, int]:
    """Origin -> the origin whose fit predicts it (refits every ``refit_every``)."""
    every = refit_every or cfg.refit_every
    return {t: origins[(i // every) * every] for i, t in enumerate(origins)}


def truth_scores(
    truth: pd.DataFrame, cfg: HotspotConfig, target: str, origins: list[int], summed_periods: bool = False
) -> pd.DataFrame:
    """``cell_id, t, score``: the truth's score of each cell at each origin.

    By default the ceiling: the rows whose ``window_periods`` is the
    horizon, at ``period_start = t``: ``E[crimes in the window | history
    before t]``. With ``summed_periods``, the diagnostic
    :data:`CEILING_SUMMED_WEEKLY`: the one-period rows of the window summed.
    Empty when the truth holds no such rows.
    """
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise ValueError(f"truth lacks columns {missing}")
    window = truth["window_periods"] if "window_periods" in truth.columns else pd.Series(1, index=truth.index)
    tr = truth[(truth["target"] == target) & (window == (1 if summed_periods else cfg.horizon_periods))]
    if tr.empty:
        return pd.DataFrame(columns=["cell_id", "t", "score"])
    dates = pd.to_datetime(tr["period_start"]).dt.date
    lookup = {d: period_index(d, cfg.period) for d in dates.unique()}
    tr = tr.assign(p=dates.map(lookup))
    span = cfg.horizon_periods if summed_periods else 1
    tr = tr[(tr["p"] >= min(origins)) & (tr["p"] < max(origins) + span)]
    per = tr.groupby(["cell_id", "p"], as_index=False, observed=True)["expected_count"].sum()
    frames = []
    for t in origins:
        s = per[(per["p"] >= t) & (per["p"] < t + span)]
        s = s.groupby("cell_id", as_index=False, observed=True)["expected_count"].sum()
        frames.append(s.assign(t=t).rename(columns={"expected_count": "score"}))
    return pd.concat(frames, ignore_index=True)


def _evaluate(frame: pd.DataFrame, scores: dict[str, np.ndarray], cfg: HotspotConfig) -> pd.DataFrame:
    """Hit rate and PAI of each score column, per origin (``frame`` sorted by ``t``)."""
    t = frame["t"].to_numpy()
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    ends = np.r_[starts[1:], len(t)]
    actual = frame["actual"].to_numpy(dtype="float64")
    area = frame["area_m2"].to_numpy(dtype="float64")
    rows = []
    for model, score in scores.items():
        for lo, hi in zip(starts, ends, strict=True):
            m = hit_rate_pai(score[lo:hi], actual[lo:hi], cfg.area_shares, area[lo:hi])
            m.insert(0, "t", int(t[lo]))
            m.insert(0, "model", model)
            rows.append(m)
    return pd.concat(rows, ignore_index=True)


def _aligned(frame: pd.DataFrame, values: pd.DataFrame, column: str) -> np.ndarray:
    """``values[column]`` in the row order of ``frame`` (by cell and period), 0 where missing."""
    merged = frame[["cell_id", "t"]].merge(values[["cell_id", "t", column]], on=["cell_id", "t"], how="left")
    return merged[column].fillna(0.0).to_numpy(dtype="float64")


def run_backtest(
    con: duckdb.DuckDBPyConnection,
    cfg: HotspotConfig,
    info: PanelInfo,
    truth: pd.DataFrame | None = None,
    refit_every: int | None = None,
    progress=None,
    targets: tuple[str, ...] | None = None,
    fit_model: Callable[[str, int], HotspotModel] | None = None,
) -> BacktestResult:
    """Backtest the model and the baselines (and the ceiling, given ``truth``),
    for ``targets`` (default: every target of the config).

    ``fit_model(target, fit_period)`` fits the model judged here (default: on
    this panel); police.uk pooling passes one trained on several forces'
    panels, scored and judged on this one."""
    origins = backtest_origins(cfg, info.as_of_period, info.first_period)
    if not origins:
        raise ValueError("the panel holds no complete target window to backtest")
    schedule = refit_schedule(cfg, origins, refit_every)
    fits = sorted(set(schedule.values()))
    plist = ", ".join(str(t) for t in origins)
    per_origin, models, timings = [], {}, {"fit": 0.0, "predict": 0.0, "evaluate": 0.0}
    for target in targets or cfg.targets:
        base = baseline_columns(cfg, target)
        ycol = target_column(target)
        frame = con.execute(
            f"SELECT cell_id, t, area_m2, {ycol} AS actual, {', '.join(base.values())} "
            f"FROM {info.table} WHERE t IN ({plist})"
        ).df()
        frame["cell_id"] = frame["cell_id"].astype(str)
        preds = []
        for F in fits:
            started = time.monotonic()
            model = fit_model(target, F) if fit_model is not None else fit(con, cfg, info, target, F)
            timings["fit"] += time.monotonic() - started
            models[(target, F)] = model
            started = time.monotonic()
            todo = [t for t, f in schedule.items() if f == F]
            p = predict(con, model, info.table, todo)
            preds.append(p.assign(model_version=model.version))
            timings["predict"] += time.monotonic() - started
            if progress is not None:
                progress.update(1, note=f"{target} fit {F}")
        pred = pd.concat(preds, ignore_index=True)
        started = time.monotonic()
        frame = frame.sort_values(["t", "cell_id"], kind="mergesort").reset_index(drop=True)
        scores = {MODEL_NAME: _aligned(frame, pred, "predicted_count")}
        for name, col in base.items():
            scores[name] = frame[col].to_numpy(dtype="float64")
        if truth is not None:
            diagnostics = ((CEILING_SUMMED_WEEKLY, True),) if cfg.horizon_periods > 1 else ()
            for name, summed in ((CEILING, False), *diagnostics):
                ts = truth_scores(truth, cfg, target, origins, summed_periods=summed)
                if not ts.empty:
                    scores[name] = _aligned(frame, ts, "score")
        m = _evaluate(frame, scores, cfg)
        versions = pred.groupby("t")["model_version"].first()
        m["model_version"] = np.where(m["model"] == MODEL_NAME, m["t"].map(versions), m["model"])
        # the model's expected count of the whole area over the window (the trend chart's forecast line)
        totals = pd.Series(scores[MODEL_NAME]).groupby(frame["t"].to_numpy()).sum()
        m["expected_total"] = np.where(m["model"] == MODEL_NAME, m["t"].map(totals), np.nan)
        m.insert(0, "target", target)
        per_origin.append(m)
        timings["evaluate"] += time.monotonic() - started
    result = pd.concat(per_origin, ignore_index=True)
    result.insert(3, "forecast_date", period_starts(result["t"], cfg.period).dt.date.to_numpy())
    overall = pool(result, ["target", "model", "area_share"])
    return BacktestResult(per_origin=result, overall=overall, models=models, timings=timings)


def summary_table(overall: pd.DataFrame, shares: tuple[float, ...] = (0.01, 0.05)) -> pd.DataFrame:
    """Wide table: one row per target and model, hit rate and PAI at ``shares``."""
    rows = []
    for (target, model), g in overall.groupby(["target", "model"], sort=False):
        row = {"target": target, "model": model}
        for share in shares:
            hit = g[np.isclose(g["area_share"], share)]
            if hit.empty:
                continue
            pct = f"{share * 100:g}%"
            row[f"hit_rate@{pct}"] = float(hit["hit_rate"].iloc[0])
            row[f"pai@{pct}"] = float(hit["pai"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)
