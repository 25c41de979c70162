"""One force's settings: its own folders and pseudonymisation key, derived from the registry.

Every force has its own data folder, so force runs never share a DuckDB
file, a lock, a dbt target or an analyst file::

    <data>/forces/<slug>/landing/            CONNECT drops (unless the registry names a landing folder)
    <data>/forces/<slug>/warehouse/wmp.duckdb   working database (+ .lock)
    <data>/forces/<slug>/analyst/wmp_analyst.duckdb
    <data>/forces/<slug>/artifacts/          models, maps, briefings, dbt target
    <data>/forces/<slug>/ground_truth/       generator truth (synthetic forces only)

The force with ``data_folder = "."`` (the embedded Quick start force) uses
the data folder itself and every ``WMP_*`` path override, exactly as before
the registry existed.

Pseudonyms: each force's offender keys come from its own key, so the same
person in two forces' files cannot be linked in the national catalogue. The
key is the force's ``pseudonym_key_env`` variable when the registry names
one, else HMAC-SHA256(``WMP_PSEUDONYM_KEY``, ``"force:" + slug``); the
data-folder force keeps ``WMP_PSEUDONYM_KEY`` itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from pathlib import Path

from wmp_pipeline.forces.registry import Force
from wmp_pipeline.settings import DEVELOPMENT_PSEUDONYM_KEY, Settings


class ForceInputError(RuntimeError):
    """A force's input folder is missing or holds nothing to load."""


def force_data_dir(force: Force, data_dir: Path) -> Path:
    if force.data_folder == ".":
        return data_dir
    if force.data_folder:
        p = Path(force.data_folder).expanduser()
        return (p if p.is_absolute() else data_dir / p).resolve()
    return data_dir / "forces" / force.slug


def derived_pseudonym_key(master: str, slug: str) -> str:
    return hmac.new(master.encode("utf-8"), f"force:{slug}".encode("utf-8"), hashlib.sha256).hexdigest()


def settings_for(force: Force, base: Settings, environ: dict | None = None) -> Settings:
    """``base`` (the environment's settings) moved to ``force``'s own folders and key."""
    environ = os.environ if environ is None else environ
    root = force_data_dir(force, base.data_dir)
    if force.pseudonym_key_env:
        key = environ.get(force.pseudonym_key_env, "")
        if not key:
            raise ForceInputError(f"force '{force.slug}': the registry names {force.pseudonym_key_env} for its pseudonym key, but it is not set")
    elif root == base.data_dir:
        key = base.pseudonym_key
    else:
        if base.production and base.pseudonym_key == DEVELOPMENT_PSEUDONYM_KEY:
            raise ForceInputError("production mode: set WMP_PSEUDONYM_KEY (the development key is refused), forces' keys derive from it")
        key = derived_pseudonym_key(base.pseudonym_key, force.slug)
    boundary = force.boundary or (base.boundary_file if root == base.data_dir else None)
    if root == base.data_dir:
        landing = force.landing if (force.landing and not force.is_policeuk) else base.landing_dir
        return dataclasses.replace(base, landing_dir=landing, boundary_file=boundary, pseudonym_key=key)
    return dataclasses.replace(
        base,
        data_dir=root,
        landing_dir=force.landing if (force.landing and not force.is_policeuk) else root / "landing",
        ground_truth_dir=root / "ground_truth",
        duckdb_path=root / "warehouse" / "wmp.duckdb",
        analyst_db_path=root / "analyst" / "wmp_analyst.duckdb",
        artifacts_dir=root / "artifacts",
        boundary_file=boundary,
        pseudonym_key=key,
    )


def input_folder(force: Force, settings: Settings) -> Path:
    """The folder a force's run reads: its police.uk folder, or its CONNECT ``connect/`` folder."""
    return force.landing if force.is_policeuk else settings.connect_dir


def require_input(force: Force, settings: Settings) -> Path:
    """The force's input folder, or :class:`ForceInputError` naming the force and the folder."""
    folder = input_folder(force, settings)
    if not folder.is_dir():
        raise ForceInputError(f"force '{force.slug}' ({force.name}): its {force.source} folder {folder} does not exist")
    if force.is_policeuk:
        from wmp_pipeline.policeuk.files import find_street_files

        files = [f for f in find_street_files(folder) if f.force_slug == force.policeuk_slug]
        if not files:
            raise ForceInputError(
                f"force '{force.slug}' ({force.name}): its police.uk folder {folder} holds no "
                f"<YYYY-MM>-{force.policeuk_slug}-street.csv files"
            )
    elif not any(folder.glob("*/manifest.json")):
        raise ForceInputError(f"force '{force.slug}' ({force.name}): its CONNECT folder {folder} holds no drop (no <date>/manifest.json)")
    return folder
