"""A police.uk force's weekly run: next month's hotspot forecast and its backtest.

A force whose registry source is ``policeuk`` has no CONNECT extract, only
police.uk's monthly street-level files. Its weekly run forecasts the first
month after the newest month published before the run's forecast date
(months only: police.uk has no dates), with the engine's monthly set-up
(:func:`wmp_pipeline.policeuk.backtest.monthly_config`), and keeps the
12-month rolling-origin backtest beside it. The backtest is rerun only when
a new month (or a new configuration) arrives: weeks between two monthly
publications reuse the stored one.

Writes ``hotspot_predictions`` (the forecast month, the same columns as the
CONNECT forecast: ``target`` names police.uk crime types) and
``policeuk_backtest_metrics`` in the force's working database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from wmp_pipeline.hotspot import engine
from wmp_pipeline.hotspot import store
from wmp_pipeline.hotspot.maps import render_top_map, write_geojson
from wmp_pipeline.hotspot.periods import period_index, period_start
from wmp_pipeline.policeuk.backtest import METRICS_TABLE, PANEL_TABLE, run_backtest, store_metrics, summary_table
from wmp_pipeline.policeuk.events import EVENTS_VIEW, STAGING_MODEL, create_events_view

KNOWN_VIEW = "_policeuk_known_street"
MAPS_SUBDIR = "maps"


@dataclass
class PoliceUkForecast:
    force_slug: str
    last_month: date
    forecast_month: date
    backtest_run_id: str
    backtest_reused: bool
    predictions: pd.DataFrame
    summary: pd.DataFrame
    source: dict
    paths: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def known_months_view(con: duckdb.DuckDBPyConnection, forecast_date: date) -> str:
    """A view of the staging rows of months that ended before ``forecast_date`` (no later data)."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {KNOWN_VIEW} AS SELECT * FROM {STAGING_MODEL} "
        f"WHERE month_end < DATE '{forecast_date.isoformat()}'"
    )
    return KNOWN_VIEW


def stored_backtest_summary(con: duckdb.DuckDBPyConnection, run_id: str, cfg: engine.HotspotConfig) -> pd.DataFrame | None:
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [METRICS_TABLE]).fetchall()[0][0]
    if not exists:
        return None
    overall = con.execute(f"SELECT * FROM {METRICS_TABLE} WHERE run_id = ? AND scope = 'overall'", [run_id]).df()
    return None if overall.empty else summary_table(overall, cfg.area_shares, cfg.targets)


def forecast_force(
    con: duckdb.DuckDBPyConnection,
    force_slug: str,
    cfg: engine.HotspotConfig,
    forecast_date: date,
    artifacts_dir: Path,
    log=None,
) -> PoliceUkForecast:
    """Backtest (or reuse it) and forecast the month after the newest one known at ``forecast_date``."""
    started = time.monotonic()
    known = known_months_view(con, forecast_date)
    source = create_events_view(con, force_slug, source=known)
    last_month = source["last_month"]
    run_id = f"{force_slug}-{last_month:%Y-%m}-{cfg.fingerprint()}"
    summary = stored_backtest_summary(con, run_id, cfg)
    reused = summary is not None
    timings = {}
    if not reused:
        bt = run_backtest(con, force_slug, cfg, log=log, source_table=known)
        store_metrics(con, bt, run_id)
        summary = bt.summary
        timings["backtest"] = bt.timings.get("total", 0.0)
        create_events_view(con, force_slug, source=known)  # the backtest replaced the view
    t0 = time.monotonic()
    as_of = period_index(pd.Timestamp(last_month).date(), "month") + 1
    forecast_month = period_start(as_of, "month")
    # the cells of the forecast: every cell holding a located record known now
    cells = engine.build_cells(con, EVENTS_VIEW, cfg.replace(footprint_buffer_m=0.0))
    panel = engine.build_panel(con, EVENTS_VIEW, cells, cfg, forecast_month, table=PANEL_TABLE)
    models = {target: engine.fit(con, cfg, panel, target) for target in cfg.targets}
    table = engine.predict_latest(con, cfg, panel, cells, models)
    store.write_frame(con, store.PREDICTIONS_TABLE, table)
    timings["forecast"] = time.monotonic() - t0
    maps = Path(artifacts_dir) / MAPS_SUBDIR
    paths = {}
    for target in cfg.targets:
        paths[f"geojson_{target}"] = write_geojson(
            table[table["target"] == target], maps / f"hotspot_{target}_{forecast_month.isoformat()}.geojson"
        )
    maps.mkdir(parents=True, exist_ok=True)
    paths["png"] = maps / f"hotspot_top_{forecast_month.isoformat()}.png"
    paths["png"].write_bytes(render_top_map(cells, table, f"{source['force_name']}: hotspot forecast for {forecast_month:%B %Y}"))
    timings["total"] = time.monotonic() - started
    return PoliceUkForecast(
        force_slug=force_slug,
        last_month=pd.Timestamp(last_month).date(),
        forecast_month=forecast_month,
        backtest_run_id=run_id,
        backtest_reused=reused,
        predictions=table,
        summary=summary,
        source=source,
        paths=paths,
        timings={k: round(v, 1) for k, v in timings.items()},
    )
