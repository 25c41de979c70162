"""The contract's row rules as SQL: typing, nulls, allowed values, patterns, keys.

Given a DuckDB relation of text columns (one chunk of a file), these functions
build one query that types every column and collects, for each row, every
rule it breaks. Rows with no problem go to the raw table; the rest go to
quarantine with all their reasons, so one bad value never loses a row.
"""

from __future__ import annotations

from wmp_pipeline.contract import Column, Table

SQL_TYPES = {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP", "integer": "INTEGER"}

# ISO 8601 local time, optional fractional seconds and optional UTC offset.
_TS_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def typed_expr(col: Column) -> str:
    """SQL that turns the text value into the contract type (NULL when it cannot)."""
    c = _q(col.name)
    if col.type == "date":
        return f"CASE WHEN regexp_full_match({c}, {_lit(_DATE_PATTERN)}) THEN TRY_CAST({c} AS DATE) END"
    if col.type == "timestamp":
        # An offset is converted to UK local time, the contract's clock.
        return (
            f"CASE WHEN NOT regexp_full_match({c}, {_lit(_TS_PATTERN)}) THEN NULL "
            f"WHEN regexp_matches({c}, '(Z|[+-]\\d{{2}}:?\\d{{2}})$') "
            f"THEN timezone('Europe/London', TRY_CAST({c} AS TIMESTAMPTZ)) "
            f"ELSE TRY_CAST({c} AS TIMESTAMP) END"
        )
    if col.type == "integer":
        return f"TRY_CAST(trim({c}) AS INTEGER)"
    return c


def problem_exprs(col: Column) -> list[str]:
    """SQL expressions, each a reason text when the rule is broken, else NULL."""
    c = _q(col.name)
    out: list[str] = []
    if not col.nullable:
        out.append(f"CASE WHEN {c} IS NULL OR trim({c}) = '' THEN {_lit(col.name + ': empty, but required')} END")
    if col.type != "string":
        what = {"date": "a date YYYY-MM-DD", "timestamp": "an ISO 8601 timestamp", "integer": "an integer"}[col.type]
        out.append(
            f"CASE WHEN {c} IS NOT NULL AND ({typed_expr(col)}) IS NULL "
            f"THEN {_lit(col.name + ': ')} || left({c}, 40) || {_lit(' is not ' + what)} END"
        )
    if col.allowed:
        allowed = ", ".join(_lit(v) for v in col.allowed)
        out.append(
            f"CASE WHEN {c} IS NOT NULL AND {c} NOT IN ({allowed}) "
            f"THEN {_lit(col.name + ': ')} || left({c}, 40) || {_lit(' is not one of ' + '|'.join(col.allowed))} END"
        )
    if col.pattern:
        out.append(
            f"CASE WHEN {c} IS NOT NULL AND NOT regexp_full_match({c}, {_lit(col.pattern)}) "
            f"THEN {_lit(col.name + ': ')} || left({c}, 40) || {_lit(' is not well formed')} END"
        )
    return out


def validation_sql(spec: Table, source: str) -> str:
    """A query over ``source`` (text columns + _row_number) giving typed columns and ``_problems``.

    ``_problems`` is NULL for a valid row, else the reasons joined by ``'; '``.
    Duplicate keys inside the file are reported on the second and later copies.
    """
    problems = [p for col in spec.columns for p in problem_exprs(col)]
    key = _q(spec.key)
    problems.append(
        f"CASE WHEN {key} IS NOT NULL AND _key_seq > 1 THEN "
        f"{_lit(spec.key + ' ')} || left({key}, 40) || ' is duplicated in the file (first at row ' || _key_first_row || ')' END"
    )
    typed = ",\n  ".join(f"{typed_expr(c)} AS {_q(c.name)}" for c in spec.columns)
    problem_list = ",\n    ".join(problems)
    return f"""
with keyed as (
  select *,
    row_number() over (partition by {key} order by _row_number) as _key_seq,
    min(_row_number) over (partition by {key}) as _key_first_row
  from {source}
)
select
  {typed},
  _row_number,
  nullif(concat_ws('; ', {problem_list}), '') as _problems,
  to_json(struct_pack({", ".join(f"{_q(c)} := {_q(c)}" for c in spec.column_names)}))::VARCHAR as _raw_record,
  {key} as _record_key
from keyed
"""


def raw_table_ddl(spec: Table, table: str) -> str:
    cols = ",\n  ".join(f"{_q(c.name)} {SQL_TYPES[c.type]}" for c in spec.columns)
    return f"""
create table if not exists {table} (
  {cols},
  _drop_id VARCHAR NOT NULL,
  _extract_date DATE NOT NULL,
  _extract_type VARCHAR NOT NULL,
  _file_name VARCHAR NOT NULL,
  _row_number BIGINT NOT NULL,
  _loaded_at TIMESTAMP NOT NULL
)"""


