"""The built-in CONNECT generator: deterministic, on contract, with realistic edits and a sane truth.

Everything runs on the ``tiny`` preset (a few seconds per generation). Tests
that need a given behaviour to occur (deletions, defects) raise its rate
through a preset override rather than hoping the default low rate shows it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from wmp_pipeline.contract import CONTRACT_VERSION, TABLE_SPECS, is_knife_crime_used_causing_injury
from wmp_pipeline.generator import PRESETS, ChangeRates, DefectRates, generate
from wmp_pipeline.generator.__main__ import main as cli_main
from wmp_pipeline.harm.score import escalation_label, harm_score, load_harm_weights
from wmp_pipeline.settings import REFERENCE_OFFENCE_CODES

END = date(2026, 11, 23)
SEED = 7
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTEGER = re.compile(r"^-?\d+$")
HISTORY_WEEKS = round(PRESETS["tiny"].history_years * 365.25 / 7)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    raw = gzip.open(path, "rb").read() if path.name.endswith(".gz") else path.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def _drops(landing: Path) -> list[Path]:
    return sorted(p for p in (landing / "connect").iterdir() if p.is_dir())


def _frame(drop: Path, table: str) -> pd.DataFrame:
    header, rows = _read_csv(drop / f"{table}.csv.gz")
    df = pd.DataFrame(rows, columns=header, dtype=object)
    return df.replace("", None)


def _current(landing: Path, table: str) -> pd.DataFrame:
    """Newest state of every record over all drops (deleted ones removed)."""
    key = TABLE_SPECS[table].key
    parts = []
    for drop in _drops(landing):
        df = _frame(drop, table)
        df["_drop"] = drop.name
        parts.append(df)
    df = pd.concat(parts, ignore_index=True).sort_values(["_drop", "last_modified"], kind="stable")
    df = df.drop_duplicates(key, keep="last")
    return df[df.record_status != "deleted"].reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path, object]:
    root = tmp_path_factory.mktemp("tiny")
    summary = generate("tiny", root / "landing", root / "truth", seed=SEED, end_date=END)
    return root / "landing", root / "truth", summary


@pytest.fixture(scope="module")
def busy(tmp_path_factory) -> tuple[Path, Path, object]:
    """Tiny with high change and defect rates, so every kind of edit shows up in four weeks."""
    preset = PRESETS["tiny"].with_overrides(
        name="tiny-busy",
        defects=DefectRates(missing_coordinates=0.05, unknown_offence_code=0.02, duplicate_rows=0.01),
        changes=ChangeRates(reclassified=0.3, relocated=0.1, cancelled=0.05, deleted_crimes=0.05,
                            deleted_charges=0.05, deleted_persons=0.2),
    )
    root = tmp_path_factory.mktemp("busy")
    summary = generate(preset, root / "landing", root / "truth", seed=SEED, end_date=END)
    return root / "landing", root / "truth", summary


# --- layout, manifest, determinism ------------------------------------------------


def test_one_full_then_weekly_deltas_dated_mondays(tiny):
    landing, _, summary = tiny
    drops = _drops(landing)
    dates = [date.fromisoformat(p.name) for p in drops]
    assert dates == [END - timedelta(weeks=k) for k in range(PRESETS["tiny"].delta_weeks, -1, -1)]
    assert all(d.weekday() == 0 for d in dates)
    types = [json.loads((p / "manifest.json").read_text())["extract_type"] for p in drops]
    assert types == ["full"] + ["delta"] * PRESETS["tiny"].delta_weeks
    assert summary.end_date == END and summary.covers_from == END - timedelta(weeks=HISTORY_WEEKS)
    assert not any(p.name.startswith(".") for p in (landing / "connect").iterdir())


def test_manifest_rows_and_checksums_match_files(tiny):
    landing, _, _ = tiny
    for drop in _drops(landing):
        manifest = json.loads((drop / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["contract_version"] == CONTRACT_VERSION
        assert manifest["extract_date"] == drop.name
        assert manifest["covers_from"] == (END - timedelta(weeks=HISTORY_WEEKS)).isoformat()
        assert sorted(manifest["files"]) == sorted(f"{t}.csv.gz" for t in TABLE_SPECS)
        assert sorted(p.name for p in drop.iterdir()) == sorted([*manifest["files"], "manifest.json"])
        for name, info in manifest["files"].items():
            path = drop / name
            assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            assert info["rows"] == len(_read_csv(path)[1])


def test_same_seed_same_bytes_other_seed_other_bytes(tiny, tmp_path):
    landing, truth, _ = tiny
    generate("tiny", tmp_path / "a" / "landing", tmp_path / "a" / "truth", seed=SEED, end_date=END)
    for drop in _drops(landing):
        again = tmp_path / "a" / "landing" / "connect" / drop.name
        assert (drop / "manifest.json").read_bytes() == (again / "manifest.json").read_bytes()
    for name in ("hotspot_truth.parquet", "hotspot_forecast_truth.parquet", "iom_truth.parquet"):
        assert pq.read_table(truth / name).equals(pq.read_table(tmp_path / "a" / "truth" / name))

    generate("tiny", tmp_path / "b" / "landing", tmp_path / "b" / "truth", seed=SEED + 1, end_date=END)
    first = _drops(landing)[0].name
    a = json.loads((landing / "connect" / first / "manifest.json").read_text())
    b = json.loads((tmp_path / "b" / "landing" / "connect" / first / "manifest.json").read_text())
    assert a["files"]["crimes.csv.gz"]["sha256"] != b["files"]["crimes.csv.gz"]["sha256"]


def test_cli_writes_the_same_drops_as_the_api(tiny, tmp_path, capsys):
    landing, _, _ = tiny
    code = cli_main([
        "--preset", "tiny", "--landing", str(tmp_path / "l"), "--truth", str(tmp_path / "t"),
        "--seed", str(SEED), "--end-date", END.isoformat(), "--format", "csv.gz",
    ])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preset"] == "tiny" and len(out["drops"]) == 5
    for drop in _drops(landing):
        assert (drop / "manifest.json").read_bytes() == (tmp_path / "l" / "connect" / drop.name / "manifest.json").read_bytes()


# --- the contract ----------------------------------------------------------------


def _check_file(path: Path, table: str) -> tuple[int, int]:
    """Every contract rule on one CSV file; returns (rows, exact duplicate rows)."""
    spec = TABLE_SPECS[table]
    header, rows = _read_csv(path)
    assert header == spec.column_names, f"{path}: header"
    for i, col in enumerate(spec.columns):
        values = [r[i] for r in rows]
        if not col.nullable:
            assert all(v != "" for v in values), f"{path}: {col.name} has nulls"
        present = [v for v in values if v != ""]
        if col.allowed:
            assert set(present) <= set(col.allowed), f"{path}: {col.name} values {set(present) - set(col.allowed)}"
        if col.pattern:
            pat = re.compile(col.pattern)
            assert all(pat.match(v) for v in present), f"{path}: {col.name} breaks {col.pattern}"
        if col.type == "timestamp":
            assert all(TS.match(v) for v in present), f"{path}: {col.name} timestamps"
            for v in present:
                datetime.fromisoformat(v)
        elif col.type == "date":
            assert all(DATE.match(v) for v in present), f"{path}: {col.name} dates"
            for v in present:
                date.fromisoformat(v)
        elif col.type == "integer":
            assert all(INTEGER.match(v) for v in present), f"{path}: {col.name} integers"
    as_tuples = [tuple(r) for r in rows]
    distinct = set(as_tuples)
    key = spec.column_names.index(spec.key)
    # a key repeats only where the whole row is an exact duplicate
    assert len({r[key] for r in distinct}) == len(distinct), f"{path}: duplicated keys with different content"
    return len(rows), len(as_tuples) - len(distinct)


def test_every_file_follows_the_contract(tiny):
    landing, _, _ = tiny
    for drop in _drops(landing):
        for table in TABLE_SPECS:
            n, _ = _check_file(drop / f"{table}.csv.gz", table)
            if json.loads((drop / "manifest.json").read_text())["extract_type"] == "full":
                assert n > 100


def test_references_resolve_within_the_drops_so_far(tiny):
    landing, _, _ = tiny
    persons: set[str] = set()
    crimes: set[str] = set()
    for drop in _drops(landing):
        persons |= set(_frame(drop, "persons").person_id)
        crimes |= set(_frame(drop, "crimes").crime_id)
        charges = _frame(drop, "charges")
        assert set(charges.person_id) <= persons
        assert set(charges.crime_id.dropna()) <= crimes


def test_full_extract_respects_covers_from(tiny):
    landing, _, summary = tiny
    full = _drops(landing)[0]
    covers = summary.covers_from.isoformat()
    assert (_frame(full, "crimes").recorded_at >= covers).all()
    assert (_frame(full, "charges").charge_date >= covers).all()
    assert (_frame(full, "persons").last_modified >= covers).all()
    assert (_frame(full, "crimes").record_status != "deleted").all()


def test_parquet_drops_have_contract_types(tmp_path):
    generate("tiny", tmp_path / "l", tmp_path / "t", seed=SEED, end_date=END, file_format="parquet")
    drop = _drops(tmp_path / "l")[0]
    manifest = json.loads((drop / "manifest.json").read_text())
    # parquet has no second unit, so timestamps are whole seconds in milliseconds
    kinds = {"string": "string", "date": "date32[day]", "timestamp": "timestamp[ms]", "integer": "int64"}
    for table, spec in TABLE_SPECS.items():
        t = pq.read_table(drop / f"{table}.parquet")
        assert t.column_names == spec.column_names
        assert [str(f.type) for f in t.schema] == [kinds[c.type] for c in spec.columns]
        assert manifest["files"][f"{table}.parquet"]["rows"] == t.num_rows


# --- realism of the records -------------------------------------------------------


def test_deltas_carry_reclassified_relocated_cancelled_late_and_deleted_crimes(busy):
    landing, _, _ = busy
    drops = _drops(landing)
    seen = _frame(drops[0], "crimes").drop_duplicates().set_index("crime_id")
    found = dict(reclassified=0, relocated=0, cancelled=0, late=0, deleted=0)
    for drop in drops[1:]:
        delta = _frame(drop, "crimes").drop_duplicates().set_index("crime_id")
        before = delta.index.intersection(seen.index)
        old, new = seen.loc[before], delta.loc[before]
        found["reclassified"] += int((new.offence_code.to_numpy() != old.offence_code.to_numpy()).sum())
        moved = (new.easting.to_numpy() != old.easting.to_numpy()) & new.easting.notna().to_numpy()
        found["relocated"] += int(moved.sum())
        found["cancelled"] += int((delta.record_status == "cancelled").sum())
        found["deleted"] += int((delta.record_status == "deleted").sum())
        lag = pd.to_datetime(delta.recorded_at) - pd.to_datetime(delta.committed_from)
        found["late"] += int(((lag > pd.Timedelta(days=14)) & (delta.recorded_at >= (date.fromisoformat(drop.name) - timedelta(days=7)).isoformat())).sum())
        seen = pd.concat([seen.drop(before), delta])
    assert all(v > 0 for v in found.values()), found
    assert any((_frame(d, "charges").record_status == "deleted").any() for d in drops[1:])
    assert any((_frame(d, "persons").record_status == "deleted").any() for d in drops[1:])


def test_defect_rates_are_roughly_as_configured(busy):
    landing, _, _ = busy
    crimes = _frame(_drops(landing)[0], "crimes")
    n = len(crimes)
    distinct = crimes.drop_duplicates()
    ref = set(pd.read_csv(REFERENCE_OFFENCE_CODES, dtype=str).offence_code)

    def near(observed: float, rate: float) -> bool:
        return abs(observed - rate) <= 5 * np.sqrt(rate * (1 - rate) / n) + 0.002

    # cancelled and duplicate records are copies of process crimes, so defects ride along with them too
    assert near(distinct.easting.isna().mean(), 0.05), distinct.easting.isna().mean()
    assert distinct.loc[distinct.easting.isna(), "lsoa_code"].notna().any()
    assert near((~distinct.offence_code.isin(ref)).mean(), 0.02)
    assert near((n - len(distinct)) / len(distinct), 0.01)


def test_default_defects_are_present_but_rare(tiny):
    landing, _, _ = tiny
    crimes = _frame(_drops(landing)[0], "crimes")
    ref = set(pd.read_csv(REFERENCE_OFFENCE_CODES, dtype=str).offence_code)
    assert 0 < crimes.easting.isna().mean() < 0.02
    assert (~crimes.offence_code.isin(ref)).mean() < 0.01


def test_weapon_fields_follow_the_knife_rule(tiny):
    landing, _, _ = tiny
    crimes = _current(landing, "crimes")
    knife = np.array([is_knife_crime_used_causing_injury(*r) for r in crimes[["weapon_type", "weapon_used", "injury_level"]].itertuples(index=False)])
    assert knife.sum() > 5
    assert set(crimes.offence_code[knife]) <= {"1", "4.1", "5A", "5D", "8N", "8P", "34A", "34B"}
    assert (crimes.weapon_used[crimes.weapon_type == "none"] == "N").all()
    assert (crimes.injury_level[crimes.offence_code == "1"].isin(["fatal"])).all()


def test_charges_link_people_to_crimes_with_co_offending(tiny):
    landing, _, _ = tiny
    charges = _current(landing, "charges")
    crimes = _current(landing, "crimes").set_index("crime_id")
    linked = charges.dropna(subset=["crime_id"])
    assert 0.3 < len(linked) / len(charges) < 0.98
    assert (linked.offence_code.values == crimes.loc[linked.crime_id, "offence_code"].values).mean() > 0.85
    assert (linked.charge_date.values >= crimes.loc[linked.crime_id, "committed_from"].str[:10].values).all()
    assert linked.crime_id.duplicated().any()  # some crimes are charged to two or more people
    persons = _current(landing, "persons")
    assert len(persons) > charges.person_id.nunique()  # victims and others are nominals too


# --- ground truth -----------------------------------------------------------------


def test_hotspot_truth_covers_every_cell_and_week(tiny):
    landing, truth, summary = tiny
    hot = pq.read_table(truth / "hotspot_truth.parquet").to_pandas()
    cells = pq.read_table(truth / "cells.parquet").to_pandas()
    assert list(hot.columns) == ["target", "cell_id", "week_start", "expected_count"]
    assert set(hot.target) == {"knife_injury", "serious_violence"}
    weeks = sorted(pd.to_datetime(hot.week_start.astype(str)).dt.date.unique())
    assert weeks[0] == summary.covers_from and weeks[-1] == END - timedelta(weeks=1)
    assert len(weeks) == HISTORY_WEEKS and all(w.weekday() == 0 for w in weeks)
    assert len(hot) == 2 * len(weeks) * len(cells)
    assert set(hot.cell_id.astype(str)) == set(cells.cell_id)
    assert all(re.match(r"^250m_\d+_\d+$", c) and int(c.split("_")[1]) % 250 == 0 for c in cells.cell_id)
    assert np.isfinite(hot.expected_count).all() and (hot.expected_count > 0).all()

    # expected counts match what was recorded (crimes committed in the history, final state)
    crimes = _current(landing, "crimes")
    crimes = crimes[(crimes.record_status == "active") & (crimes.committed_from >= summary.covers_from.isoformat())]
    knife = crimes.apply(lambda r: is_knife_crime_used_causing_injury(r.weapon_type, r.weapon_used, r.injury_level), axis=1)
    sv_codes = {"1", "4.1", "5A", "5D", "34A", "34B"}
    expected = hot.groupby(hot.target.astype(str)).expected_count.sum()
    assert abs(knife.sum() - expected["knife_injury"]) < 5 * np.sqrt(expected["knife_injury"]) + 3
    # the last weeks are not all recorded yet, and no-crime copies come and go: allow some slack
    assert abs(crimes.offence_code.isin(sv_codes).sum() - expected["serious_violence"]) < 0.1 * expected["serious_violence"]


def test_hotspot_forecast_truth_is_the_expectation_given_the_past(tiny):
    """The 28-day ceiling: one row per target, cell and forecast Monday whose 4 weeks are in the history;
    it starts from the week-1 truth, and on average over dates it equals the 4 weekly truths summed
    (their expectation given the past), while differing date by date (they know the window's crimes)."""
    _, truth, summary = tiny
    fc = pq.read_table(truth / "hotspot_forecast_truth.parquet").to_pandas()
    hot = pq.read_table(truth / "hotspot_truth.parquet").to_pandas()
    assert list(fc.columns) == ["target", "cell_id", "forecast_date", "horizon_weeks", "expected_count"]
    assert (fc.horizon_weeks == 4).all()
    dates = sorted(pd.to_datetime(fc.forecast_date.astype(str)).dt.date.unique())
    assert dates[0] == summary.covers_from and dates[-1] == END - timedelta(weeks=4)
    assert len(dates) == HISTORY_WEEKS - 3
    assert len(fc) == 2 * len(dates) * hot.cell_id.nunique()
    assert np.isfinite(fc.expected_count).all() and (fc.expected_count > 0).all()

    def wide(df, col):
        df = df.assign(target=df.target.astype(str), cell_id=df.cell_id.astype(str), d=pd.to_datetime(df[col].astype(str)))
        return df.pivot_table(index=["target", "cell_id"], columns="d", values="expected_count")

    f, w = wide(fc, "forecast_date"), wide(hot, "week_start")
    w = w.loc[f.index]
    n = f.shape[1]
    summed = sum(w.iloc[:, i : i + n].to_numpy() for i in range(4))
    week1 = w.iloc[:, :n].to_numpy()
    assert (f.to_numpy() > week1).all()
    for target in ("knife_injury", "serious_violence"):
        rows = f.index.get_level_values("target") == target
        per_date_f, per_date_s = f.to_numpy()[rows].sum(axis=0), summed[rows].sum(axis=0)
        assert per_date_f.sum() == pytest.approx(per_date_s.sum(), rel=0.01)
        assert not np.allclose(per_date_f, per_date_s, rtol=1e-3)


def test_iom_truth_is_a_probability_on_eligible_people(tiny):
    landing, truth, summary = tiny
    iom = pq.read_table(truth / "iom_truth.parquet").to_pandas()
    assert list(iom.columns[:3]) == ["person_id", "snapshot_date", "p_high_harm_12m"]
    assert iom.p_high_harm_12m.between(0, 1).all() and (iom.harm_score < 365).all()
    snaps = sorted(pd.to_datetime(iom.snapshot_date.astype(str)).dt.date.unique())
    assert all(d.weekday() == 0 and d + timedelta(days=365) <= END for d in snaps)
    assert len(snaps) >= 40  # tiny: every week of the year whose horizon is complete
    # people charged inside the extract in the year before the snapshot are in the persons table
    charged_inside = iom[(iom.harm_score > 0) & (pd.to_datetime(iom.snapshot_date.astype(str)).dt.date
                                                 >= summary.covers_from + timedelta(days=365))]
    assert len(charged_inside) > 50
    assert set(charged_inside.person_id) <= set(_current(landing, "persons").person_id)
    assert iom.windows_in_extract.dtype == bool
    reached = iom.reached_high_harm_12m
    assert abs(iom.p_high_harm_12m.mean() - reached.mean()) < 0.03
    assert iom.p_high_harm_12m[reached].mean() > 2 * iom.p_high_harm_12m[~reached].mean()


def test_iom_truth_uses_the_pipelines_harm_rule(tiny):
    landing, truth, summary = tiny
    weights = load_harm_weights(REFERENCE_OFFENCE_CODES)
    charges = _current(landing, "charges")
    charges["w"] = charges.offence_code.map(weights).fillna(0.0)
    iom = pq.read_table(truth / "iom_truth.parquet").to_pandas()
    iom["snapshot_date"] = pd.to_datetime(iom.snapshot_date.astype(str)).dt.date
    # only snapshots whose windows lie inside the extract can be recomputed from the drops
    by_person = {p: g for p, g in charges.groupby("person_id")}
    complete = iom[(iom.snapshot_date >= summary.covers_from + timedelta(days=365)) & iom.person_id.isin(by_person)]
    assert len(complete) > 50
    for row in complete.sample(min(len(complete), 150), random_state=0).itertuples():
        g = by_person[row.person_id]
        dates = g.charge_date.tolist()
        assert harm_score(dates, g.w, row.snapshot_date) == pytest.approx(row.harm_score)
        assert escalation_label(dates, g.w, row.snapshot_date) == row.reached_high_harm_12m


def test_truth_manifest_describes_the_run(tiny):
    _, truth, summary = tiny
    m = json.loads((truth / "truth_manifest.json").read_text())
    assert m["seed"] == SEED and m["end_date"] == END.isoformat() and m["preset"]["name"] == "tiny"
    assert set(m["files"]) == {"hotspot_truth.parquet", "hotspot_forecast_truth.parquet", "iom_truth.parquet",
                               "cells.parquet", "lsoas.parquet"}
    for name, info in m["files"].items():
        assert pq.read_metadata(truth / name).num_rows == info["rows"] and info["description"]


# --- options ----------------------------------------------------------------------


def test_end_date_is_moved_to_a_monday_and_progress_is_reported(tmp_path):
    calls = []
    summary = generate(
        "tiny", tmp_path / "l", tmp_path / "t", seed=1, end_date=END + timedelta(days=2),
        file_format="csv", progress=lambda step, done, total: calls.append((step, done, total)),
    )
    assert summary.end_date == END and summary.warnings
    assert (tmp_path / "l" / "connect" / END.isoformat() / "crimes.csv").exists()
    steps = {s for s, _, _ in calls}
    assert {"geography", "drops", "hotspot truth"} <= steps
    assert all(0 <= d <= t for _, d, t in calls)
    assert any(d == t for s, d, t in calls if s == "drops")


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        generate("huge", tmp_path, tmp_path)
    with pytest.raises(ValueError, match="file_format"):
        generate("tiny", tmp_path, tmp_path, file_format="xlsx")
