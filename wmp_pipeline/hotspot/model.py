"""Count models per target: XGBoost with a Poisson objective, trained on the panel.

A model fitted at period ``F`` (a forecast date) sees only what was known
before ``F``:

* training rows are forecast dates ``t`` whose whole target window ended
  before ``F`` (``t + horizon <= F``), over the last ``train_periods``
  periods, every ``train_stride``-th one, and only once the longest feature
  window is filled;
* their labels count only events *recorded* before ``F``: the panel's target
  counts every event known at the panel's date, so events recorded at or
  after ``F`` are taken off again (from the panel's event table);
* rows with a positive label are all kept. Rows with a zero label are
  sampled and weighted up by the inverse of their rate (so the expected
  Poisson loss, and so the fitted means, are unchanged): rows of units with
  no event of any signal in the unit or its 8 neighbours in all history
  before ``t`` at ``zero_history_keep``, other zero rows at
  ``zero_label_keep``. A deterministic hash of (unit, period) chooses them.
  Most rows of a rare target are zeros that only cost time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import xgboost as xgb

from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.panel import PanelInfo, feature_spec, target_column
from wmp_pipeline.hotspot.periods import period_index, period_start

MODEL_NAME = "xgboost_poisson"


@dataclass
class HotspotModel:
    """A fitted count model and what it was fitted on."""

    target: str
    booster: xgb.Booster
    features: list[str]
    fit_period: int
    period: str
    config_fingerprint: str
    n_train_rows: int
    train_seconds: float = 0.0
    trained_at: str = ""

    @property
    def fit_date(self) -> date:
        """The forecast date the model was fitted at: it saw only data before it."""
        return period_start(self.fit_period, self.period)

    @property
    def version(self) -> str:
        return f"{MODEL_NAME}-{self.target}-{self.fit_date.isoformat()}-{self.config_fingerprint}"

    def save(self, directory: Path) -> Path:
        """Write ``<version>.ubj`` (booster) and ``<version>.json`` (metadata)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.version}.ubj"
        self.booster.save_model(str(path))
        meta = {
            "model": MODEL_NAME,
            "version": self.version,
            "target": self.target,
            "features": self.features,
            "fit_period": self.fit_period,
            "fit_date": self.fit_date.isoformat(),
            "period": self.period,
            "config_fingerprint": self.config_fingerprint,
            "n_train_rows": self.n_train_rows,
            "train_seconds": round(self.train_seconds, 2),
            "trained_at": self.trained_at,
        }
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> HotspotModel:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        booster = xgb.Booster()
        booster.load_model(str(path.with_suffix(".ubj")))
        return cls(
            target=meta["target"],
            booster=booster,
            features=list(meta["features"]),
            fit_period=int(meta["fit_period"]),
            period=meta["period"],
            config_fingerprint=meta["config_fingerprint"],
            n_train_rows=int(meta["n_train_rows"]),
            train_seconds=float(meta.get("train_seconds", 0.0)),
            trained_at=meta.get("trained_at", ""),
        )


def newest_model(directory: Path, target: str, forecast_date: date, period: str = "week") -> HotspotModel | None:
    """The newest saved model of ``target`` fitted at or before ``forecast_date``."""
    directory = Path(directory)
    if not directory.exists():
        return None
    best: tuple[int, str, Path] | None = None
    limit = period_index(forecast_date, period)
    for meta_path in directory.glob(f"{MODEL_NAME}-{target}-*.json"):
        meta = json.loads(meta_path.read_text())
        if meta.get("target") != target or meta.get("period") != period or int(meta["fit_period"]) > limit:
            continue
        key = (int(meta["fit_period"]), meta.get("trained_at", ""), meta_path)
        if best is None or key[:2] > best[:2]:
            best = key
    return HotspotModel.load(best[2].with_suffix(".ubj")) if best else None


def training_periods(cfg: HotspotConfig, fit_period: int, info: PanelInfo) -> list[int]:
    """Forecast dates (periods) a model fitted at ``fit_period`` trains on.

    The newest is ``fit_period - horizon`` (its target window ended just
    before the fit date); going back by ``train_stride`` for ``train_periods``
    periods, never before the panel's first period, and only where the
    longest feature window is filled, unless that would leave fewer than 4.
    """
    newest = fit_period - cfg.horizon_periods
    oldest = max(newest - cfg.train_periods + 1, info.first_period)
    filled = info.data_start_period + cfg.long_window
    periods = list(range(newest, oldest - 1, -cfg.train_stride))
    full = [t for t in periods if t >= filled]
    return sorted(full if len(full) >= 4 else periods)


def zero_history_sql(cfg: HotspotConfig, alias: str = "p") -> str:
    """SQL test: no event of any signal in the unit or its 8 neighbours before ``t``."""
    cols = [f"{alias}.{f.column}" for f in feature_spec(cfg) if f.kind == "rate" and f.ring in (0, 1)]
    return "(" + " + ".join(cols) + ") = 0"


def training_frame(
    con: duckdb.DuckDBPyConnection,
    cfg: HotspotConfig,
    info: PanelInfo,
    target: str,
    fit_period: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, weight) for a fit at ``fit_period`` (labels as known before it)."""
    periods = training_periods(cfg, fit_period, info)
    if not periods:
        raise ValueError(f"no training periods before fit period {fit_period}")
    H = cfg.horizon_periods
    plist = ", ".join(str(t) for t in periods)
    keep_zh = cfg.zero_history_keep
    keep_zl = cfg.zero_label_keep
    ycol = target_column(target)
    features = ", ".join(f"p.{c}" for c in info.features)
    zero = zero_history_sql(cfg)
    sql = f"""
        WITH periods AS (SELECT unnest([{plist}]) AS t),
        late AS (
            SELECT e.cell_id, p.t, SUM(e.{target}) AS n
            FROM {info.table}_events e JOIN periods p ON e.ep BETWEEN p.t AND p.t + {H - 1}
            WHERE e.kp >= {fit_period} AND e.{target} = 1
            GROUP BY ALL
        ),
        candidates AS (
            SELECT p.cell_id, p.t, {features},
                   p.{ycol} - coalesce(l.n, 0) AS label,
                   CASE WHEN p.{ycol} - coalesce(l.n, 0) > 0 THEN 1.0
                        WHEN {zero} THEN {keep_zh}
                        ELSE {keep_zl} END AS keep,
                   (hash(p.cell_id, p.t, {cfg.seed}) % 1000000) / 1000000.0 AS u
            FROM {info.table} p
            LEFT JOIN late l ON l.cell_id = p.cell_id AND l.t = p.t
            WHERE p.t IN ({plist}) AND p.{ycol} IS NOT NULL
        )
        SELECT * EXCLUDE (keep, u, cell_id, t), 1.0 / keep AS weight FROM candidates WHERE u < keep
        ORDER BY t, cell_id  -- a fixed row order, so a fit (with row subsampling) is reproducible
    """
    arrays = con.execute(sql).fetchnumpy()
    X = np.column_stack([np.asarray(arrays[c], dtype="float32") for c in info.features])
    y = np.asarray(arrays["label"], dtype="float32")
    w = np.asarray(arrays["weight"], dtype="float32")
    return X, y, w


def monotone_spec(cfg: HotspotConfig, features: list[str]) -> str:
    """XGBoost monotone constraints: more past crime never lowers the forecast; season is free."""
    counted = {f.column for f in feature_spec(cfg)} | {f"{s}_ph" for s in cfg.targets}
    return "(" + ",".join("1" if c in counted else "0" for c in features) + ")"


def fit(
    con: duckdb.DuckDBPyConnection,
    cfg: HotspotConfig,
    info: PanelInfo,
    target: str,
    fit_period: int,
) -> HotspotModel:
    """Fit the count model of ``target`` on the panel, as if at ``fit_period``."""
    started = time.monotonic()
    X, y, w = training_frame(con, cfg, info, target, fit_period)
    features = list(info.features)
    dtrain = xgb.DMatrix(X, label=y, weight=w, feature_names=features, nthread=cfg.xgb.nthread)
    params = cfg.xgb.as_xgb(cfg.seed)
    if cfg.monotone:
        params["monotone_constraints"] = monotone_spec(cfg, features)
    booster = xgb.train(params, dtrain, num_boost_round=cfg.xgb.num_boost_round)
    return HotspotModel(
        target=target,
        booster=booster,
        features=list(info.features),
        fit_period=int(fit_period),
        period=cfg.period,
        config_fingerprint=cfg.fingerprint(),
        n_train_rows=int(len(y)),
        train_seconds=time.monotonic() - started,
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def predict(
    con: duckdb.DuckDBPyConnection,
    model: HotspotModel,
    panel_table: str,
    periods: list[int],
) -> pd.DataFrame:
    """Expected counts ``cell_id, t, predicted_count`` for the given forecast periods."""
    plist = ", ".join(str(int(t)) for t in periods)
    cols = ", ".join(model.features)
    arrays = con.execute(
        f"SELECT cell_id, t, {cols} FROM {panel_table} WHERE t IN ({plist}) ORDER BY t, cell_id"
    ).fetchnumpy()
    X = np.column_stack([np.asarray(arrays[c], dtype="float32") for c in model.features])
    mu = model.booster.predict(xgb.DMatrix(X, feature_names=model.features))
    return pd.DataFrame(
        {"cell_id": np.asarray(arrays["cell_id"]).astype(str), "t": np.asarray(arrays["t"]), "predicted_count": mu}
    )
