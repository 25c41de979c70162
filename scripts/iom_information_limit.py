"""How much of the IOM ceiling the pipeline's features can carry (a diagnostic; reads the ground truth).

    python scripts/iom_information_limit.py --duckdb PATH --truth DIR

Needs a warehouse where ``iom_model`` has run (``iom_snapshots`` with labels)
and the generator's truth folder. On the newest 13 labelled snapshot dates it
prints the ROC AUC (mean over dates) against the realised outcome of:

- the true probability ``p_high_harm_12m`` (the ceiling);
- an *oracle*: xgboost fitted to the true probability from the pipeline's
  features (with and without sex): no model of those features can do better;
- xgboost fitted to the outcomes from the features (with and without sex),
  trained on every earlier date (no horizon gap, unlike the pipeline).

The truth never reaches the pipeline; this script exists to explain the gap
between the model and the ceiling (docs/iom.md, "What limits the model").
"""

from __future__ import annotations

import argparse

import duckdb
import numpy as np
import pandas as pd
import xgboost as xgb

from wmp_pipeline.evaluation.classification import roc_auc
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.iom.runner import features_for, load_snapshots

PARAMS = dict(max_depth=5, eta=0.05, subsample=0.8, colsample_bytree=0.8, nthread=2, tree_method="hist", max_bin=128)


def mean_auc(test: pd.DataFrame, score: np.ndarray) -> float:
    """ROC AUC against the realised outcome, per snapshot date, averaged."""
    label = test["label"].to_numpy()
    return float(np.mean([roc_auc(label[idx], score[idx]) for idx in test.groupby("week").indices.values()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duckdb", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--train-rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()

    names = [f.name for f in features_for(IomConfig())]
    with duckdb.connect(args.duckdb, read_only=True) as con:
        frame = load_snapshots(con, features_for(IomConfig()), "label is not null")
        truth = con.execute(
            "select person_id, snapshot_date, p_high_harm_12m as p from read_parquet(?)", [f"{args.truth}/iom_truth.parquet"]
        ).df()
    truth["week"] = pd.to_datetime(truth["snapshot_date"]).dt.date
    frame = frame.merge(truth[["person_id", "week", "p"]], on=["person_id", "week"], how="inner")
    frame["female"] = (frame["sex"] == "F").astype(float)
    weeks = sorted(frame["week"].unique())
    test = frame[frame["week"].isin(weeks[-13:])].reset_index(drop=True)
    train = frame[frame["week"] < weeks[-13]]
    train = train.sample(min(len(train), args.train_rows), random_state=0)
    print(f"{len(train):,} training rows before {weeks[-13]}, {len(test):,} test rows on {len(weeks[-13:])} dates")

    def fitted(cols: list[str], label: str, objective: str) -> float:
        booster = xgb.train({**PARAMS, "objective": objective}, xgb.DMatrix(train[cols].to_numpy(), label=train[label].to_numpy()), args.rounds)
        return mean_auc(test, booster.predict(xgb.DMatrix(test[cols].to_numpy())))

    print(f"ceiling (true probability)          {mean_auc(test, test['p'].to_numpy()):.4f}")
    print(f"oracle: features + sex -> p         {fitted(names + ['female'], 'p', 'reg:logistic'):.4f}")
    print(f"oracle: features -> p               {fitted(names, 'p', 'reg:logistic'):.4f}")
    print(f"features -> outcome (no horizon gap) {fitted(names, 'label', 'binary:logistic'):.4f}")


if __name__ == "__main__":
    main()
