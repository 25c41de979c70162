"""Weekly scoring: the analyst table ``iom_risk_scores`` and the re-identification keys.

Everyone with a harm score on the forecast date (charged in the lookback)
gets a row with their harm score and band. Those not yet high harm (the
eligible) also get the calibrated probability of becoming high harm within
the horizon, a rank and three reasons.

Rank (1 = review first), over the eligible only:

1. low-medium band first (the group the force's IOM process looks at for
   prevention), then everyone else eligible (low and high-medium);
2. within each, by probability, highest first;
3. ties (isotonic calibration gives equal probabilities to a run of scores)
   by the model's raw score, the order the backtest measured, then by
   current harm score (higher first), then by offender key (stable).

High and super-high harm offenders have no probability and no rank: they
are already high harm and are managed through the usual IOM route.

The analyst table holds only the pseudonymous ``offender_key``; the real
``person_id`` goes to ``restricted_person_keys`` in the working database,
which is never published.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from wmp_pipeline.iom.artifacts import SavedModel
from wmp_pipeline.iom.explain import reasons
from wmp_pipeline.iom.features import Feature
from wmp_pipeline.privacy.pseudonymise import pseudonym

RISK_SCORE_COLUMNS = [
    "offender_key",
    "week",
    "harm_score",
    "band",
    "probability",
    "rank",
    "reason_1",
    "reason_2",
    "reason_3",
    "model_version",
    "horizon_weeks",
]

RISK_SCORES_DDL = """
create table if not exists iom_risk_scores (
    offender_key varchar not null,
    week date not null,
    harm_score double not null,
    band varchar not null,
    probability double,
    rank integer,
    reason_1 varchar,
    reason_2 varchar,
    reason_3 varchar,
    model_version varchar,
    horizon_weeks integer
)
"""
#: columns added since the table was first published (older data folders get them on the next write)
RISK_SCORES_ADDED = {"horizon_weeks": "integer"}

RESTRICTED_DDL = """
create table if not exists restricted_person_keys (
    offender_key varchar primary key,
    person_id varchar not null
)
"""


def review_rank(band, probability, harm_score, tiebreak, raw_score=None) -> np.ndarray:
    """1-based review order of the rows with a probability (NaN for the rest); see the module doc."""
    p = np.asarray(probability, dtype=float)
    frame = pd.DataFrame(
        {
            "group": np.where(np.asarray(band) == "low_medium", 0, 1),
            "p": p,
            "r": np.zeros(len(p)) if raw_score is None else np.nan_to_num(np.asarray(raw_score, dtype=float), nan=-np.inf),
            "h": np.asarray(harm_score, dtype=float),
            "t": np.asarray(tiebreak, dtype=object),
        }
    )
    eligible = frame["p"].notna()
    ordered = frame[eligible].sort_values(["group", "p", "r", "h", "t"], ascending=[True, False, False, False, True], kind="mergesort")
    rank = pd.Series(np.nan, index=frame.index)
    rank.loc[ordered.index] = np.arange(1, len(ordered) + 1)
    return rank.to_numpy()


def score_week(
    population: pd.DataFrame,
    snapshot_rows: pd.DataFrame,
    saved: SavedModel,
    features: list[Feature],
    key: str,
    forecast_date: date,
    horizon_weeks: int,
) -> pd.DataFrame:
    """Scores of one week.

    ``population``: ``person_id, harm_score, band`` of everyone in
    ``iom_offender_week`` on the forecast date. ``snapshot_rows``: the
    eligible people's snapshot features on that date. Returns the
    ``iom_risk_scores`` columns plus ``person_id`` (for the restricted
    keys table only).
    """
    if [f.name for f in features] != saved.feature_names:
        raise ValueError(f"model {saved.version} was trained on a different feature set; retrain it")
    scored = population[["person_id", "harm_score", "band"]].copy()
    scored["offender_key"] = [pseudonym(pid, key) for pid in scored["person_id"]]
    if len(snapshot_rows):
        raw, prob = saved.predict_proba(snapshot_rows)
        why = reasons(saved.contributions(snapshot_rows), snapshot_rows, features)
        extra = pd.DataFrame(
            {
                "person_id": snapshot_rows["person_id"].to_numpy(),
                "raw_score": raw,
                "probability": prob,
                "reason_1": [r[0] for r in why],
                "reason_2": [r[1] for r in why],
                "reason_3": [r[2] for r in why],
            }
        )
        scored = scored.merge(extra, on="person_id", how="left", validate="one_to_one")
    else:
        for c in ("raw_score", "probability", "reason_1", "reason_2", "reason_3"):
            scored[c] = None
    scored["probability"] = scored["probability"].astype(float)
    scored["rank"] = review_rank(scored["band"], scored["probability"], scored["harm_score"], scored["offender_key"], scored["raw_score"])
    scored["rank"] = scored["rank"].astype("Int64")
    scored["week"] = forecast_date
    scored["model_version"] = saved.version
    scored["horizon_weeks"] = horizon_weeks
    return scored[RISK_SCORE_COLUMNS + ["person_id"]].sort_values(["rank", "offender_key"], na_position="last").reset_index(drop=True)


def write_scores(con, scored: pd.DataFrame, forecast_date: date) -> int:
    """Replace the week's rows of ``iom_risk_scores`` and add new keys to ``restricted_person_keys``."""
    con.execute(RISK_SCORES_DDL).fetchall()
    for column, dtype in RISK_SCORES_ADDED.items():
        con.execute(f"alter table iom_risk_scores add column if not exists {column} {dtype}").fetchall()
    con.execute(RESTRICTED_DDL).fetchall()
    analyst = scored[RISK_SCORE_COLUMNS]
    keys = scored[["offender_key", "person_id"]].drop_duplicates()
    con.register("_iom_scored", analyst)
    con.register("_iom_keys", keys)
    try:
        con.execute("begin transaction").fetchall()
        con.execute("delete from iom_risk_scores where week = ?", [forecast_date]).fetchall()
        con.execute(f"insert into iom_risk_scores by name select {', '.join(RISK_SCORE_COLUMNS)} from _iom_scored").fetchall()
        con.execute(
            "insert into restricted_person_keys select offender_key, person_id from _iom_keys "
            "where offender_key not in (select offender_key from restricted_person_keys)"
        ).fetchall()
        con.execute("commit").fetchall()
    except Exception:
        con.execute("rollback").fetchall()
        raise
    finally:
        con.unregister("_iom_scored")
        con.unregister("_iom_keys")
    return len(analyst)
