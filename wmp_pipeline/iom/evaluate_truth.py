"""Honest evaluation against the generator's ground truth (never used in training).

``python -m wmp_pipeline.iom.evaluate_truth [--duckdb PATH] [--truth DIR]``

Joins the newest rolling-origin test predictions (``iom_backtest_predictions``
in the working database) to the generator's ``iom_truth.parquet`` on person
and snapshot date, and prints, on exactly the test snapshots both cover:

- the ROC AUC (and PR AUC, precision in the top 250) of xgboost and of both
  baselines against the realised outcome in the data, and
- the same for the true escalation probability ``p_high_harm_12m``: the
  **ceiling**, what a model knowing the generator's hidden state could score;
- calibration: mean predicted vs mean true probability.

Only the pipeline's own realised labels are used as outcomes, so the model
and the ceiling are judged on the same question.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import pandas as pd

from wmp_pipeline.evaluation.classification import average_precision, precision_at_k, roc_auc
from wmp_pipeline import tables
from wmp_pipeline.settings import get_settings
from wmp_pipeline.warehouse import table_exists

TRUTH_FILE = "iom_truth.parquet"
BACKTEST_TABLE = tables.IOM_BACKTEST_PREDICTIONS


def load_joined(duckdb_path: Path, truth_dir: Path) -> pd.DataFrame:
    """Test predictions (wide: one column per model) joined to the true probabilities."""
    truth_path = Path(truth_dir) / TRUTH_FILE
    if not truth_path.exists():
        raise FileNotFoundError(f"no ground truth at {truth_path}")
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        if not table_exists(con, BACKTEST_TABLE):
            raise RuntimeError(f"{duckdb_path} has no {BACKTEST_TABLE}: materialise iom_model first")
        preds = con.execute(f"select person_id, test_week, label, model, score, probability from {BACKTEST_TABLE}").df()
        truth = con.execute(
            "select person_id, snapshot_date as test_week, p_high_harm_12m, reached_high_harm_12m from read_parquet(?)",
            [str(truth_path)],
        ).df()
    keys = ["person_id", "test_week"]
    wide = preds.pivot_table(index=keys + ["label"], columns="model", values="score", aggfunc="first").reset_index()
    wide.columns.name = None
    probs = preds[preds["model"] == "xgboost"][keys + ["probability"]].rename(columns={"probability": "xgboost_probability"})
    wide = wide.merge(probs, on=keys)
    wide["test_week"] = pd.to_datetime(wide["test_week"])
    truth["test_week"] = pd.to_datetime(truth["test_week"])
    return wide.merge(truth, on=keys, how="inner")


def truth_comparison(joined: pd.DataFrame, k: int = 250) -> pd.DataFrame:
    """Mean over test weeks of AUC, PR AUC and precision in the top ``k``, per scorer."""
    scorers = [c for c in ("xgboost", "logistic", "harm_score") if c in joined.columns] + ["p_high_harm_12m"]
    rows = []
    for week, g in joined.groupby("test_week"):
        y = g["label"].to_numpy(int)
        for s in scorers:
            score = g[s].to_numpy(float)
            rows.append(
                {
                    "scorer": s,
                    "test_week": week,
                    "roc_auc": roc_auc(y, score),
                    "pr_auc": average_precision(y, score),
                    f"precision_at_{k}": precision_at_k(y, score, k),
                }
            )
    table = pd.DataFrame(rows)
    out = table.groupby("scorer")[["roc_auc", "pr_auc", f"precision_at_{k}"]].mean()
    pooled = {s: roc_auc(joined["label"].to_numpy(int), joined[s].to_numpy(float)) for s in scorers}
    out["roc_auc_pooled"] = pd.Series(pooled)
    order = {"xgboost": 0, "logistic": 1, "harm_score": 2, "p_high_harm_12m": 3}
    return out.sort_index(key=lambda idx: idx.map(order))


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="python -m wmp_pipeline.iom.evaluate_truth", description=__doc__.split("\n\n")[0])
    p.add_argument("--duckdb", type=Path, default=settings.duckdb_path, help=f"working database (default {settings.duckdb_path})")
    p.add_argument("--truth", type=Path, default=settings.ground_truth_dir, help=f"ground truth folder (default {settings.ground_truth_dir})")
    args = p.parse_args(argv)
    try:
        joined = load_joined(args.duckdb, args.truth)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if joined.empty:
        print("error: no test snapshot is covered by the ground truth (different dates or data?)", file=sys.stderr)
        return 2
    table = truth_comparison(joined)
    weeks = joined["test_week"].nunique()
    print(f"IOM escalation model vs ground truth: {len(joined):,} test snapshots over {weeks} test weeks")
    print(f"observed escalation rate {joined['label'].mean():.4f}; mean true probability {joined['p_high_harm_12m'].mean():.4f}; "
          f"mean calibrated xgboost probability {joined['xgboost_probability'].mean():.4f}")
    agree = (joined["label"].astype(bool) == joined["reached_high_harm_12m"].astype(bool)).mean()
    print(f"pipeline labels agree with the generator's realised outcomes on {agree:.2%} of snapshots")
    print()
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    gap = table.loc["p_high_harm_12m", "roc_auc"] - table.loc["xgboost", "roc_auc"]
    print()
    print(f"AUC gap to the ceiling (mean over test weeks): {gap:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
