"""Pooling for small forces: alone vs pooled training, the recorded choice, and the path that uses it."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from wmp_pipeline.hotspot import engine
from wmp_pipeline.policeuk import cli as policeuk_cli
from wmp_pipeline.policeuk import pooling
from wmp_pipeline.policeuk.forecast import PREDICTIONS_TABLE
from wmp_pipeline.settings import PROJECT_ROOT

FORCES = ("avon-and-somerset", "city-of-london", "south-yorkshire")


def shared_police_uk_root() -> Path | None:
    """The three forces' police.uk folders: $WMP_SHARED_DATA or ../shared/data beside the project."""
    root = Path(os.environ.get("WMP_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data") / "police-uk"
    return root if all((root / f).is_dir() for f in FORCES) else None


def test_choice_keeps_the_higher_mean_hit_rate_and_alone_on_a_tie():
    alone = pd.DataFrame({"target": ["a", "b"], "hit_rate@5%": [0.30, 0.20]})
    better = pd.DataFrame({"target": ["a", "b"], "hit_rate@5%": [0.28, 0.26]})
    same = alone.copy()
    assert pooling.choose_training(alone, better) == (pooling.POOLED, pytest.approx(0.25), pytest.approx(0.27))
    assert pooling.choose_training(alone, same)[0] == pooling.ALONE
    assert pooling.choose_training(better, alone)[0] == pooling.ALONE
    with pytest.raises(ValueError, match="no hit_rate@5%"):
        pooling.choose_training(alone.assign(**{"hit_rate@5%": float("nan")}), same.assign(**{"hit_rate@5%": float("nan")}))


def _panel(table: str, as_of: int, features=("f1",)) -> engine.PanelInfo:
    return engine.PanelInfo(table, as_of, as_of - 10, as_of - 20, 0, 0, list(features), ["y_x"], {"x": 3})


def test_pool_panels_prefixes_cells_and_refuses_mismatched_panels():
    con = duckdb.connect()
    for name, cells in (("pa", ["c1", "c2"]), ("pb", ["c1"])):
        con.execute(f"CREATE TABLE {name} AS SELECT unnest({cells}) AS cell_id, 5 AS t, 1.0 AS f1, 0 AS y_x")
        con.execute(f"CREATE TABLE {name}_events AS SELECT unnest({cells}) AS cell_id, 4 AS ep, 4 AS kp, 1 AS x")
    pooled = pooling.pool_panels(con, {"a": _panel("pa", 30), "b": _panel("pb", 30)}, table="pooled")
    assert sorted(r[0] for r in con.execute("SELECT cell_id FROM pooled").fetchall()) == ["a/c1", "a/c2", "b/c1"]
    assert con.execute("SELECT count(*) FROM pooled_events").fetchone()[0] == 3
    assert (pooled.n_units, pooled.as_of_period, pooled.event_counts["x"]) == (3, 30, 6)
    with pytest.raises(ValueError, match="different months"):
        pooling.pool_panels(con, {"a": _panel("pa", 30), "b": _panel("pb", 31)}, table="pooled")
    with pytest.raises(ValueError, match="different settings"):
        pooling.pool_panels(con, {"a": _panel("pa", 30), "b": _panel("pb", 30, ("f2",))}, table="pooled")


def test_a_force_never_compared_trains_alone_and_a_pooled_choice_needs_its_forces():
    con = duckdb.connect()
    assert not pooling.recorded_choice(con, "city-of-london").recorded
    con.execute(
        f"CREATE TABLE {pooling.CHOICE_TABLE} AS SELECT 'city-of-london' AS force_slug, 'pooled' AS training, "
        "'city-of-london,south-yorkshire' AS pool_forces, TIMESTAMP '2026-12-06 06:00:00' AS measured_at"
    )
    choice = pooling.recorded_choice(con, "city-of-london")
    assert choice.training == pooling.POOLED and choice.pool_forces == ("city-of-london", "south-yorkshire")
    assert "pooled over city-of-london, south-yorkshire" in choice.describe()
    assert pooling.recorded_choice(con, "south-yorkshire").training == pooling.ALONE
    with pytest.raises(ValueError, match=r"\['south-yorkshire'\] are not loaded"):
        pooling.fitter_for_force(con, engine.HotspotConfig.monthly(), choice, None, ["city-of-london"])


def _cut(root: Path, dest: Path, months: list[str], rows: int) -> None:
    for force in FORCES:
        for month in months:
            for src in (root / force).glob(f"{month}-*-street.csv*"):
                data = src.read_bytes()
                lines = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode().splitlines()
                (dest / src.name.replace(".csv.gz", ".csv")).write_text("\n".join(lines[: rows + 1]) + "\n")


@pytest.mark.slow  # two dbt builds and ~30 small model fits: ~1-2 min depending on the machine's load
def test_pooling_is_measured_recorded_and_used_by_the_monthly_path(tmp_path, capsys):
    root = shared_police_uk_root()
    if root is None:
        pytest.skip("shared police.uk data for the three forces not found (../shared/data/police-uk or $WMP_SHARED_DATA)")
    cut = tmp_path / "cut"
    cut.mkdir()
    # March to October 2019 (July missing for two of the forces), the first 1,500 rows of each file
    _cut(root, cut, ["2019-03", "2019-04", "2019-05", "2019-06", "2019-07", "2019-08", "2019-09", "2019-10"], rows=1500)
    db = tmp_path / "police.duckdb"
    out = tmp_path / "pooling.json"
    assert policeuk_cli.pooling_main(["--dir", str(cut), "--duckdb", str(db), "--months", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Choice per force" in printed

    con = duckdb.connect(str(db))
    choices = con.execute(f"SELECT * FROM {pooling.CHOICE_TABLE} ORDER BY force_slug").df()
    assert list(choices["force_slug"]) == list(FORCES)
    for row in choices.itertuples():
        expected = pooling.POOLED if row.score_pooled > row.score_alone else pooling.ALONE
        assert row.training == expected
        assert row.pool_forces == (",".join(FORCES) if expected == pooling.POOLED else row.force_slug)
    metrics = con.execute(f"SELECT * FROM {pooling.METRICS_TABLE}").df()
    assert len(metrics) == 3 * 2 * 4  # forces x trainings x targets
    assert metrics["hit_rate_at_5pct"].between(0, 1).all()
    # both trainings are judged on the same crimes of the same force
    same = metrics.groupby(["force_slug", "target"])["n_crimes"].nunique()
    assert (same == 1).all()
    alone = metrics[metrics["training"] == "alone"].set_index(["force_slug", "target"])["hit_rate_at_5pct"]
    pooled = metrics[metrics["training"] == "pooled"].set_index(["force_slug", "target"])["hit_rate_at_5pct"]
    mean = pd.DataFrame({"a": alone, "p": pooled}).groupby(level=0).mean()
    assert choices.set_index("force_slug")["score_alone"].round(4).to_dict() == mean["a"].round(4).to_dict()

    # the monthly path trains City of London as recorded: pooled over the three forces
    con.execute(
        f"UPDATE {pooling.CHOICE_TABLE} SET training = 'pooled', pool_forces = ? WHERE force_slug = 'city-of-london'",
        [",".join(FORCES)],
    )
    con.close()
    code = policeuk_cli.main(["--dir", str(cut), "--duckdb", str(db), "--months", "2", "--force", "city-of-london",
                              "--out", str(tmp_path / "bt.csv")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "model training: pooled over avon-and-somerset, city-of-london, south-yorkshire" in printed
    con = duckdb.connect(str(db), read_only=True)
    pred = con.execute(f"SELECT * FROM {PREDICTIONS_TABLE}").df()
    cells = con.execute(f"SELECT count(DISTINCT cell_id) FROM {pooling.panel_table('city-of-london')}").fetchone()[0]
    con.close()
    assert set(pred["force_slug"]) == {"city-of-london"} and set(pred["training"]) == {"pooled"}
    assert str(pd.Timestamp(pred["forecast_month"].iloc[0]).date()) == "2019-11-01"
    assert pred.groupby("target")["cell_id"].nunique().max() <= cells
    assert pred["predicted_count"].ge(0).all() and set(pred["rank"].groupby(pred["target"]).min()) == {1}
