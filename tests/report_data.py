"""Small hand-made tables shaped like docs/ARCHITECTURE.md, for the report tests.

A 20 x 20 grid of 250 m cells, a year of crimes, two targets' predictions,
backtest and IOM metrics, IOM scores with a restricted key table, and the
raw drop log / quarantine tables. Deterministic (seeded), built in well under
a second.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

FORECAST = date(2024, 6, 3)  # a Monday
SIZE = 250
X0, Y0 = 400000, 280000
N = 20


def _cells() -> pd.DataFrame:
    rows = []
    for i in range(N):
        for j in range(N):
            x, y = X0 + i * SIZE, Y0 + j * SIZE
            wkt = f"POLYGON (({x} {y}, {x + SIZE} {y}, {x + SIZE} {y + SIZE}, {x} {y + SIZE}, {x} {y}))"
            inside = (i - 10) ** 2 + (j - 10) ** 2 <= 90
            rows.append({"cell_id": f"{SIZE}m_{x}_{y}", "cell_size_m": SIZE, "x0": x, "y0": y, "cx": x + SIZE / 2,
                         "cy": y + SIZE / 2, "area_m2": SIZE * SIZE, "geometry_wkt": wkt,
                         "lsoa_code": f"E0100{i:02d}{j // 5}", "in_force_area": inside})
    return pd.DataFrame(rows)


def _predictions(cells: pd.DataFrame, week: date, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = cells[cells["in_force_area"]]
    frames = []
    for target in ("knife_injury", "serious_violence"):
        mu = rng.gamma(0.6, 0.5, len(area)) * (3 if target == "serious_violence" else 1)
        df = area[["cell_id", "geometry_wkt", "lsoa_code"]].assign(predicted_count=mu)
        df = df.sort_values(["predicted_count", "cell_id"], ascending=[False, True]).reset_index(drop=True)
        df["rank"] = np.arange(1, len(df) + 1)
        df["in_top_n"] = df["rank"] <= 25
        df["prob_at_least_one"] = -np.expm1(-df["predicted_count"])
        df["target"] = target
        df["forecast_week"] = week
        df["model_version"] = f"xgboost_poisson-{target}-2024-05-06-abc"
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _crimes(cells: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = cells[cells["in_force_area"]].reset_index(drop=True)
    n = 3000
    pick = area.iloc[rng.integers(0, len(area), n)].reset_index(drop=True)
    committed = [datetime(2023, 6, 1) + timedelta(days=float(d)) for d in rng.uniform(0, 370, n)]
    recorded = [c + timedelta(days=float(d)) for c, d in zip(committed, rng.exponential(3, n), strict=True)]
    kind = rng.random(n)
    return pd.DataFrame({
        "crime_id": [f"CR{i:06d}" for i in range(n)],
        "offence_code": "8/1",
        "recorded_at": recorded,
        "committed_from": committed,
        "committed_date": [c.date() for c in committed],
        "recorded_date": [r.date() for r in recorded],
        "easting": pick["x0"] + rng.uniform(1, SIZE - 1, n),
        "northing": pick["y0"] + rng.uniform(1, SIZE - 1, n),
        "lsoa_code": pick["lsoa_code"],
        "is_knife_injury": kind < 0.2,
        "is_serious_violence": kind < 0.6,
    })


def _backtest() -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(5)
    run_id = f"{FORECAST.isoformat()}-abc-r13"
    for target in ("knife_injury", "serious_violence"):
        for model, base in (("xgboost_poisson", 0.30), ("last_4_weeks", 0.18), ("last_52_weeks", 0.24),
                            ("prospective_hotspot", 0.22), ("ceiling", 0.36)):
            for share in (0.005, 0.01, 0.02, 0.05):
                scale = 1 + 8 * share
                for k in range(20):
                    fd = FORECAST - timedelta(days=7 * (24 - k))
                    hr = min(1.0, base * scale + rng.normal(0, 0.05))
                    rows.append({"run_id": run_id, "as_of_date": FORECAST, "target": target, "model": model,
                                 "scope": "origin", "forecast_date": fd, "area_share": share, "hits": hr * 20,
                                 "n_crimes": 20.0, "hit_rate": hr, "pai": hr / share})
                rows.append({"run_id": run_id, "as_of_date": FORECAST, "target": target, "model": model,
                             "scope": "overall", "forecast_date": None, "area_share": share, "hits": base * scale * 400,
                             "n_crimes": 400.0, "hit_rate": base * scale, "pai": base * scale / share})
    df = pd.DataFrame(rows)
    df["forecast_date"] = pd.to_datetime(df["forecast_date"]).dt.date
    return df


def _iom(seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 120
    person = [f"P{i:05d}" for i in range(n)]
    key = [f"OFF-{i:016X}" for i in range(n)]
    bands = rng.choice(["low", "low_medium", "high_medium"], n, p=[0.4, 0.45, 0.15])
    harm = np.where(bands == "low", rng.uniform(0, 9, n), np.where(bands == "low_medium", rng.uniform(10, 99, n), rng.uniform(100, 364, n)))
    prob = rng.beta(1.5, 8, n)
    scores = pd.DataFrame({"offender_key": key, "week": FORECAST, "harm_score": harm, "band": bands, "probability": prob,
                           "reason_1": "violent charges in the last 90 days", "reason_2": "age under 25",
                           "reason_3": None, "model_version": "iom-xgboost-2024-05-06"})
    scores = scores.sort_values("probability", ascending=False).reset_index(drop=True)
    scores["rank"] = np.arange(1, n + 1, dtype="float64")
    # high harm offenders are listed without a probability or rank (as wmp_pipeline.iom.scoring writes them)
    high = pd.DataFrame({"offender_key": ["OFF-HIGH000000000001", "OFF-HIGH000000000002"], "week": FORECAST,
                         "harm_score": [500.0, 2000.0], "band": ["high", "super_high"], "probability": np.nan,
                         "reason_1": None, "reason_2": None, "reason_3": None, "model_version": None, "rank": np.nan})
    scores = pd.concat([scores, high], ignore_index=True)
    keys = pd.DataFrame({"offender_key": key, "person_id": person})
    weeks = []
    for w, factor in ((FORECAST, 1.0), (FORECAST - timedelta(days=91), 0.6)):
        weeks.append(pd.DataFrame({"person_id": person, "week": w, "harm_score": harm * factor, "band": bands}))
    extra = pd.DataFrame({"person_id": ["P99998", "P99999"], "week": FORECAST, "harm_score": [500.0, 2000.0], "band": ["high", "super_high"]})
    return scores, keys, pd.concat([*weeks, extra], ignore_index=True)


def build_report_db(con: duckdb.DuckDBPyConnection, with_previous_week: bool = True) -> None:
    """Create every table the reports read, in ``con``."""
    cells = _cells()
    preds = _predictions(cells, FORECAST, seed=1)
    if with_previous_week:
        preds = pd.concat([preds, _predictions(cells, FORECAST - timedelta(days=7), seed=2)], ignore_index=True)
    scores, keys, weeks = _iom()
    metrics = pd.DataFrame([
        {"run_id": "iom-2024-06-03", "model": model, "test_week": FORECAST - timedelta(days=7 * (52 + 4 * k)), "metric": metric, "value": v + 0.01 * k}
        for k in range(3)
        for model, shift in (("xgboost", 0.0), ("logistic", -0.04), ("harm_score_rank", -0.1))
        for metric, v in (("roc_auc", 0.78 + shift), ("pr_auc", 0.31 + shift), ("precision_at_250", 0.4 + shift))
    ])
    fairness = pd.DataFrame([
        {"attribute": "sex", "group": g, "n": n, "base_rate": br, "selection_rate": sr, "fpr": 0.1, "fnr": 0.4, "ppv": 0.3,
         "auc": 0.77, "flags": "", "flagged": False}
        for g, n, br, sr in (("F", 300, 0.05, 0.04), ("M", 1500, 0.08, 0.09))
    ])
    frames = {
        "hotspot_cells": cells,
        "hotspot_predictions": preds,
        "hotspot_backtest_metrics": _backtest(),
        "int_crimes__classified": _crimes(cells),
        "iom_risk_scores": scores,
        "restricted_person_keys": keys,
        "iom_offender_week": weeks,
        "iom_model_metrics": metrics,
        "iom_fairness_audit": fairness,
        "mart_unknown_offence_codes": pd.DataFrame({"offence_code": ["99/9"], "seen_in": ["charges"], "n_records": [3],
                                                    "first_seen": [date(2024, 1, 2)], "last_seen": [date(2024, 5, 30)]}),
        "dq_expectation_results": pd.DataFrame({"table_name": ["connect_crimes", "connect_crimes"],
                                                "expectation": ["crime_id unique", "easting in force area"],
                                                "severity": ["blocking", "warning"], "success": [True, False],
                                                "unexpected_count": [0, 4]}),
        "dq_drop_refusals": pd.DataFrame({"drop_id": ["2024-05-20"],
                                          "reason": ["full drop holds 2% of the current persons (minimum 90%)"]}, dtype="string"),
        "dq_drop_sequence": pd.DataFrame({"previous_drop": ["2024-05-13"], "next_drop": ["2024-05-27"], "gap_days": [14],
                                          "missing_drops": [1], "expected_dates": ["2024-05-20"]}),
    }
    for name, frame in frames.items():
        con.register("_f", frame)
        con.execute(f"create or replace table {name} as select * from _f")
        con.unregister("_f")
    con.execute("create schema if not exists raw")
    con.execute(
        """create or replace table raw.connect_drop_log as select * from (values
           ('2024-05-27', date '2024-05-27', 'delta', 1500, 1496, 4),
           ('2024-06-03', date '2024-06-03', 'delta', 1600, 1597, 3)
        ) t(drop_id, extract_date, extract_type, rows_delivered, rows_loaded, rows_quarantined)"""
    )
    con.execute(
        """create or replace table raw.connect_quarantine as select * from (values
           ('2024-06-03', 'crimes', 'c.csv', 4, 'CR1', 'recorded_at: ''2024-13-01'' is not an ISO 8601 timestamp', '{}', null),
           ('2024-06-03', 'persons', 'p.csv', 7, 'P00001', 'person_id ''P00001'' is duplicated in the file (rows 7, 9)', '{}', null),
           ('2024-05-27', 'crimes', 'c.csv', 9, 'CR2', 'offence_code: empty, but required', '{}', '2024-06-03')
        ) t(drop_id, table_name, file_name, row_number, record_key, reason, raw_record, resolved_by_drop_id)"""
    )
