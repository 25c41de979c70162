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
# A decimal integer literal only: no fraction, exponent, hex or thousands separator.
_INT_PATTERN = r"^\s*[+-]?\d{1,18}\s*$"


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
        return f"CASE WHEN regexp_full_match({c}, {_lit(_INT_PATTERN)}) THEN TRY_CAST(trim({c}) AS INTEGER) END"
    return c


def key_columns(spec: Table) -> list[str]:
    """Identifier columns: the table's key and the keys it refers to. Their values are stripped of
    surrounding whitespace, so ``'C1 '`` and ``'C1'`` are one record."""
    return [spec.key, *spec.references]


def problem_exprs(col: Column, typed: str | None = None) -> list[str]:
    """SQL expressions, each a reason text when the rule is broken, else NULL.

    ``typed`` names a column already holding ``typed_expr(col)``, so the
    conversion is not computed a second time.
    """
    c = _q(col.name)
    out: list[str] = [
        f"CASE WHEN strpos({c}, chr(0)) > 0 THEN {_lit(col.name + ': holds a NUL byte')} END",
    ]
    if not col.nullable:
        out.append(f"CASE WHEN {c} IS NULL OR trim({c}) = '' THEN {_lit(col.name + ': empty, but required')} END")
    if col.type != "string":
        what = {"date": "a date YYYY-MM-DD", "timestamp": "an ISO 8601 timestamp", "integer": "an integer"}[col.type]
        out.append(
            f"CASE WHEN {c} IS NOT NULL AND ({typed or typed_expr(col)}) IS NULL "
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


def _typed_name(col: Column) -> str:
    return _q("_typed_" + col.name)


def validation_sql(spec: Table, source: str) -> str:
    """A query over ``source`` (text columns + _row_number) giving typed columns and ``_problems``.

    ``_problems`` is NULL for a valid row, else the reasons joined by ``'; '``.
    Duplicate keys inside the file are reported on the second and later copies.
    Each text value is converted once (``typed``), and ``_raw_record`` (the
    delivered text as JSON) is only built for rows with a problem: it is
    only kept for quarantined rows.
    """
    converted = [c for c in spec.columns if c.type != "string"]
    problems = [p for col in spec.columns for p in problem_exprs(col, _typed_name(col) if col.type != "string" else None)]
    key = _q(spec.key)
    # a later copy of a key: its row comes after the key's first row (row numbers are unique in a file)
    problems.append(
        f"CASE WHEN {key} IS NOT NULL AND _row_number > _key_first_row THEN "
        f"{_lit(spec.key + ' ')} || left({key}, 40) || ' is duplicated in the file (first at row ' || _key_first_row || ')' END"
    )
    conversions = "".join(f",\n    {typed_expr(c)} AS {_typed_name(c)}" for c in converted)
    typed = ",\n  ".join(f"{_typed_name(c) if c.type != 'string' else _q(c.name)} AS {_q(c.name)}" for c in spec.columns)
    problem_list = ",\n      ".join(problems)
    raw_record = f"to_json(struct_pack({', '.join(f'{_q(c)} := {_q(c)}' for c in spec.column_names)}))::VARCHAR"
    stripped = ", ".join(
        f"nullif(regexp_replace({_q(k)}, '^\\s+|\\s+$', '', 'g'), '') AS {_q(k)}" for k in key_columns(spec)
    )
    return f"""
with stripped as (
  -- identifiers without surrounding whitespace: 'C1 ' and 'C1' are the same record
  select * replace ({stripped}) from {source}
),
repeated_keys as (
  -- keys delivered more than once in the file, with their first row (few; a join, not a window over every row)
  select {key} as _repeated_key, min(_row_number) as _key_first_row
  from stripped
  where {key} is not null
  group by {key}
  having count(*) > 1
),
keyed as (
  select s.*,
    r._key_first_row{conversions}
  from stripped as s
  left join repeated_keys as r on s.{key} = r._repeated_key
),
checked as (
  select *,
    nullif(concat_ws('; ',
      {problem_list}), '') as _problems
  from keyed
)
select
  {typed},
  _row_number,
  _problems,
  CASE WHEN _problems IS NOT NULL THEN {raw_record} END as _raw_record,
  {key} as _record_key
from checked
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


