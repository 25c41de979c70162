"""The unit x period panel: features known at each forecast date, and targets.

One row per unit (grid cell or LSOA) of the force area and per period ``t``
(a forecast date is the first day of ``t``). Everything is computed in DuckDB
with set-based SQL; Python only writes the SQL.

Time rules (see docs/hotspot.md):

* an event is placed in time by ``event_time`` (when it happened; for CONNECT
  ``committed_from``) and counts for a forecast at period ``t`` only once it
  is *known*: ``known_time`` before the forecast date, i.e. known period
  ``kp < t``. A crime recorded late therefore joins the counts of the week it
  happened, but only from the first forecast date after it was recorded. So
  event ``e`` (happened in period ``ep``) is in a window of ``W`` periods at
  ``t`` when ``max(ep, kp) < t <= ep + W``.
* the panel of a run dated ``T`` only holds events known before ``T``.
* target ``y_<signal>`` at ``t``: events that happened in periods
  ``t .. t + horizon - 1`` (every one recorded by ``T``); null where that
  window is not over by ``T``.

How: DuckDB places every event in a unit and period and groups the events
by (unit, period happened, first period counted); that is the set-based work,
in SQL. A window count is then a running sum along time of +1 (the first
period an event is both past and known) and -1 (the period it leaves the
window): numpy adds these into a dense unit x period array (``bincount``) and
takes a prefix sum along periods. Sums over neighbours are linear, so the ring
features are gathers of the neighbours' columns. The prefix sums run in numpy
rather than as DuckDB window functions because DuckDB evaluates each of the
~60 running sums separately (about 20 s at force scale, against well under
a second here). The prospective score and the target counts are grouped in
SQL too. The finished panel is written back to DuckDB.

Columns of the panel table:

``cell_id, t, forecast_date, area_m2, week_of_year, month``; for each signal ``s``:
``s_c<W>`` (events in the unit over the last W periods), ``s_c<W>_r1`` (the
8 neighbours), ``s_c<W>_r2`` (the next 16, longest windows only),
``s_rate``/``s_rate_r1``/``s_rate_r2`` (events per period over all history
before ``t``), ``s_rate_r3`` (the same over the district: units within
``district_radius_m`` outside rings 0-2); for each target ``s_ph`` (prospective hotspotting score) and
``y_s`` (the target).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse

from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.grid import assign_lsoa_units
from wmp_pipeline.hotspot.periods import period_start, sql_period_index

REQUIRED_EVENT_COLUMNS = ("event_id", "easting", "northing", "event_time", "known_time")


@dataclass(frozen=True)
class Feature:
    column: str
    signal: str
    #: 'count' (events in the last ``window`` periods) or 'rate' (all history)
    kind: str
    window: int | None
    ring: int


def feature_spec(cfg: HotspotConfig) -> list[Feature]:
    """The count and rate features of every signal, own unit and rings."""
    spec: list[Feature] = []
    for s in cfg.signals:
        windows = cfg.windows if s in cfg.targets else cfg.related_windows
        ring2_windows = sorted(windows)[-2:] if s in cfg.targets else sorted(windows)[-1:]
        for ring in (0, 1, 2):
            if ring == 2 and not cfg.wider_ring:
                continue
            suffix = "" if ring == 0 else f"_r{ring}"
            for w in windows if ring < 2 else ring2_windows:
                spec.append(Feature(f"{s}_c{w}{suffix}", s, "count", w, ring))
            spec.append(Feature(f"{s}_rate{suffix}", s, "rate", None, ring))
        if cfg.district_radius_m > 0:
            spec.append(Feature(f"{s}_rate_r3", s, "rate", None, 3))
    return spec


def feature_columns(cfg: HotspotConfig) -> list[str]:
    """Every model input column of the panel, in a fixed order."""
    cols = [f.column for f in feature_spec(cfg)]
    cols += [f"{s}_ph" for s in cfg.targets]
    cols += ["week_of_year", "month"]
    return cols


def target_column(target: str) -> str:
    return f"y_{target}"


@dataclass
class PanelInfo:
    """What :func:`build_panel` built, for metadata and for later steps."""

    table: str
    as_of_period: int
    first_period: int
    data_start_period: int
    n_rows: int
    n_units: int
    features: list[str]
    targets: list[str]
    event_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def validate_config(cfg: HotspotConfig) -> None:
    missing = [w for w in cfg.baseline_windows if w not in cfg.windows]
    if missing:
        raise ValueError(f"baseline windows {missing} must be among the target windows {cfg.windows}")


def _check_events(con: duckdb.DuckDBPyConnection, events: str, cfg: HotspotConfig) -> None:
    cols = {c.lower() for c in con.execute(f"SELECT * FROM {events} LIMIT 0").df().columns}
    missing = [c for c in REQUIRED_EVENT_COLUMNS + cfg.signals if c.lower() not in cols]
    if missing:
        raise ValueError(f"events relation {events!r} lacks columns {missing}")


def panel_first_period(cfg: HotspotConfig, as_of_period: int, data_start_period: int) -> int:
    """First period the panel stores: what the earliest backtest fit trains on."""
    first_origin = as_of_period - cfg.horizon_periods - cfg.backtest_periods + 1
    first_train = first_origin - cfg.horizon_periods - cfg.train_periods + 1
    return max(data_start_period + 1, first_train)


def _unit_sql(cfg: HotspotConfig) -> tuple[str, str]:
    """(join clause, cell expression) that place an event in a unit."""
    if cfg.unit == "grid":
        size = cfg.cell_size_m
        expr = (
            f"'{size}m_' || CAST(CAST(floor(e.easting / {size}) * {size} AS BIGINT) AS VARCHAR)"
            f" || '_' || CAST(CAST(floor(e.northing / {size}) * {size} AS BIGINT) AS VARCHAR)"
        )
        return f"LEFT JOIN _hs_cells c ON c.cell_id = {expr} AND c.in_force_area", "c.cell_id"
    return (
        "LEFT JOIN _hs_pointmap m ON m.easting = e.easting AND m.northing = e.northing",
        "m.cell_id",
    )


def build_panel(
    con: duckdb.DuckDBPyConnection,
    events: str,
    cells: pd.DataFrame,
    neighbours: pd.DataFrame,
    cfg: HotspotConfig,
    as_of_period: int,
    table: str = "hotspot_panel",
    first_period: int | None = None,
) -> PanelInfo:
    """Write the panel of every unit and period up to ``as_of_period`` to ``table``."""
    started = time.monotonic()
    validate_config(cfg)
    _check_events(con, events, cfg)
    T, H = int(as_of_period), cfg.horizon_periods
    plain = pd.DataFrame(cells.drop(columns=["geometry"], errors="ignore"))
    con.register("_hs_cells_df", plain[["cell_id", "cx", "cy", "area_m2", "in_force_area"]])
    con.execute("CREATE OR REPLACE TEMP TABLE _hs_cells AS SELECT * FROM _hs_cells_df")
    con.unregister("_hs_cells_df")
    con.register("_hs_nbrs_df", neighbours[["cell_id", "nbr_id", "ring", "distance_m"]])
    con.execute("CREATE OR REPLACE TEMP TABLE _hs_nbrs AS SELECT * FROM _hs_nbrs_df")
    con.unregister("_hs_nbrs_df")
    if cfg.unit == "lsoa":
        points = con.execute(
            f"SELECT DISTINCT easting, northing FROM {events} WHERE easting IS NOT NULL AND northing IS NOT NULL"
        ).df()
        units = cells[cells["in_force_area"]]
        con.register("_hs_pointmap_df", assign_lsoa_units(points, units))
        con.execute("CREATE OR REPLACE TEMP TABLE _hs_pointmap AS SELECT * FROM _hs_pointmap_df")
        con.unregister("_hs_pointmap_df")

    join, unit_expr = _unit_sql(cfg)
    ep = sql_period_index("e.event_time", cfg.period)
    kp = sql_period_index("e.known_time", cfg.period)
    sig_cols = ", ".join(f"CAST(coalesce(e.{s}, FALSE) AS INTEGER) AS {s}" for s in cfg.signals)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _hs_all AS
        SELECT {unit_expr} AS cell_id,
               (e.easting IS NULL OR e.northing IS NULL) AS no_coords,
               {ep} AS ep, {kp} AS kp, {sig_cols}
        FROM {events} e {join}
        WHERE e.event_time IS NOT NULL AND e.known_time IS NOT NULL
        """
    )
    any_sig = " OR ".join(f"{s} = 1" for s in cfg.signals)
    counts = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE kp < {T}) AS known_before_forecast,
               count(*) FILTER (WHERE kp >= {T}) AS known_after_forecast,
               count(*) FILTER (WHERE kp < {T} AND no_coords) AS without_coordinates,
               count(*) FILTER (WHERE kp < {T} AND NOT no_coords AND cell_id IS NULL) AS outside_area,
               count(*) FILTER (WHERE kp < {T} AND cell_id IS NOT NULL AND ({any_sig})) AS placed_with_signal,
               min(ep) FILTER (WHERE kp < {T} AND cell_id IS NOT NULL) AS data_start
        FROM _hs_all
        """
    ).df().iloc[0]
    event_counts = {k: int(counts[k]) for k in counts.index if k != "data_start"}
    for s in cfg.signals:
        n = con.execute(
            f"SELECT count(*) FILTER (WHERE {s} = 1 AND kp < {T}), "
            f"count(*) FILTER (WHERE {s} = 1 AND kp < {T} AND no_coords) FROM _hs_all"
        ).fetchall()[0]
        event_counts[f"{s}_known"] = int(n[0])
        event_counts[f"{s}_without_coordinates"] = int(n[1])
    if pd.isna(counts["data_start"]):
        raise ValueError("no located events known before the forecast date: cannot build a panel")
    t0 = int(counts["data_start"])
    t_lo = panel_first_period(cfg, T, t0) if first_period is None else max(int(first_period), t0 + 1)
    t_lo = min(t_lo, T)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _hs_ev AS
        SELECT cell_id, ep, kp, greatest(ep, kp) + 1 AS ft, {", ".join(cfg.signals)}
        FROM _hs_all
        WHERE cell_id IS NOT NULL AND kp < {T} AND ({any_sig})
        """
    )
    con.execute("DROP TABLE _hs_all")

    units = plain[plain["in_force_area"]].sort_values("cell_id").reset_index(drop=True)
    n_units, P = len(units), T - t_lo + 1
    con.register("_hs_cidx_df", pd.DataFrame({"cell_id": units["cell_id"], "ci": np.arange(n_units, dtype="int64")}))
    con.execute("CREATE OR REPLACE TEMP TABLE _hs_cidx AS SELECT * FROM _hs_cidx_df")
    con.unregister("_hs_cidx_df")

    # events grouped by unit, period happened and first period counted (set-based, in DuckDB)
    sig_sums = ", ".join(f"CAST(SUM({s}) AS INTEGER) AS {s}" for s in cfg.signals)
    groups = con.execute(
        f"""
        SELECT x.ci, e.ep, e.ft, {sig_sums}
        FROM _hs_ev e JOIN _hs_cidx x USING (cell_id)
        WHERE e.ft <= {T}
        GROUP BY ALL
        """
    ).fetchnumpy()
    g_ci = np.asarray(groups["ci"], dtype="int64")
    g_ep = np.asarray(groups["ep"], dtype="int64")
    g_ft = np.asarray(groups["ft"], dtype="int64")

    def dense_sum(ci, t, weights) -> np.ndarray:
        """Sum ``weights`` into a (units, P) array at periods ``t`` (clamped to the panel start)."""
        idx = ci * P + (np.maximum(t, t_lo) - t_lo)
        return np.bincount(idx, weights=weights, minlength=n_units * P).reshape(n_units, P)

    spec = feature_spec(cfg)
    cols: dict[str, np.ndarray] = {}
    span = np.maximum(np.arange(t_lo, T + 1) - t0, 1).astype("float64")
    for f in (f for f in spec if f.ring == 0):
        w = np.asarray(groups[f.signal], dtype="float64")
        if f.kind == "rate":
            cols[f.column] = (np.cumsum(dense_sum(g_ci, g_ft, w), axis=1) / span).astype("float32")
            continue
        end = g_ep + f.window + 1  # first period the event has left the window
        held = end > g_ft  # known while still inside the window
        delta = dense_sum(g_ci, g_ft, w * held)
        gone = held & (end <= T)
        delta -= dense_sum(g_ci[gone], end[gone], w[gone])
        cols[f.column] = np.cumsum(delta, axis=1).astype("float32")
    # neighbour rings: sums of the neighbours' own columns (a sparse adjacency product)
    index = pd.Series(np.arange(n_units), index=units["cell_id"].to_numpy())
    for ring in (1, 2, 3):
        feats = [f for f in spec if f.ring == ring]
        if not feats:
            continue
        pairs = neighbours[(neighbours["ring"] == ring) & neighbours["cell_id"].isin(index.index) & neighbours["nbr_id"].isin(index.index)]
        a = index.loc[pairs["cell_id"].to_numpy()].to_numpy()
        b = index.loc[pairs["nbr_id"].to_numpy()].to_numpy()
        adjacency = sparse.csr_matrix((np.ones(len(a), dtype="float32"), (a, b)), shape=(n_units, n_units))
        for f in feats:
            cols[f.column] = adjacency @ cols[f.column.rsplit("_r", 1)[0]]

    # prospective hotspotting: each known event, for each of the ph_periods periods after it
    ph_cols = ", ".join(
        f"SUM({s} / ((1.0 + n.distance_m / {cfg.ph_band_m}) * (1.0 + l.lag))) AS {s}_ph" for s in cfg.targets
    )
    tgt_any = " OR ".join(f"{s} = 1" for s in cfg.targets)
    ph = con.execute(
        f"""
        SELECT x.ci, e.ep + 1 + l.lag AS t, {ph_cols}
        FROM (SELECT * FROM _hs_ev WHERE {tgt_any}) e
        CROSS JOIN range({cfg.ph_periods}) l(lag)
        JOIN _hs_nbrs n ON n.nbr_id = e.cell_id AND n.ring = 0
        JOIN _hs_cidx x ON x.cell_id = n.cell_id
        WHERE e.ep + 1 + l.lag >= e.ft AND e.ep + 1 + l.lag BETWEEN {t_lo} AND {T}
        GROUP BY ALL
        """
    ).fetchnumpy()
    for s in cfg.targets:
        cols[f"{s}_ph"] = dense_sum(
            np.asarray(ph["ci"], dtype="int64"), np.asarray(ph["t"], dtype="int64"), np.asarray(ph[f"{s}_ph"], dtype="float64")
        ).astype("float32")
    # targets: events that happened in t .. t + H - 1 (a difference of prefix sums)
    tgt_counts = ", ".join(f"CAST(SUM({s}) AS INTEGER) AS {s}" for s in cfg.targets)
    cnt = con.execute(
        f"""
        SELECT x.ci, e.ep, {tgt_counts}
        FROM _hs_ev e JOIN _hs_cidx x USING (cell_id)
        WHERE e.ep >= {t_lo} AND e.ep <= {T} AND ({tgt_any})
        GROUP BY ALL
        """
    ).fetchnumpy()
    complete = (np.arange(t_lo, T + 1) + H) <= T
    for s in cfg.targets:
        n = dense_sum(np.asarray(cnt["ci"], dtype="int64"), np.asarray(cnt["ep"], dtype="int64"), np.asarray(cnt[s], dtype="float64"))
        prefix = np.concatenate([np.zeros((n_units, 1)), np.cumsum(n, axis=1), np.repeat(n.sum(axis=1, keepdims=True), H, axis=1)], axis=1)
        y = prefix[:, H : H + P] - prefix[:, :P]
        y[:, ~complete] = np.nan
        cols[target_column(s)] = y.astype("float32")

    # the table, period-major (rows of one forecast date are stored together)
    periods = np.arange(t_lo, T + 1)
    starts = [period_start(t, cfg.period) for t in periods]
    ci = np.tile(np.arange(n_units, dtype="int32"), P)
    arrays = {
        "cell_id": pa.DictionaryArray.from_arrays(pa.array(ci), pa.array(units["cell_id"].astype(str).tolist())),
        "t": pa.array(np.repeat(periods.astype("int32"), n_units)),
        "forecast_date": pa.array(np.repeat(np.array(starts, dtype="datetime64[D]"), n_units)),
        "area_m2": pa.array(units["area_m2"].to_numpy(dtype="float64")[ci]),
        "week_of_year": pa.array(np.repeat(np.array([d.isocalendar()[1] for d in starts], dtype="float32"), n_units)),
        "month": pa.array(np.repeat(np.array([d.month for d in starts], dtype="float32"), n_units)),
    }
    for c in [c for c in feature_columns(cfg) if c in cols] + [target_column(s) for s in cfg.targets]:
        arrays[c] = pa.array(np.ascontiguousarray(cols.pop(c).T).ravel(), from_pandas=True)
    arrow = pa.table(arrays)
    del arrays
    con.register("_hs_panel_arrow", arrow)
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS "
        f"SELECT * REPLACE (CAST(cell_id AS VARCHAR) AS cell_id) FROM _hs_panel_arrow"
    )
    con.unregister("_hs_panel_arrow")
    del arrow
    tgt_cols = ", ".join(cfg.targets)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {table}_events AS
        SELECT cell_id, ep, kp, {tgt_cols} FROM _hs_ev WHERE {tgt_any} ORDER BY ep, cell_id
        """
    )
    for tmp in ("_hs_ev", "_hs_cidx"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
    n_rows, n_units = con.execute(f"SELECT count(*), count(DISTINCT cell_id) FROM {table}").fetchall()[0]
    return PanelInfo(
        table=table,
        as_of_period=T,
        first_period=t_lo,
        data_start_period=t0,
        n_rows=int(n_rows),
        n_units=int(n_units),
        features=feature_columns(cfg),
        targets=[target_column(s) for s in cfg.targets],
        event_counts=event_counts,
        seconds=time.monotonic() - started,
    )


def describe_periods(info: PanelInfo, cfg: HotspotConfig) -> dict[str, str]:
    return {
        "data_start": period_start(info.data_start_period, cfg.period).isoformat(),
        "panel_first": period_start(info.first_period, cfg.period).isoformat(),
        "forecast_date": period_start(info.as_of_period, cfg.period).isoformat(),
    }
