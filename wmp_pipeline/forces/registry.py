"""The force registry file: one TOML file listing every force the pipeline serves.

Shape (``schema_version = 1``; docs/forces.md describes every key)::

    schema_version = 1
    default_force = "south-yorkshire"      # the force of `wmp run` without --force

    [[force]]
    slug = "south-yorkshire"               # a-z, 0-9 and '-'; the partition key
    name = "South Yorkshire Police"
    source = "policeuk"                    # or "connect"
    landing = "/srv/police-uk/south-yorkshire"   # police.uk folder / CONNECT landing folder
    boundary = ""                          # optional GeoJSON of the force's LSOAs
    time_zone = "Europe/London"
    data_folder = ""                       # default: <WMP_DATA_DIR>/forces/<slug>
    pseudonym_key_env = ""                 # optional: env var with this force's own key
    [force.cell_size_m]
    default = 250
    [force.overrides.hotspot]              # fields of HotspotConfig
    backtest_periods = 6

The file is validated when it is read: an unknown key, a wrong type, a
duplicate slug, a missing folder setting or a time zone the week calendar
does not use is refused with the file and the force named. Relative paths
are relative to the registry file's folder. Without a file
(``WMP_FORCES_FILE`` unset) the embedded ``default.toml`` holds one
synthetic CONNECT force: the Quick start.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Environment variable naming a registry file (``wmp run --forces FILE`` sets it).
FORCES_FILE_ENV = "WMP_FORCES_FILE"
SCHEMA_VERSION = 1
EMBEDDED_REGISTRY = Path(__file__).with_name("default.toml")
SOURCES = ("connect", "policeuk")
#: The week calendar (partitions, schedule) is Europe/London for every force.
WEEK_TIME_ZONE = "Europe/London"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: What a force's cell sizes may name: the default and the targets of either source.
CELL_SIZE_KEYS = (
    "default",
    "knife_injury",
    "serious_violence",
    "violence_and_sexual_offences",
    "robbery",
    "possession_of_weapons",
    "serious_violence_proxy",
)

_TOP_KEYS = {"schema_version", "default_force", "force"}
_FORCE_KEYS = {
    "slug", "name", "source", "landing", "policeuk_slug", "boundary", "time_zone",
    "data_folder", "pseudonym_key_env", "cell_size_m", "overrides",
}


class RegistryError(ValueError):
    """The registry file cannot be used; the message names the file and what is wrong."""


class UnknownForce(KeyError):
    """A force slug that is not in the registry; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its argument; this is a sentence
        return str(self.args[0])


def _override_fields() -> dict[str, set[str]]:
    from wmp_pipeline.hotspot.config import HotspotConfig
    from wmp_pipeline.iom.config import IomConfig

    return {
        "hotspot": {f.name for f in dataclasses.fields(HotspotConfig)},
        "iom": {f.name for f in dataclasses.fields(IomConfig)},
    }


def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class Force:
    """One force of the registry."""

    slug: str
    name: str
    source: str
    #: CONNECT landing folder (holding ``connect/<date>/``) or police.uk folder; None = the
    #: force's own ``landing/`` (CONNECT only)
    landing: Path | None = None
    #: the force's slug in police.uk file names (``2024-01-<slug>-street.csv``)
    policeuk_slug: str | None = None
    boundary: Path | None = None
    time_zone: str = WEEK_TIME_ZONE
    #: "." = the data folder itself; None = ``<data>/forces/<slug>``; else relative to the data folder or absolute
    data_folder: str | None = None
    pseudonym_key_env: str | None = None
    cell_size_m: dict[str, int] = field(default_factory=lambda: {"default": 250})
    overrides: dict[str, dict] = field(default_factory=dict)

    @property
    def is_policeuk(self) -> bool:
        return self.source == "policeuk"

    @property
    def grid_cell_size_m(self) -> int:
        """The size of the force's hotspot grid (one grid serves every target)."""
        return int(self.cell_size_m["default"])

    def overrides_for(self, area: str) -> dict:
        return dict(self.overrides.get(area, {}))

    def apply_overrides(self, area: str, config):
        """``config`` (a frozen domain dataclass) with this force's overrides for ``area``."""
        changes = self.overrides_for(area)
        return dataclasses.replace(config, **changes) if changes else config


@dataclass(frozen=True)
class ForceRegistry:
    forces: tuple[Force, ...]
    default_force: str
    path: Path
    schema_version: int = SCHEMA_VERSION

    @property
    def slugs(self) -> list[str]:
        return [f.slug for f in self.forces]

    @property
    def embedded(self) -> bool:
        return self.path == EMBEDDED_REGISTRY

    def get(self, slug: str | None = None) -> Force:
        """The force ``slug`` (the default force for None); unknown slugs raise :class:`UnknownForce`."""
        slug = self.default_force if slug is None else slug
        for f in self.forces:
            if f.slug == slug:
                return f
        raise UnknownForce(
            f"unknown force '{slug}'{_suggest(slug, self.slugs)}: the registry {self.path} lists "
            + ", ".join(self.slugs)
        )

    def select(self, spec: str | None) -> list[Force]:
        """``None`` → the default force; ``"all"`` → every force; else a comma-separated list of slugs."""
        if spec is None:
            return [self.get()]
        if spec.strip() == "all":
            return list(self.forces)
        return [self.get(s.strip()) for s in spec.split(",") if s.strip()]


def _path(value, base: Path, where: str) -> Path | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RegistryError(f"{where}: expected a path string, got {value!r}")
    p = Path(os.path.expandvars(value)).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def _force(raw: dict, base: Path, file: Path, index: int) -> Force:
    where = f"{file}: force #{index + 1}"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: each [[force]] must be a table")
    slug = raw.get("slug")
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise RegistryError(f"{where}: slug {slug!r} must be lower-case letters, digits and '-' (e.g. 'south-yorkshire')")
    where = f"{file}: force '{slug}'"
    for key in raw:
        if key not in _FORCE_KEYS:
            raise RegistryError(f"{where}: unknown key '{key}'{_suggest(key, _FORCE_KEYS)}")
    name = raw.get("name", slug)
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"{where}: name must be a non-empty string")
    source = raw.get("source")
    if source not in SOURCES:
        raise RegistryError(f"{where}: source must be one of {', '.join(SOURCES)}, got {source!r}{_suggest(str(source), SOURCES)}")
    landing = _path(raw.get("landing"), base, f"{where}: landing")
    if source == "policeuk" and landing is None:
        raise RegistryError(f"{where}: a police.uk force needs 'landing', the folder of its police.uk street-level files")
    tz = raw.get("time_zone", WEEK_TIME_ZONE)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise RegistryError(f"{where}: time_zone {tz!r} is not an IANA time zone") from None
    if tz != WEEK_TIME_ZONE:
        raise RegistryError(
            f"{where}: time_zone {tz!r}: the week calendar every force shares (partitions, Monday schedule) "
            f"is {WEEK_TIME_ZONE}; a force in another zone needs its own code location"
        )
    cells = raw.get("cell_size_m", {"default": 250})
    if isinstance(cells, int):
        cells = {"default": cells}
    if not isinstance(cells, dict):
        raise RegistryError(f"{where}: cell_size_m must be a number or a table of target = metres")
    cells = {"default": 250, **cells}
    for key, size in cells.items():
        if key not in CELL_SIZE_KEYS:
            raise RegistryError(f"{where}: cell_size_m.{key}: not a target{_suggest(key, CELL_SIZE_KEYS)}; known: {', '.join(CELL_SIZE_KEYS)}")
        if not isinstance(size, int) or isinstance(size, bool) or not 25 <= size <= 5000:
            raise RegistryError(f"{where}: cell_size_m.{key} = {size!r}: give whole metres between 25 and 5000")
        if size != cells["default"]:
            raise RegistryError(
                f"{where}: cell_size_m.{key} = {size} differs from default = {cells['default']}: the hotspot "
                "engine builds one grid per force, shared by its targets, so a target size must equal the grid's"
            )
    overrides = raw.get("overrides", {})
    if not isinstance(overrides, dict):
        raise RegistryError(f"{where}: overrides must be a table of [force.overrides.<area>]")
    allowed = _override_fields()
    for area, values in overrides.items():
        if area not in allowed:
            raise RegistryError(f"{where}: overrides.{area}: unknown area{_suggest(area, allowed)}; known: {', '.join(allowed)}")
        if not isinstance(values, dict):
            raise RegistryError(f"{where}: overrides.{area} must be a table")
        for key, value in values.items():
            if key not in allowed[area]:
                raise RegistryError(f"{where}: overrides.{area}.{key}: not a setting of {area}{_suggest(key, allowed[area])}")
            if not isinstance(value, (int, float, str, bool)):
                raise RegistryError(f"{where}: overrides.{area}.{key}: only numbers, strings and booleans can be overridden")
    data_folder = raw.get("data_folder") or None
    if data_folder is not None and not isinstance(data_folder, str):
        raise RegistryError(f"{where}: data_folder must be a path string")
    key_env = raw.get("pseudonym_key_env") or None
    if key_env is not None and not re.match(r"^[A-Z_][A-Z0-9_]*$", str(key_env)):
        raise RegistryError(f"{where}: pseudonym_key_env must name an environment variable (A-Z, 0-9, _)")
    policeuk_slug = raw.get("policeuk_slug") or (slug if source == "policeuk" else None)
    return Force(
        slug=slug,
        name=name.strip(),
        source=source,
        landing=landing,
        policeuk_slug=policeuk_slug,
        boundary=_path(raw.get("boundary"), base, f"{where}: boundary"),
        time_zone=tz,
        data_folder=data_folder,
        pseudonym_key_env=key_env,
        cell_size_m={k: int(v) for k, v in cells.items()},
        overrides={a: dict(v) for a, v in overrides.items()},
    )


def load_registry(path: Path | str | None = None) -> ForceRegistry:
    """Read and validate a registry file (the embedded one for None)."""
    file = Path(path).expanduser().resolve() if path else EMBEDDED_REGISTRY
    if not file.is_file():
        raise RegistryError(f"force registry {file} does not exist (set {FORCES_FILE_ENV} or --forces to a TOML file)")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"force registry {file} is not valid TOML: {exc}") from None
    for key in raw:
        if key not in _TOP_KEYS:
            raise RegistryError(f"{file}: unknown top-level key '{key}'{_suggest(key, _TOP_KEYS)}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RegistryError(f"{file}: schema_version = {version!r}; this pipeline reads schema_version = {SCHEMA_VERSION}")
    entries = raw.get("force")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{file}: no [[force]] entries")
    forces = tuple(_force(e, file.parent, file, i) for i, e in enumerate(entries))
    seen: set[str] = set()
    for f in forces:
        if f.slug in seen:
            raise RegistryError(f"{file}: force '{f.slug}' is listed twice")
        seen.add(f.slug)
    folders = [f.data_folder for f in forces if f.data_folder == "."]
    if len(folders) > 1:
        raise RegistryError(f"{file}: only one force can use the data folder itself (data_folder = \".\")")
    default = raw.get("default_force", forces[0].slug)
    if default not in seen:
        raise RegistryError(f"{file}: default_force '{default}'{_suggest(str(default), seen)} is not a listed force ({', '.join(sorted(seen))})")
    return ForceRegistry(forces=forces, default_force=default, path=file, schema_version=version)


def registry_from_env() -> ForceRegistry:
    """The registry named by ``WMP_FORCES_FILE``, else the embedded one."""
    return load_registry(os.environ.get(FORCES_FILE_ENV) or None)
