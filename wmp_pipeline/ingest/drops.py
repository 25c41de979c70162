"""Finding CONNECT drops in the landing folder and verifying their manifests.

A drop is ``<landing>/connect/<extract_date>/`` with ``manifest.json`` and one
file per table. Verification happens before anything is loaded: a drop whose
manifest is malformed, names a missing file, or whose row counts or checksums
do not match its files is refused with a :class:`DropRefused` that names the
drop and the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from wmp_pipeline.contract import CONTRACT_VERSION, DROP_DIR_PATTERN, EXTRACT_TYPES, FILE_EXTENSIONS, TABLES


class DropRefused(Exception):
    """A drop that breaks the contract; nothing of it is loaded."""

    def __init__(self, drop_id: str, reason: str, kind: str = "contract"):
        self.drop_id = drop_id
        self.reason = reason
        #: name | future | contract | state | validation (see wmp_pipeline.ingest.load.REFUSAL_KINDS)
        self.kind = kind
        super().__init__(f"CONNECT drop {drop_id} refused: {reason}")


@dataclass(frozen=True)
class DropFile:
    table: str
    name: str
    path: Path
    fmt: str  # csv | csv.gz | parquet
    manifest_rows: int
    manifest_sha256: str


@dataclass(frozen=True)
class Drop:
    drop_id: str
    path: Path
    extract_date: date
    extract_type: str
    covers_from: date | None
    files: dict[str, DropFile]
    manifest: dict
    manifest_sha256: str


@dataclass
class LandingScan:
    """What the landing folder holds, before any drop is read.

    ``ready``: dated drop folders with their manifest, oldest first.
    ``refused``: (name, reason) for folders that can never be applied as they are
    (the name is not a real date, or the date is in the future).
    ``skipped``: (name, note) for folders not ready yet (empty, or files but no
    manifest: the feed writes the manifest last) and stray files.
    """

    ready: list[Path] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def scan_landing(connect_dir: Path, today: date, future_tolerance_days: int) -> LandingScan:
    """Sort every entry of ``<landing>/connect`` into ready, refused and skipped (see :class:`LandingScan`)."""
    scan = LandingScan()
    if not connect_dir.exists():
        return scan
    latest_allowed = today + timedelta(days=future_tolerance_days)
    for p in sorted(connect_dir.iterdir()):
        name = p.name
        if name.startswith("."):
            continue
        if not p.is_dir():
            scan.skipped.append((name, "is a file, not a drop folder"))
            continue
        try:
            extract_date = date.fromisoformat(name) if DROP_DIR_PATTERN.match(name) else None
        except ValueError as e:
            scan.refused.append((name, f"folder name {name!r} is not a real date ({e}); rename it to its YYYY-MM-DD extract date"))
            continue
        if extract_date is None:
            scan.refused.append((name, f"folder name {name!r} is not a YYYY-MM-DD extract date"))
            continue
        if extract_date > latest_allowed:
            scan.refused.append(
                (
                    name,
                    f"is dated {extract_date}, after today ({today}) plus the {future_tolerance_days}-day tolerance: "
                    "a future-dated drop is never applied",
                )
            )
            continue
        if not (p / "manifest.json").exists():
            entries = [c.name for c in p.iterdir() if not c.name.startswith(".")]
            if entries:
                scan.skipped.append((name, f"has {len(entries)} file(s) but no manifest.json yet (still being written)"))
            else:
                scan.skipped.append((name, "is empty"))
            continue
        scan.ready.append(p)
    scan.ready.sort(key=lambda p: p.name)
    return scan


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _parse_date(drop_id: str, field: str, value) -> date:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise DropRefused(drop_id, f"manifest.json field {field!r} is not a YYYY-MM-DD date: {value!r}") from None


def _file_format(name: str) -> str | None:
    for ext in sorted(FILE_EXTENSIONS, key=len, reverse=True):
        if name.endswith("." + ext):
            return ext
    return None


def read_manifest(drop_dir: Path) -> Drop:
    """Parse and structurally check ``manifest.json`` (no file contents read yet)."""
    drop_id = drop_dir.name
    manifest_path = drop_dir / "manifest.json"
    if not manifest_path.exists():
        raise DropRefused(drop_id, f"manifest.json is missing from {drop_dir}")
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DropRefused(drop_id, f"manifest.json is not valid UTF-8 JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise DropRefused(drop_id, "manifest.json must hold a JSON object")
    for field in ("contract_version", "extract_date", "extract_type", "files"):
        if field not in manifest:
            raise DropRefused(drop_id, f"manifest.json has no {field!r} field")
    if manifest["contract_version"] != CONTRACT_VERSION:
        raise DropRefused(
            drop_id,
            f"contract_version {manifest['contract_version']!r} is not supported (this pipeline reads version {CONTRACT_VERSION})",
        )
    extract_date = _parse_date(drop_id, "extract_date", manifest["extract_date"])
    if extract_date.isoformat() != drop_id:
        raise DropRefused(drop_id, f"manifest extract_date {extract_date} does not match the drop folder name {drop_id}")
    if manifest["extract_type"] not in EXTRACT_TYPES:
        raise DropRefused(drop_id, f"extract_type {manifest['extract_type']!r} is not one of {EXTRACT_TYPES}")
    covers_from = None
    if manifest.get("covers_from") is not None:
        covers_from = _parse_date(drop_id, "covers_from", manifest["covers_from"])
    elif manifest["extract_type"] == "full":
        raise DropRefused(drop_id, "a full extract must give covers_from")
    files_meta = manifest["files"]
    if not isinstance(files_meta, dict):
        raise DropRefused(drop_id, "manifest 'files' must be an object of file name -> {rows, sha256}")
    files: dict[str, DropFile] = {}
    for name, meta in files_meta.items():
        fmt = _file_format(name)
        table = name[: -(len(fmt) + 1)] if fmt else None
        if fmt is None or table not in TABLES:
            raise DropRefused(drop_id, f"manifest names an unexpected file {name!r} (expected <table>.<csv|csv.gz|parquet> for {', '.join(TABLES)})")
        if table in files:
            raise DropRefused(drop_id, f"manifest names two files for table {table!r}: {files[table].name} and {name}")
        if not isinstance(meta, dict) or not isinstance(meta.get("rows"), int) or not isinstance(meta.get("sha256"), str):
            raise DropRefused(drop_id, f"manifest entry for {name} must be {{'rows': <int>, 'sha256': <hex>}}")
        files[table] = DropFile(table, name, drop_dir / name, fmt, meta["rows"], meta["sha256"].lower())
    missing_tables = [t for t in TABLES if t not in files]
    if missing_tables:
        raise DropRefused(drop_id, f"manifest lists no file for table(s) {', '.join(missing_tables)}")
    return Drop(
        drop_id=drop_id,
        path=drop_dir,
        extract_date=extract_date,
        extract_type=manifest["extract_type"],
        covers_from=covers_from,
        files=files,
        manifest=manifest,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
    )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def verify_files(drop: Drop, landing_root: Path | None = None) -> None:
    """Every file present, inside the landing folder, with the manifest's checksum.

    ``landing_root`` (default: the drop folder's grandparent, ``<landing>``):
    a file, or the manifest, that is a symlink resolving outside it is refused.
    Row counts are checked while reading.
    """
    root = (landing_root or drop.path.parent.parent).resolve()
    for path in [drop.path, drop.path / "manifest.json", *(f.path for f in drop.files.values())]:
        if (path.is_symlink() or path == drop.path) and path.exists() and not _inside(path, root):
            raise DropRefused(
                drop.drop_id,
                f"{path.name} is a symlink to {path.resolve()}, outside the landing folder {root}: drop files must be in the landing folder",
            )
    for f in drop.files.values():
        if not f.path.exists():
            raise DropRefused(drop.drop_id, f"file {f.name} named in the manifest is missing")
        actual = sha256_of(f.path)
        if actual != f.manifest_sha256:
            raise DropRefused(
                drop.drop_id,
                f"file {f.name}: sha256 {actual[:12]}… does not match the manifest's {f.manifest_sha256[:12]}…",
            )


def ready_drop_dirs(connect_dir: Path, future_tolerance_days: int | None = None, today: date | None = None) -> list[Path]:
    """Drop folders that can be applied now (a real date, not in the future, manifest landed), oldest first.

    What picks the week to run (``wmp run``, the sensor) uses this, so a
    future-dated or misnamed folder never becomes "the newest drop".
    """
    if future_tolerance_days is None:
        from wmp_pipeline.ingest.config import IngestConfig

        future_tolerance_days = IngestConfig().future_tolerance_days
    return scan_landing(connect_dir, today or date.today(), future_tolerance_days).ready
