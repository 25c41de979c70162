"""``wmp drops``: what the operator sees of the landing folder, and accepting a refused full drop.

    wmp drops list                               every drop: applied, refused (why), pending, skipped
    wmp drops accept 2025-06-02 --reason "..."   let a full drop refused by its volume or
                                                 expectations be applied by the next run

An acceptance names the drop *and* the manifest it was given for: if the drop
is delivered again with different files, it is validated afresh.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from wmp_pipeline.ingest.config import IngestConfig
from wmp_pipeline.ingest.drops import DropRefused, read_manifest, scan_landing
from wmp_pipeline.ingest.load import ACCEPTANCES_TABLE, RAW_SCHEMA, REFUSALS_TABLE, acceptances, ensure_schema


@dataclass(frozen=True)
class DropStatus:
    drop_id: str
    status: str  # applied | refused | accepted (applied by the next run) | pending | skipped
    detail: str = ""


def drop_statuses(con: duckdb.DuckDBPyConnection, connect_dir: Path, config: IngestConfig, today: date | None = None) -> list[DropStatus]:
    """The status of every drop folder in the landing folder and every applied drop, by name."""
    ensure_schema(con)
    scan = scan_landing(connect_dir, today or date.today(), config.future_tolerance_days)
    applied = {
        r[0]: (r[1], r[2], r[3])
        for r in con.execute(f"select drop_id, extract_type, applied_at, manifest_sha256 from {RAW_SCHEMA}.connect_drop_log").fetchall()
    }
    accepted = acceptances(con)
    out: dict[str, DropStatus] = {}
    for drop_id, (extract_type, applied_at, _) in applied.items():
        out[drop_id] = DropStatus(drop_id, "applied", f"{extract_type}, applied {applied_at:%Y-%m-%d %H:%M}")
    for name, reason in scan.refused:
        out[name] = DropStatus(name, "refused", reason)
    for name, note in scan.skipped:
        out[name] = DropStatus(name, "skipped", note)
    for path in scan.ready:
        if path.name in applied:
            continue
        try:
            sha = read_manifest(path).manifest_sha256
        except DropRefused as e:
            out[path.name] = DropStatus(path.name, "refused", e.reason)
            continue
        rows = con.execute(
            f"""select reason from {REFUSALS_TABLE} where drop_id = ? and manifest_sha256 is not distinct from ?
                order by refused_at desc limit 1""",
            [path.name, sha],
        ).fetchall()
        if (path.name, sha) in accepted:
            out[path.name] = DropStatus(path.name, "accepted", f"by operator ({accepted[(path.name, sha)]}); the next run applies it")
        elif rows:
            out[path.name] = DropStatus(path.name, "refused", rows[0][0])
        else:
            out[path.name] = DropStatus(path.name, "pending", "the next run applies it")
    return [out[k] for k in sorted(out)]


def accept_drop(con: duckdb.DuckDBPyConnection, connect_dir: Path, drop_id: str, reason: str, who: str | None = None) -> str:
    """Record the operator's acceptance of a full drop refused by validation. Returns a message.

    Raises ValueError (with what to do instead) when the drop cannot be accepted.
    """
    ensure_schema(con)
    if not reason.strip():
        raise ValueError("give the reason for accepting the drop: --reason \"...\"")
    named = con.execute(
        f"""select reason from {REFUSALS_TABLE} where drop_id = ? and kind in ('name', 'future')
            order by refused_at desc limit 1""",
        [drop_id],
    ).fetchall()
    if named:
        raise ValueError(
            f"drop {drop_id} was refused because {named[0][0]}: a misnamed or future-dated folder cannot be accepted; "
            "rename it to its real extract date (or remove it)"
        )
    path = connect_dir / drop_id
    if not (path / "manifest.json").exists():
        raise ValueError(f"no drop {drop_id} with a manifest in {connect_dir}")
    drop = read_manifest(path)
    if con.execute(f"select count(*) from {RAW_SCHEMA}.connect_drop_log where drop_id = ?", [drop_id]).fetchall()[0][0]:
        raise ValueError(f"drop {drop_id} is already applied")
    rows = con.execute(
        f"""select kind, reason from {REFUSALS_TABLE} where drop_id = ? and manifest_sha256 = ?
            order by refused_at desc limit 1""",
        [drop_id, drop.manifest_sha256],
    ).fetchall()
    if not rows:
        raise ValueError(f"drop {drop_id} (this manifest) has not been refused: there is nothing to accept")
    kind, refusal = rows[0]
    if kind != "validation":
        raise ValueError(
            f"drop {drop_id} was refused because {refusal}: only a full drop refused by its volume or expectations can be "
            "accepted; this one must be re-delivered corrected (or removed from the landing folder)"
        )
    con.execute(
        f"insert into {ACCEPTANCES_TABLE} values (?, ?, ?, ?, ?)",
        [drop_id, drop.manifest_sha256, datetime.now().replace(microsecond=0), who or getpass.getuser(), reason.strip()],
    )
    return f"drop {drop_id} accepted (it was refused: {refusal}); the next `wmp run` applies it"


def main(argv: list[str] | None = None) -> int:
    from wmp_pipeline import warehouse
    from wmp_pipeline.defs.ingest.resources import ingest_config
    from wmp_pipeline.settings import get_settings

    parser = argparse.ArgumentParser(prog="wmp drops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="every drop: applied, refused (why), accepted, pending, skipped")
    ls.add_argument("--json", action="store_true", help="print JSON")
    acc = sub.add_parser("accept", help="let a full drop refused by its volume or expectations be applied by the next run")
    acc.add_argument("drop_id", help="the drop folder name, e.g. 2025-06-02")
    acc.add_argument("--reason", required=True, help="why the drop is right (kept with the acceptance)")
    args = parser.parse_args(argv)
    settings = get_settings()
    config = ingest_config(dict(os.environ))
    with warehouse.connect(settings.duckdb_path) as con:
        if args.action == "list":
            statuses = drop_statuses(con, settings.connect_dir, config)
            if args.json:
                print(json.dumps([s.__dict__ for s in statuses], indent=2))
            elif not statuses:
                print(f"no drops in {settings.connect_dir} and none applied")
            for s in [] if args.json else statuses:
                print(f"{s.drop_id:<12} {s.status:<9} {s.detail}")
            return 0
        try:
            print(accept_drop(con, settings.connect_dir, args.drop_id, args.reason))
        except ValueError as e:
            print(f"wmp drops accept: {e}", file=sys.stderr)
            return 2
    return 0
