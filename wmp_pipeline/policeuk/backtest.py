"""``wmp policeuk-backtest``: the hotspot engine's backtest on a force's police.uk data.

    wmp policeuk-backtest --dir FOLDER [--duckdb PATH] [--cell-size 250]
                          [--months 12] [--out results.csv] [--force SLUG]

Loads the folder's street-level files into the DuckDB file (idempotent), builds
the staging model with dbt, then replays the last ``--months`` months: for each
month, the model fitted on the months before it and the three baselines rank
the force's cells, and the crimes of that month judge them by hit rate and PAI
at 0.5, 1, 2 and 5% of the study area. Prints the table and writes
``results.csv`` (the table), ``results_per_origin.csv`` (one row per month)
and ``results.json`` (both, with what was measured on). Nothing in it is
specific to a force: the force, its months, its local authorities and its
extent come from the data.

Study area (the area PAI divides by): the 250 m cells that held at least one
record of any type (crime or anti-social behaviour) in the force's own local
authorities in the months *before the first backtest month*. That is land
where crime can happen: no sea, moor or empty grid inflates it, and no later
data decides it. A target crime of a backtest month that falls in a cell
outside that area (new estates, rare) is a miss for every model: it counts in
the hit rate's denominator and in no flagged cell.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from wmp_pipeline import tables, warehouse
from wmp_pipeline.evaluation.spatial import pool
from wmp_pipeline.hotspot import engine
from wmp_pipeline.hotspot.periods import period_index, period_start, sql_period_index
from wmp_pipeline.policeuk.events import EVENTS_VIEW, RELATED, TARGETS, create_events_view, month_calendar
from wmp_pipeline.policeuk.files import find_street_files
from wmp_pipeline.policeuk.loader import load_folder
from wmp_pipeline.policeuk.staging import build_staging
from wmp_pipeline.progress import Progress
from wmp_pipeline.settings import get_settings

PANEL_TABLE = tables.POLICEUK_HOTSPOT_PANEL
METRICS_TABLE = tables.POLICEUK_BACKTEST_METRICS
AREA_SHARES = (0.005, 0.01, 0.02, 0.05)

#: police.uk names of the targets, for printed tables
TARGET_LABELS = {
    "violence_and_sexual_offences": "Violence and sexual offences",
    "robbery": "Robbery",
    "possession_of_weapons": "Possession of weapons",
    "serious_violence_proxy": "Serious violence proxy (violence + robbery)",
}


def monthly_config(cell_size_m: int = 250, months: int = 12, **changes) -> engine.HotspotConfig:
    """The engine's monthly set-up for police.uk, every choice spelled out here.

    * forecast the next month (horizon 1) from the months before it;
    * target windows of 1, 3, 6 and 12 months, plus the all-history rate the
      engine adds: rare crime (robbery, weapons: ~130 a month in South
      Yorkshire spread over ~6,000 cells) is mostly zeros in any one month,
      so what separates cells is the long memory and the neighbours' counts;
    * related signals (anti-social behaviour, drugs, public order, criminal
      damage, theft from the person, burglary, shoplifting) over 3 and 12
      months: places busy with other trouble;
    * prospective hotspotting over the last 2 months (its monthly analogue of
      Bowers et al.'s 1-2 months), baselines of the last 1 and 12 months;
    * train on the last 24 months (every month: consecutive months do not
      share target months), refit every 3 backtest months;
    * the study area is fixed before the backtest (see the module doc), so
      no footprint buffer;
    * XGBoost Poisson settings pinned here (the engine's defaults may move
      with CONNECT tuning; the police.uk results must not move with them).
    """
    params = dict(
        unit="grid",
        cell_size_m=int(cell_size_m),
        footprint_buffer_m=0.0,
        horizon_periods=1,
        backtest_periods=int(months),
        targets=tuple(TARGETS),
        related=tuple(RELATED),
        windows=(1, 3, 6, 12),
        related_windows=(3, 12),
        wider_ring=True,
        district_radius_m=1000.0,
        ph_bandwidth_m=400.0,
        ph_band_m=float(cell_size_m),
        ph_periods=2,
        baseline_windows=(1, 12),
        area_shares=AREA_SHARES,
        refit_every=3,
        retrain_every=1,
        train_periods=24,
        train_stride=1,
        zero_history_keep=0.1,
        zero_label_keep=0.3,
        xgb=engine.XGBoostParams(
            objective="count:poisson",
            num_boost_round=120,
            max_depth=4,
            learning_rate=0.1,
            min_child_weight=5.0,
            subsample=0.8,
            colsample_bytree=0.8,
            max_bin=64,
            max_delta_step=0.7,
            nthread=2,
        ),
    )
    params.update(changes)
    return engine.HotspotConfig.monthly(**params)


@dataclass
class PoliceUkBacktest:
    """What :func:`run_backtest` measured."""

    cfg: engine.HotspotConfig
    source: dict
    #: one row per target, model, backtest month and area share (real months)
    per_origin: pd.DataFrame
    #: pooled over the backtest months: one row per target, model and area share
    overall: pd.DataFrame
    #: target x model: hit rate and PAI at each area share
    summary: pd.DataFrame
    study_area: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def first_origin_period(cfg: engine.HotspotConfig, as_of_period: int, data_start_period: int) -> int:
    """The first backtest month (period index), never before the second month of data."""
    origins = engine.backtest_origins(cfg, as_of_period)
    return max(origins[0], data_start_period + 1)


def study_area_cells(con: duckdb.DuckDBPyConnection, events: str, cfg: engine.HotspotConfig, before: date):
    """Cells holding at least one located record known before ``before`` (see the module doc)."""
    view = "_policeuk_study_events"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {events} WHERE known_time < DATE '{before.isoformat()}'")
    if con.execute(f"SELECT count(*) FROM {view} WHERE easting IS NOT NULL").fetchone()[0] == 0:
        raise ValueError(f"no located records before {before}: too few months for this backtest")
    return engine.build_cells(con, view, cfg.replace(footprint_buffer_m=0.0))


def outside_area_counts(
    con: duckdb.DuckDBPyConnection, events: str, cells: pd.DataFrame, cfg: engine.HotspotConfig, origins: list[int]
) -> pd.DataFrame:
    """``target, t, n_outside``: located target crimes of each origin's window in no study cell."""
    size = cfg.cell_size_m
    con.register("_policeuk_cells_df", pd.DataFrame({"cell_id": cells.loc[cells["in_force_area"], "cell_id"].astype(str)}))
    ep = sql_period_index("event_time", cfg.period)
    cell = (
        f"'{size}m_' || CAST(CAST(floor(easting / {size}) * {size} AS BIGINT) AS VARCHAR)"
        f" || '_' || CAST(CAST(floor(northing / {size}) * {size} AS BIGINT) AS VARCHAR)"
    )
    sums = ", ".join(f"CAST(SUM(CAST({s} AS INTEGER)) AS BIGINT) AS {s}" for s in cfg.targets)
    frame = con.execute(
        f"""
        SELECT {ep} AS ep, {sums}
        FROM {events}
        WHERE easting IS NOT NULL AND northing IS NOT NULL
          AND {cell} NOT IN (SELECT cell_id FROM _policeuk_cells_df)
        GROUP BY 1
        """
    ).df()
    con.unregister("_policeuk_cells_df")
    rows = []
    for target in cfg.targets:
        by_period = dict(zip(frame["ep"], frame[target], strict=True)) if len(frame) else {}
        for t in origins:
            n = sum(int(by_period.get(p, 0) or 0) for p in range(t, t + cfg.horizon_periods))
            rows.append({"target": target, "t": t, "n_outside": n})
    return pd.DataFrame(rows, columns=["target", "t", "n_outside"])


def count_outside_as_misses(per_origin: pd.DataFrame, outside: pd.DataFrame) -> pd.DataFrame:
    """Add crimes outside the study area to each forecast's crimes, as misses (pure)."""
    out = per_origin.merge(outside, on=["target", "t"], how="left")
    out["n_outside_area"] = out.pop("n_outside").fillna(0).astype("int64")
    out["n_crimes"] = out["n_crimes"] + out["n_outside_area"]
    has = out["n_crimes"] > 0
    out["hit_rate"] = np.where(has, out["hits"] / out["n_crimes"].where(has), np.nan)
    out["pai"] = out["hit_rate"] / out["area_share"].clip(upper=1.0)
    return out


def summary_table(overall: pd.DataFrame, shares=AREA_SHARES, targets: tuple[str, ...] = ()) -> pd.DataFrame:
    """target x model: crimes, then hit rate and PAI at each share.

    Targets in ``targets`` order, the model first and then the baselines."""
    wide = engine.summary_table(overall, tuple(shares))
    crimes = overall.groupby(["target", "model"], as_index=False)["n_crimes"].max()
    wide = wide.merge(crimes, on=["target", "model"], how="left")
    hit = [c for c in wide.columns if c.startswith("hit_rate@")]
    pai = [c for c in wide.columns if c.startswith("pai@")]
    order = {t: i for i, t in enumerate(targets)}
    wide["_t"] = wide["target"].map(order).fillna(len(order))
    wide["_m"] = (wide["model"] != engine.MODEL_NAME).astype(int)
    wide = wide.sort_values(["_t", "target", "_m", "model"], kind="stable")
    return wide[["target", "model", "n_crimes", *hit, *pai]].reset_index(drop=True)


def run_backtest(
    con: duckdb.DuckDBPyConnection,
    force_slug: str,
    cfg: engine.HotspotConfig,
    log=None,
    source_table: str | None = None,
) -> PoliceUkBacktest:
    """The rolling-origin backtest of ``force_slug`` on ``stg_policeuk__street_crimes``
    (or ``source_table``, a relation of the same columns, e.g. the months known at a date)."""
    started = time.monotonic()
    source = create_events_view(con, force_slug, **({"source": source_table} if source_table else {}))
    calendar = month_calendar(list(pd.to_datetime(con.execute(f"SELECT DISTINCT real_month FROM {EVENTS_VIEW}").df()["real_month"]).dt.date))
    to_real = {period_index(m, "month"): r for m, r in zip(calendar["model_month"], calendar["month"], strict=True)}
    last_model_month = max(calendar["model_month"])
    as_of = period_index(last_model_month, "month") + 1
    data_start = period_index(min(calendar["model_month"]), "month")
    first = first_origin_period(cfg, as_of, data_start)
    cells = study_area_cells(con, EVENTS_VIEW, cfg, period_start(first, "month"))
    timings = {"cells": time.monotonic() - started}
    t0 = time.monotonic()
    panel = engine.build_panel(con, EVENTS_VIEW, cells, cfg, period_start(as_of, "month"), table=PANEL_TABLE)
    timings["panel"] = time.monotonic() - t0
    origins = [t for t in engine.backtest_origins(cfg, as_of, panel.first_period) if t >= first]
    n_fits = len(set(o for i, o in enumerate(origins) if i % cfg.refit_every == 0))
    t0 = time.monotonic()
    with Progress("police.uk backtest", total=n_fits * len(cfg.targets), log=log) as progress:
        result = engine.run_backtest(con, cfg, panel, progress=progress)
    timings["backtest"] = time.monotonic() - t0
    per_origin = result.per_origin[result.per_origin["t"].isin(origins)]
    outside = outside_area_counts(con, EVENTS_VIEW, cells, cfg, origins)
    per_origin = count_outside_as_misses(per_origin, outside)
    per_origin["forecast_month"] = per_origin["t"].map(to_real)
    per_origin["model_calendar_month"] = per_origin.pop("forecast_date")
    overall = pool(per_origin, ["target", "model", "area_share"])
    area_km2 = float(cells.loc[cells["in_force_area"], "area_m2"].sum()) / 1e6
    study = {
        "rule": "cells with at least one located record of any type in the force's own local authorities before the first backtest month",
        "cells": int(cells["in_force_area"].sum()),
        "cell_size_m": cfg.cell_size_m,
        "area_km2": round(area_km2, 2),
        "defined_before": to_real.get(first, period_start(first, "month")).isoformat(),
        "target_crimes_outside_study_area": {t: int(outside.loc[outside["target"] == t, "n_outside"].sum()) for t in cfg.targets},
    }
    source = {
        **source,
        "backtest_months": [to_real[t].isoformat() for t in origins],
        "panel_event_counts": panel.event_counts,
        "as_of": period_start(as_of, "month").isoformat(),
    }
    timings["total"] = time.monotonic() - started
    return PoliceUkBacktest(
        cfg=cfg,
        source=source,
        per_origin=per_origin.reset_index(drop=True),
        overall=overall,
        summary=summary_table(overall, cfg.area_shares, cfg.targets),
        study_area=study,
        timings={k: round(v, 1) for k, v in timings.items()},
    )


def format_table(summary: pd.DataFrame) -> str:
    """The summary as a fixed-width text table (hit rates as %, PAI to two decimals)."""
    rows = []
    for target, g in summary.groupby("target", sort=False):
        for _, r in g.iterrows():
            row = {"target": TARGET_LABELS.get(target, target), "model": r["model"], "crimes": f"{int(r['n_crimes'])}"}
            for c in summary.columns:
                if c.startswith("hit_rate@"):
                    row["hit " + c.split("@")[1]] = f"{100 * r[c]:.1f}%"
            for c in summary.columns:
                if c.startswith("pai@"):
                    row["PAI " + c.split("@")[1]] = f"{r[c]:.2f}"
            rows.append(row)
    return pd.DataFrame(rows).to_string(index=False)


def beats_baselines(summary: pd.DataFrame, model: str = engine.MODEL_NAME) -> pd.DataFrame:
    """Per target: does the model beat every baseline at hit rate @5% and PAI @1%? (pure)"""
    out = []
    for target, g in summary.groupby("target", sort=False):
        m = g[g["model"] == model]
        base = g[(g["model"] != model) & (g["model"] != engine.CEILING)]
        if m.empty or base.empty:
            continue
        row = {"target": target}
        for col in ("hit_rate@5%", "pai@1%"):
            if col in g:
                row[col] = bool((m[col].iloc[0] > base[col]).all())
        out.append(row)
    return pd.DataFrame(out)


def months_won(per_origin: pd.DataFrame, share: float, model: str = engine.MODEL_NAME) -> pd.DataFrame:
    """Per target: in how many backtest months the model's hit rate at ``share`` beat every baseline (pure)."""
    p = per_origin[np.isclose(per_origin["area_share"], share) & (per_origin["model"] != engine.CEILING)]
    wide = p.pivot_table(index=["target", "forecast_month"], columns="model", values="hit_rate")
    if model not in wide or wide.shape[1] < 2:
        return pd.DataFrame(columns=["target", "months_won", "months"])
    best_baseline = wide.drop(columns=model).max(axis=1)
    won = (wide[model] > best_baseline).groupby(level=0).agg(["sum", "size"])
    return won.reset_index().rename(columns={"sum": "months_won", "size": "months"})


def write_outputs(bt: PoliceUkBacktest, out: Path, run_info: dict) -> dict[str, Path]:
    """``out`` (summary CSV), ``<stem>_per_origin.csv`` and ``<stem>.json``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    per_origin_path = out.with_name(out.stem + "_per_origin.csv")
    json_path = out.with_suffix(".json")
    bt.summary.to_csv(out, index=False)
    bt.per_origin.to_csv(per_origin_path, index=False)
    payload = {
        **run_info,
        "source": bt.source,
        "study_area": bt.study_area,
        "config": json.loads(bt.cfg.to_json()),
        "config_fingerprint": bt.cfg.fingerprint(),
        "timings_s": bt.timings,
        "summary": bt.summary.to_dict(orient="records"),
        "beats_every_baseline": beats_baselines(bt.summary).to_dict(orient="records"),
        "months_won_hit_rate_1pct": months_won(bt.per_origin, 0.01).to_dict(orient="records"),
        "months_won_hit_rate_5pct": months_won(bt.per_origin, 0.05).to_dict(orient="records"),
        "per_origin": bt.per_origin.to_dict(orient="records"),
    }
    json_path.write_text(json.dumps(payload, indent=2, default=str))
    return {"summary_csv": out, "per_origin_csv": per_origin_path, "json": json_path}


def store_metrics(con: duckdb.DuckDBPyConnection, bt: PoliceUkBacktest, run_id: str) -> None:
    """Replace this run's rows in ``policeuk_backtest_metrics`` (per month and pooled)."""
    per = bt.per_origin.assign(scope="origin")
    pooled = bt.overall.assign(scope="overall")
    frame = pd.concat([per, pooled], ignore_index=True)
    keep = ["scope", "target", "model", "forecast_month", "area_share", "hits", "n_crimes", "hit_rate", "pai", "n_outside_area"]
    frame = frame.reindex(columns=keep)
    frame.insert(0, "force_slug", bt.source["force_slug"])
    frame.insert(0, "run_id", run_id)
    frame["config_fingerprint"] = bt.cfg.fingerprint()
    frame["created_at"] = datetime.now().replace(microsecond=0)
    frame["forecast_month"] = pd.to_datetime(frame["forecast_month"])
    con.register("_policeuk_metrics", frame)
    con.execute(f"CREATE TABLE IF NOT EXISTS {METRICS_TABLE} AS SELECT * FROM _policeuk_metrics LIMIT 0")
    con.execute(f"DELETE FROM {METRICS_TABLE} WHERE run_id = ?", [run_id])
    con.execute(f"INSERT INTO {METRICS_TABLE} BY NAME SELECT * FROM _policeuk_metrics")
    con.unregister("_policeuk_metrics")


def choose_force(folder_forces: list[str], requested: str | None) -> str:
    """The force to backtest: the requested one, or the folder's only one (pure)."""
    if requested:
        return requested
    forces = sorted(set(folder_forces))
    if len(forces) == 1:
        return forces[0]
    if not forces:
        raise SystemExit("no police.uk street-level files (<YYYY-MM>-<force>-street.csv[.gz]) in the folder")
    raise SystemExit(f"the folder holds several forces {forces}: choose one with --force")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="wmp policeuk-backtest",
        description="Load a folder of police.uk street-level files and backtest the hotspot model and baselines on it.",
    )
    p.add_argument("--dir", required=True, type=Path, help="folder of <YYYY-MM>-<force>-street.csv[.gz] files (searched recursively)")
    p.add_argument("--duckdb", type=Path, help="DuckDB file to load into (default: the pipeline's working database)")
    p.add_argument("--cell-size", type=int, default=250, help="grid cell size in metres (default 250)")
    p.add_argument("--months", type=int, default=12, help="backtest months, one forecast each (default 12)")
    p.add_argument("--out", type=Path, help="summary CSV (default: <artifacts>/policeuk/backtest_<force>_<last month>.csv)")
    p.add_argument("--force", help="force slug when the folder holds several forces, e.g. south-yorkshire")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    settings = get_settings()
    db = (args.duckdb or settings.duckdb_path).expanduser().resolve()
    if not args.dir.is_dir():
        raise SystemExit(f"--dir {args.dir} is not a folder")
    force = choose_force([f.force_slug for f in find_street_files(args.dir)], args.force)
    print(f"Loading police.uk street-level files from {args.dir} into {db} ...", flush=True)
    with warehouse.connect(db) as con:
        load_folder(con, args.dir)  # logs its summary
    print("Building stg_policeuk__street_crimes with dbt ...", flush=True)
    build_staging(db)
    cfg = monthly_config(cell_size_m=args.cell_size, months=args.months)
    print(f"Backtesting {force}: {args.months} months, {args.cell_size} m cells ...", flush=True)
    with warehouse.connect(db) as con:
        bt = run_backtest(con, force, cfg)
        run_id = f"{force}-{bt.source['last_month']}-{cfg.fingerprint()}"
        store_metrics(con, bt, run_id)
    elapsed = time.monotonic() - started
    src, study = bt.source, bt.study_area
    missing = ", ".join(m.strftime("%Y-%m") for m in src["missing_months"]) or "none"
    print(
        f"\n{src['force_name']} ({force}): {src['n_months']} months {src['first_month']:%Y-%m} to {src['last_month']:%Y-%m}, "
        f"missing months: {missing} (closed up, see docs/policeuk.md)\n"
        f"records {src['records']:,}; without a location {src['records_without_location']:,} (kept, not placed); "
        f"located outside the force's local authorities {src['records_outside_force_area']:,} (left out)\n"
        f"study area: {study['cells']:,} cells of {study['cell_size_m']} m = {study['area_km2']:,} km2 "
        f"(cells with any record before {study['defined_before'][:7]})\n"
        f"backtest months: {src['backtest_months'][0][:7]} to {src['backtest_months'][-1][:7]} "
        f"({len(src['backtest_months'])} forecasts, each of the next month, model refitted every {cfg.refit_every})\n"
    )
    print(format_table(bt.summary))
    out = args.out or settings.artifacts_dir / "policeuk" / f"backtest_{force}_{src['last_month']:%Y-%m}.csv"
    paths = write_outputs(bt, out, {"run_id": run_id, "duckdb": str(db), "runtime_s": round(elapsed, 1), "command_args": vars(args)})
    beats = beats_baselines(bt.summary)
    if not beats.empty:
        print("\nModel beats every baseline (hit rate @5%, PAI @1%):")
        print(beats.to_string(index=False))
        won = months_won(bt.per_origin, 0.05)
        print("Months in which the model's hit rate @5% beat every baseline: "
              + ", ".join(f"{r.target} {r.months_won}/{r.months}" for r in won.itertuples()))
    print(f"\nWrote {paths['summary_csv']}, {paths['per_origin_csv']}, {paths['json']} and table {METRICS_TABLE}.")
    print(f"Runtime {elapsed:.0f} s (panel {bt.timings.get('panel', 0):.0f} s, backtest {bt.timings.get('backtest', 0):.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
