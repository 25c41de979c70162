"""Reading one drop file into chunks of text columns, keeping every row.

Every delivered row comes out with its 1-based data-row number and either its
fields or the reason it cannot be read as a row (wrong number of fields,
invalid UTF-8, an oversized field). Problems that make the whole file
unreadable (no header, missing columns, a wrong delimiter, a truncated or
corrupt gzip, an unreadable parquet file) raise :class:`FileRefused`, which the
loader turns into a refusal of the drop.

Values stay text here; typing and the contract's rules are applied in SQL by
:mod:`wmp_pipeline.ingest.validate`, so that a bad value quarantines its row
instead of failing the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from wmp_pipeline.contract import Table

#: Longest value accepted in one field; a longer one quarantines its row.
MAX_FIELD_CHARS = 10_000
CHUNK_ROWS = 200_000

csv.field_size_limit(sys.maxsize)


class FileRefused(Exception):
    def __init__(self, file_name: str, reason: str):
        self.file_name = file_name
        self.reason = reason
        super().__init__(f"file {file_name}: {reason}")


@dataclass
class Chunk:
    """Rows of one file: ``good`` holds text columns + ``_row_number``; ``bad`` the unreadable rows."""

    good: pa.Table
    bad: list[tuple[int, str, str, str | None]] = field(default_factory=list)  # (row_number, reason, raw text, key)


@dataclass
class HeaderReport:
    columns: list[str]
    extra_columns: list[str]


def _open_text(path: Path, fmt: str) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if fmt == "csv.gz" else open(path, "rb")
    # surrogateescape keeps undecodable bytes so each bad row can be quarantined with its bytes
    return io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")


def _check_header(file_name: str, header: list[str] | None, spec: Table) -> HeaderReport:
    if header is None:
        raise FileRefused(file_name, "is empty: no header row (a file with no records must still have the header)")
    header = [h.strip().lstrip("\ufeff") for h in header]
    expected = spec.column_names
    if len(header) == 1 and any(d in header[0] for d in (";", "\t", "|")):
        delim = next(d for d in (";", "\t", "|") if d in header[0])
        raise FileRefused(file_name, f"header is not comma separated (it looks {delim!r}-separated): {header[0][:120]!r}")
    missing = [c for c in expected if c not in header]
    if missing:
        raise FileRefused(file_name, f"missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise FileRefused(file_name, f"column(s) named twice in the header: {', '.join(dupes)}")
    return HeaderReport(columns=header, extra_columns=[h for h in header if h not in expected])


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _row_problem(fields: list[str], n_expected: int, header: list[str]) -> str | None:
    if len(fields) != n_expected:
        return f"has {len(fields)} fields, the header has {n_expected}"
    for name, value in zip(header, fields):
        if len(value) > MAX_FIELD_CHARS:
            return f"field {name} is {len(value):,} characters long (limit {MAX_FIELD_CHARS:,})"
        if _has_surrogates(value):
            return f"field {name} holds bytes that are not valid UTF-8"
    return None


#: Any surrogate code point: what ``surrogateescape`` makes of bytes that are not UTF-8
#: (a string holds one exactly when it cannot be encoded as UTF-8, see _has_surrogates).
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Joins a row's fields so that a chunk reaches Arrow as one string per row, split there.
_SEP = "\x1f"


def _suspect(line: str) -> bool:
    """True when a row (its fields joined) may break a field rule: too long, or non-UTF-8 bytes.

    A row whose joined text is at most MAX_FIELD_CHARS long and holds no
    surrogate has neither problem, so only suspects need _row_problem.
    """
    return len(line) > MAX_FIELD_CHARS or _SURROGATE.search(line) is not None


def _to_table(columns: list[str], indices: list[int], rows: list[list[str]], lines: list[str], row_numbers: list[int]) -> pa.Table:
    """Column ``columns[k]`` from field ``indices[k]`` of each row, as text; empty fields are NULL.

    ``lines`` are the rows joined with _SEP: converting one string per row and
    splitting it in Arrow is several times cheaper than converting every field.
    When a field holds _SEP itself, the fields are converted one by one.
    """
    n_fields = len(rows[0]) if rows else 0
    values: list[pa.Array]
    if not rows:
        values = [pa.array([], type=pa.string()) for _ in indices]
    else:
        parts = pc.split_pattern(pa.array(lines, type=pa.string()), _SEP)
        if pc.sum(pc.list_value_length(parts)).as_py() == n_fields * len(rows):
            values = [pc.list_element(parts, i) for i in indices]
        else:
            transposed = list(zip(*rows))
            values = [pa.array(transposed[i], type=pa.string()) for i in indices]
    null = pa.scalar(None, type=pa.string())
    cols = {name: pc.if_else(pc.equal(v, ""), null, v) for name, v in zip(columns, values)}
    cols["_row_number"] = pa.array(row_numbers, type=pa.int64())
    return pa.table(cols)


def read_csv_chunks(path: Path, fmt: str, spec: Table, file_name: str) -> tuple[HeaderReport, Iterator[Chunk]]:
    """Header check now; rows lazily, in chunks. Truncated/corrupt gzip raises FileRefused."""
    text = _open_text(path, fmt)
    reader = csv.reader(text, delimiter=",", quotechar='"', doublequote=True, strict=False)
    try:
        header = next(reader, None)
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as e:
        text.close()
        raise FileRefused(file_name, f"cannot be read as {fmt} ({e})") from None
    try:
        report = _check_header(file_name, header, spec)
    except FileRefused:
        text.close()
        raise
    wanted = spec.column_names
    idx = [report.columns.index(c) for c in wanted]
    key_idx = report.columns.index(spec.key)
    n_header = len(report.columns)

    def bad_row(fields: list[str], row_number: int, problem: str) -> tuple[int, str, str, str | None]:
        raw = ",".join(fields).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        key = fields[key_idx] if key_idx < len(fields) and not _has_surrogates(fields[key_idx]) else None
        return (row_number, problem, raw[:2000], key)

    def chunk(rows: list[list[str]], numbers: list[int], bad: list[tuple[int, str, str, str | None]]) -> Chunk:
        # Rows with the right number of fields: the field checks run on the few
        # whose joined text is suspect (see _suspect), not on every field.
        lines = list(map(_SEP.join, rows))
        if max(map(len, lines), default=0) > MAX_FIELD_CHARS or any(map(_SURROGATE.search, lines)):
            kept_rows, kept_lines, kept_numbers = [], [], []
            for fields, line, number in zip(rows, lines, numbers):
                problem = _row_problem(fields, n_header, report.columns) if _suspect(line) else None
                if problem:
                    bad.append(bad_row(fields, number, problem))
                else:
                    kept_rows.append(fields)
                    kept_lines.append(line)
                    kept_numbers.append(number)
            rows, lines, numbers = kept_rows, kept_lines, kept_numbers
            bad.sort(key=lambda b: b[0])
        return Chunk(_to_table(wanted, idx, rows, lines, numbers), bad)

    def add_rows(batch: list[list[str]], row_number: int, rows: list, numbers: list[int], bad: list) -> int:
        """Row by row: blank lines skipped, rows with the wrong number of fields quarantined."""
        for fields in batch:
            if not fields:  # a blank line is not a row
                continue
            row_number += 1
            if len(fields) != n_header:
                bad.append(bad_row(fields, row_number, f"has {len(fields)} fields, the header has {n_header}"))
            else:
                rows.append(fields)
                numbers.append(row_number)
        return row_number

    def chunks() -> Iterator[Chunk]:
        rows: list[list[str]] = []
        numbers: list[int] = []
        bad: list[tuple[int, str, str, str | None]] = []
        row_number = 0
        batch: list[list[str]] = []
        try:
            while True:
                # Read up to the chunk's size at C speed. list.extend keeps the rows
                # read before an error, so the row number in a refusal stays exact.
                batch = []
                batch.extend(islice(reader, CHUNK_ROWS - len(rows) - len(bad)))
                if not batch:
                    break
                if list(map(len, batch)).count(n_header) == len(batch):
                    # the usual case: no blank line, every row with the header's field count
                    numbers.extend(range(row_number + 1, row_number + len(batch) + 1))
                    row_number += len(batch)
                    rows.extend(batch)
                else:
                    row_number = add_rows(batch, row_number, rows, numbers, bad)
                batch = []
                if len(rows) + len(bad) >= CHUNK_ROWS:
                    yield chunk(rows, numbers, bad)
                    rows, numbers, bad = [], [], []
        except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as e:
            row_number += sum(1 for fields in batch if fields)
            raise FileRefused(file_name, f"is truncated or corrupt after data row {row_number} ({e})") from None
        except csv.Error as e:
            row_number += sum(1 for fields in batch if fields)
            raise FileRefused(file_name, f"is not valid CSV near data row {row_number + 1} ({e})") from None
        finally:
            text.close()
        if rows or bad or row_number == 0:
            yield chunk(rows, numbers, bad)

    return report, chunks()


def read_parquet_chunks(path: Path, spec: Table, file_name: str) -> tuple[HeaderReport, Iterator[Chunk]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise FileRefused(file_name, f"cannot be read as parquet ({e})") from None
    report = _check_header(file_name, pf.schema_arrow.names, spec)
    wanted = spec.column_names

    def as_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            return col.cast(pa.string())
        if pa.types.is_timestamp(col.type):
            return pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
        return col.cast(pa.string())

    def chunks() -> Iterator[Chunk]:
        offset = 0
        try:
            for batch in pf.iter_batches(batch_size=CHUNK_ROWS, columns=wanted):
                cols = {name: as_text(batch.column(name)) for name in wanted}
                cols["_row_number"] = pa.array(range(offset + 1, offset + batch.num_rows + 1), type=pa.int64())
                offset += batch.num_rows
                yield Chunk(pa.table(cols))
        except Exception as e:
            raise FileRefused(file_name, f"is corrupt after data row {offset} ({e})") from None
        if offset == 0:
            yield Chunk(pa.table({**{n: pa.array([], pa.string()) for n in wanted}, "_row_number": pa.array([], pa.int64())}))

    return report, chunks()


def read_chunks(path: Path, fmt: str, spec: Table, file_name: str) -> tuple[HeaderReport, Iterator[Chunk]]:
    if fmt == "parquet":
        return read_parquet_chunks(path, spec, file_name)
    return read_csv_chunks(path, fmt, spec, file_name)
