"""Next month's hotspot forecast of a police.uk force, trained as its recorded choice says.

The monthly police.uk path ends here: after the backtest, the model of each
target is fitted at the panel's forecast month (the month after the newest
published one) either on the force alone or on the pool of forces recorded
in ``policeuk_pooling_choice`` (:mod:`wmp_pipeline.policeuk.pooling`), and
ranks the force's study-area cells. Rows go to ``policeuk_hotspot_predictions``
(one row per force, target and cell; a new forecast of a force replaces its
rows).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from wmp_pipeline import tables
from wmp_pipeline.hotspot import engine
from wmp_pipeline.policeuk.backtest import ForcePanel

PREDICTIONS_TABLE = tables.POLICEUK_HOTSPOT_PREDICTIONS


def forecast_next_month(
    con: duckdb.DuckDBPyConnection,
    cfg: engine.HotspotConfig,
    fp: ForcePanel,
    fit_model: Callable[[str, int], engine.HotspotModel] | None = None,
    training: str = "alone",
) -> pd.DataFrame:
    """The analyst rows of the month after the newest published one (model fitted as ``fit_model`` says)."""
    as_of = fp.panel.as_of_period
    models = {
        target: (fit_model(target, as_of) if fit_model is not None else engine.fit(con, cfg, fp.panel, target))
        for target in cfg.targets
    }
    table = engine.predict_latest(con, cfg, fp.panel, fp.cells, models)
    table = table.rename(columns={"forecast_week": "forecast_month"})
    table.insert(0, "force_slug", fp.force_slug)
    table["training"] = training
    return table


def store_predictions(con: duckdb.DuckDBPyConnection, table: pd.DataFrame) -> None:
    """Replace the force's rows of ``policeuk_hotspot_predictions``."""
    con.register("_policeuk_predictions", table)
    con.execute(f"CREATE TABLE IF NOT EXISTS {PREDICTIONS_TABLE} AS SELECT * FROM _policeuk_predictions LIMIT 0")
    con.execute(f"DELETE FROM {PREDICTIONS_TABLE} WHERE force_slug IN (SELECT DISTINCT force_slug FROM _policeuk_predictions)")
    con.execute(f"INSERT INTO {PREDICTIONS_TABLE} BY NAME SELECT * FROM _policeuk_predictions")
    con.unregister("_policeuk_predictions")
