"""Running one suite with Great Expectations 1.x, directly (dagster-ge does not support GX 1.x).

An ephemeral context, a pandas data source, one whole-DataFrame batch,
``batch.validate(suite)``; the outcome is matched back to the suite's JSON for
severity, note and order, and failing rows are kept with person identifiers
masked (:mod:`wmp_pipeline.privacy.scrub`). Great Expectations is imported only
when a suite runs, so loading the Dagster definitions stays fast.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from wmp_pipeline.contract import TABLE_SPECS
from wmp_pipeline.privacy.scrub import is_identifying_column, mask_identifiers
from wmp_pipeline.quality.force_area import BngBox, force_area_bbox
from wmp_pipeline.quality.gx.results import DropInfo, ExpectationOutcome, SuiteResult
from wmp_pipeline.quality.gx.sampling import DEFAULT_MAX_ROWS, latest_drop, read_drop_rows
from wmp_pipeline.quality.gx.suites import (
    SEVERITIES,
    expectation_columns,
    known_offence_codes,
    load_suite_json,
    suite_columns,
    suite_parameter_names,
    suite_parameters,
)
from wmp_pipeline.settings import Settings

#: Failing rows kept per failed expectation (after masking).
FAILING_ROWS_PER_EXPECTATION = 5


def _label(exp_type: str, columns: list[str]) -> str:
    short = exp_type.removeprefix("expect_")
    return f"{short}({', '.join(columns)})" if columns else short


def _exception_message(info: Any) -> str | None:
    """The first raised exception's message in a GX ``exception_info`` (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")[:300]
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception")[:300]
    return None


def _show(value: Any) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # list-like values
        pass
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _failing_rows(df: pd.DataFrame, index_list: list, columns: list[str], key_column: str | None, n: int) -> tuple[dict, ...]:
    if not index_list or df.empty:
        return ()
    show = [c for c in ("_file_name", "_row_number") if c in df.columns]
    if key_column and key_column in df.columns and key_column not in show:
        show.append(key_column)
    show += [c for c in columns if c in df.columns and c not in show]
    idx = [i for i in index_list[:n] if i in df.index]
    sample = mask_identifiers(df.loc[idx, show])
    return tuple({c: _show(v) for c, v in row.items()} for row in sample.to_dict(orient="records"))


def _top_unexpected(df: pd.DataFrame, exp: dict, columns: list[str], parameters: dict, result: dict) -> tuple[tuple[str, int], ...]:
    if len(columns) != 1 or is_identifying_column(columns[0]) or columns[0] not in df.columns:
        return ()
    col = columns[0]
    value_set = exp.get("kwargs", {}).get("value_set")
    if isinstance(value_set, dict) and "$PARAMETER" in value_set:
        value_set = parameters.get(value_set["$PARAMETER"])
    if exp["type"] == "expect_column_values_to_be_in_set" and isinstance(value_set, list):
        # Exact counts: an unknown offence code is "kept and reported", so report all of them.
        s = df[col]
        bad = s[s.notna() & ~s.isin(value_set)]
        return tuple((_show(v), int(c)) for v, c in bad.value_counts().head(10).items())
    counts = result.get("partial_unexpected_counts") or []
    return tuple((_show(c.get("value")), int(c.get("count", 0))) for c in counts[:10])


def validate_dataframe(
    df: pd.DataFrame,
    suite: dict,
    parameters: dict[str, Any],
    *,
    table: str = "",
    key_column: str | None = None,
    drop: DropInfo | None = None,
    rows_in_drop: int | None = None,
    sample_note: str = "",
    failing_rows_per_expectation: int = FAILING_ROWS_PER_EXPECTATION,
) -> SuiteResult:
    """Run a suite (as JSON dict) on a DataFrame with Great Expectations 1.x.

    ``parameters`` fills the suite's ``$PARAMETER`` placeholders. ``df`` must
    have a unique index (failing rows are looked up by it).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    missing = suite_parameter_names(suite) - set(parameters)
    if missing:
        raise ValueError(f"suite {suite.get('name')} needs parameter(s) {sorted(missing)}")
    start = time.monotonic()
    gx_suite = gx.ExpectationSuite(
        name=suite["name"],
        expectations=[{k: v for k, v in e.items() if k != "id"} for e in suite["expectations"]],
        meta=suite.get("meta"),
    )
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    name = f"{suite['name']}_{uuid.uuid4().hex[:8]}"
    batch_definition = (
        context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    with warnings.catch_warnings():
        # pandas warns that a regex with a group (the ethnicity code list) is used only to match
        warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
        validation = batch.validate(
            gx_suite,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
            expectation_parameters=parameters,
        )

    # GX returns results in its own order; match each back to its JSON (for severity, note, order).
    positions: dict[str, list[int]] = {}
    for i, exp in enumerate(suite["expectations"]):
        positions.setdefault(_config_key(exp["type"], exp.get("kwargs", {})), []).append(i)

    ranked: list[tuple[int, ExpectationOutcome]] = []
    for r in validation.results:
        config = r.expectation_config
        matches = positions.get(_config_key(config.type, config.kwargs)) or [len(suite["expectations"])]
        position = matches.pop(0) if len(matches) > 1 else matches[0]
        exp_json = suite["expectations"][position] if position < len(suite["expectations"]) else {"type": config.type, "kwargs": {}}
        columns = expectation_columns({"kwargs": dict(config.kwargs)})
        meta = dict(config.meta or {})
        res = dict(r.result or {})
        identifying = any(is_identifying_column(c) for c in columns)
        observed = res.get("observed_value")
        outcome = ExpectationOutcome(
            label=_label(config.type, columns),
            expectation_type=config.type,
            columns=tuple(columns),
            severity=meta.get("severity", "warning"),
            note=meta.get("note", ""),
            success=bool(r.success),
            element_count=res.get("element_count"),
            unexpected_count=res.get("unexpected_count"),
            unexpected_percent=res.get("unexpected_percent"),
            observed_value=None if observed is None or identifying else _show(observed)[:120],
            top_unexpected_values=() if r.success else _top_unexpected(df, exp_json, columns, parameters, res),
            exception=_exception_message(r.exception_info),
            failing_rows=()
            if r.success
            else _failing_rows(
                df, list(res.get("partial_unexpected_index_list") or []), columns, key_column, failing_rows_per_expectation
            ),
        )
        ranked.append((position, outcome))
    ranked.sort(key=lambda p: (SEVERITIES.index(p[1].severity), p[1].success, p[0]))
    outcomes = [o for _, o in ranked]
    return SuiteResult(
        suite_name=suite["name"],
        table=table,
        drop_id=drop.drop_id if drop else None,
        extract_date=drop.extract_date if drop else None,
        extract_type=drop.extract_type if drop else None,
        rows_in_drop=len(df) if rows_in_drop is None else rows_in_drop,
        rows_validated=len(df),
        sampled=rows_in_drop is not None and rows_in_drop > len(df),
        sample_note=sample_note,
        elapsed_s=round(time.monotonic() - start, 3),
        outcomes=tuple(outcomes),
    )


def _config_key(exp_type: str, kwargs: dict) -> str:
    cols = expectation_columns({"kwargs": dict(kwargs)})
    extra = {k: kwargs[k] for k in ("regex", "type_", "column_list") if k in kwargs}
    return json.dumps([exp_type, cols, extra], default=str, sort_keys=True)


def run_connect_suite(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    settings: Settings | None = None,
    bbox: BngBox | None = None,
    offence_codes: list[str] | None = None,
    drop: DropInfo | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    suite: dict | None = None,
) -> SuiteResult:
    """Validate the latest applied drop of ``raw.connect_<table>`` against its suite.

    With no drop applied yet (or no raw table), returns a result whose
    row-count expectation fails, so a blocking check says "nothing loaded".
    """
    suite = suite or load_suite_json(table)
    drop = drop or latest_drop(con, table)
    bbox = bbox or force_area_bbox(settings)
    offence_codes = offence_codes if offence_codes is not None else known_offence_codes()
    if drop is None:
        df, total, note = pd.DataFrame(), 0, "no drop has been applied"
        drop_for_params = DropInfo("none", date.today(), "full")
    else:
        df, total, note = read_drop_rows(con, table, suite_columns(suite), drop.drop_id, max_rows=max_rows)
        drop_for_params = drop
    return validate_dataframe(
        df,
        suite,
        suite_parameters(drop_for_params, bbox, offence_codes),
        table=table,
        key_column=TABLE_SPECS[table].key,
        drop=drop,
        rows_in_drop=total,
        sample_note=note,
    )
