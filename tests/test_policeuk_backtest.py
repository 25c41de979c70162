"""police.uk backtest: pure helpers, and the command end to end on a cut of the real data."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.policeuk import backtest as bt
from wmp_pipeline.policeuk import cli as policeuk_cli
from wmp_pipeline.settings import PROJECT_ROOT


def shared_police_uk_dir() -> Path | None:
    """South Yorkshire police.uk files: $WMP_SHARED_DATA or ../shared/data beside the project."""
    root = Path(os.environ.get("WMP_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")
    folder = root / "police-uk" / "south-yorkshire"
    return folder if folder.is_dir() and any(folder.glob("*-street.csv*")) else None


def test_crimes_outside_the_study_area_count_as_misses():
    per = pd.DataFrame(
        {
            "target": ["robbery", "robbery", "drugs"],
            "model": ["m", "m", "m"],
            "t": [10, 11, 10],
            "area_share": [0.01, 0.05, 0.01],
            "hits": [3.0, 4.0, 0.0],
            "n_crimes": [6.0, 8.0, 0.0],
        }
    )
    outside = pd.DataFrame({"target": ["robbery", "robbery"], "t": [10, 11], "n_outside": [2, 0]})
    out = bt.count_outside_as_misses(per, outside)
    assert out["n_crimes"].tolist() == [8.0, 8.0, 0.0]
    assert out["hit_rate"].iloc[0] == pytest.approx(3 / 8)
    assert out["pai"].iloc[1] == pytest.approx(0.5 / 0.05)
    assert np.isnan(out["hit_rate"].iloc[2])


def test_outside_area_counts_find_crimes_in_cells_outside_the_area():
    con = duckdb.connect()
    cfg = bt.monthly_config(targets=("robbery",), related=("drugs",))
    con.execute(
        """
        CREATE TABLE ev AS SELECT * FROM (VALUES
            (100.0, 100.0, DATE '2021-03-01', TRUE),
            (900.0, 900.0, DATE '2021-03-01', TRUE),
            (900.0, 900.0, DATE '2021-03-01', FALSE),
            (NULL, NULL, DATE '2021-03-01', TRUE),
            (900.0, 900.0, DATE '2021-04-01', TRUE)
        ) v(easting, northing, event_time, robbery)
        """
    )
    cells = pd.DataFrame({"cell_id": ["250m_0_0"], "in_force_area": [True]})
    t = 2021 * 12 + 2
    out = bt.outside_area_counts(con, "ev", cells, cfg, [t, t + 1])
    assert out["n_outside"].tolist() == [1, 1]


def test_force_choice_and_baseline_verdict():
    assert policeuk_cli.choose_force(["a", "a"], None) == "a"
    assert policeuk_cli.choose_force(["a", "b"], "b") == "b"
    with pytest.raises(SystemExit, match="several forces"):
        policeuk_cli.choose_force(["a", "b"], None)
    summary = pd.DataFrame(
        {
            "target": ["x"] * 3,
            "model": ["xgboost_poisson", "last_1_months", "last_12_months"],
            "hit_rate@5%": [0.30, 0.20, 0.31],
            "pai@1%": [9.0, 5.0, 8.0],
        }
    )
    verdict = bt.beats_baselines(summary).iloc[0]
    assert not verdict["hit_rate@5%"] and verdict["pai@1%"]
    per = pd.DataFrame(
        {
            "target": ["x"] * 6,
            "forecast_month": ["2021-01-01"] * 3 + ["2021-02-01"] * 3,
            "model": ["xgboost_poisson", "last_1_months", "last_12_months"] * 2,
            "area_share": [0.05] * 6,
            "hit_rate": [0.3, 0.2, 0.25, 0.3, 0.2, 0.35],
        }
    )
    won = bt.months_won(per, 0.05).iloc[0]
    assert (won["months_won"], won["months"]) == (1, 2)


def _cut(folder: Path, dest: Path, months: list[str], rows: int) -> None:
    for month in months:
        for src in folder.glob(f"{month}-*-street.csv*"):
            data = src.read_bytes()
            lines = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode().splitlines()
            (dest / src.name.replace(".csv.gz", ".csv")).write_text("\n".join(lines[: rows + 1]) + "\n")


@pytest.mark.slow  # a dbt build and four model fits: ~20-60 s depending on the machine's load
def test_backtest_command_end_to_end_on_a_cut_of_real_data(tmp_path, capsys):
    folder = shared_police_uk_dir()
    if folder is None:
        pytest.skip("shared police.uk data not found (../shared/data/police-uk/south-yorkshire or $WMP_SHARED_DATA)")
    cut = tmp_path / "cut"
    cut.mkdir()
    # March to October 2019: July 2019 is missing in the published data
    _cut(folder, cut, ["2019-03", "2019-04", "2019-05", "2019-06", "2019-07", "2019-08", "2019-09", "2019-10"], rows=2500)
    db = tmp_path / "police.duckdb"
    out = tmp_path / "out" / "results.csv"
    code = policeuk_cli.main(["--dir", str(cut), "--duckdb", str(db), "--months", "3", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "missing months: 2019-07" in printed and "xgboost_poisson" in printed

    summary = pd.read_csv(out)
    assert len(summary) == 4 * 4  # targets x (model + three baselines)
    assert set(summary["model"]) == {"xgboost_poisson", "last_1_months", "last_12_months", "prospective_hotspot"}
    for share, label in [(0.005, "0.5%"), (0.01, "1%"), (0.02, "2%"), (0.05, "5%")]:
        assert summary[f"hit_rate@{label}"].between(0, 1).all()
        assert np.allclose(summary[f"pai@{label}"], summary[f"hit_rate@{label}"] / share)

    result = json.loads(out.with_suffix(".json").read_text())
    assert result["source"]["backtest_months"] == ["2019-08-01", "2019-09-01", "2019-10-01"]
    per_origin = pd.read_csv(out.with_name("results_per_origin.csv"))
    assert sorted(per_origin["forecast_month"].unique()) == ["2019-08-01", "2019-09-01", "2019-10-01"]

    # every located robbery of the backtest months in the force's own area is judged, none twice
    home = result["source"]["home_local_authorities"]
    con = duckdb.connect(str(db), read_only=True)
    expected = con.execute(
        "SELECT count(*) FROM stg_policeuk__street_crimes WHERE crime_type = 'Robbery' AND has_location "
        f"AND month >= DATE '2019-08-01' AND local_authority IN ({', '.join(repr(a) for a in home)})"
    ).fetchone()[0]
    stored = con.execute("SELECT count(*) FROM policeuk_backtest_metrics WHERE scope = 'overall'").fetchone()[0]
    con.close()
    robbery = summary[(summary["target"] == "robbery")]
    assert (robbery["n_crimes"] == expected).all() and expected > 0
    assert stored == 4 * 4 * 4  # targets x models x shares

