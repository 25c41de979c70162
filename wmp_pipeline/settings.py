"""Every path and tunable the pipeline reads from its environment, in one place.

All paths default to folders inside the project's ``data/`` directory so a
fresh clone runs with no configuration. Each can be overridden by an
environment variable (documented in the README):

==========================  ====================================================
``WMP_DATA_DIR``            root of everything the pipeline writes (default ``<project>/data``)
``WMP_LANDING_DIR``         landing folder holding ``connect/<extract_date>/`` drops (default ``<data>/landing``)
``WMP_GROUND_TRUTH_DIR``    generator ground truth; read only by evaluation commands (default ``<data>/ground_truth``)
``WMP_DUCKDB_PATH``         the pipeline's working DuckDB file, single writer (default ``<data>/warehouse/wmp.duckdb``)
``WMP_ANALYST_DB_PATH``     the published, read-only analyst DuckDB file (default ``<data>/analyst/wmp_analyst.duckdb``)
``WMP_ARTIFACTS_DIR``       trained models, model cards, maps, briefings (default ``<data>/artifacts``)
``WMP_BOUNDARY_FILE``       optional force boundary (GeoJSON of LSOA polygons; default none)
``WMP_POLICEUK_DIR``        optional folder of police.uk street-level files (default none: nothing loaded)
``WMP_PSEUDONYM_KEY``       secret key for pseudonymising person identifiers (default: the development key)
``WMP_MODE``                ``development`` (default) or ``production``, in any case
``WMP_DBT_MEMORY_LIMIT``    DuckDB memory cap of the dbt build, read by ``dbt_project/profiles.yml`` (default ``3GB``)
==========================  ====================================================

The route a setting takes (one way in): the Dagster code location builds its
resources once in :func:`wmp_pipeline.defs.resources.build_resources`, each
field fed from the environment through ``dagster.EnvVar`` (so secrets never
appear as literal values in the run config), and every asset receives the
resource as a parameter and calls ``.settings()``, which comes back here
(:meth:`Settings.from_values`) to apply the defaults above. The command line
and evaluation scripts outside Dagster call :func:`get_settings`, which reads
the same variables and applies the same defaults. Nothing else reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
REFERENCE_OFFENCE_CODES = DBT_PROJECT_DIR / "seeds" / "ref_offence_codes.csv"

#: Development pseudonymisation key. Production mode refuses to run with it.
DEVELOPMENT_PSEUDONYM_KEY = "wmp-development-key-not-for-production"
#: The shortest pseudonymisation key production mode accepts.
MIN_PRODUCTION_KEY_LENGTH = 32

DEVELOPMENT = "development"
PRODUCTION = "production"
MODES = (DEVELOPMENT, PRODUCTION)

#: Settings field -> the environment variable that sets it.
ENV_VARS: dict[str, str] = {
    "data_dir": "WMP_DATA_DIR",
    "landing_dir": "WMP_LANDING_DIR",
    "ground_truth_dir": "WMP_GROUND_TRUTH_DIR",
    "duckdb_path": "WMP_DUCKDB_PATH",
    "analyst_db_path": "WMP_ANALYST_DB_PATH",
    "artifacts_dir": "WMP_ARTIFACTS_DIR",
    "boundary_file": "WMP_BOUNDARY_FILE",
    "policeuk_dir": "WMP_POLICEUK_DIR",
    "pseudonym_key": "WMP_PSEUDONYM_KEY",
    "mode": "WMP_MODE",
}


class SettingsError(ValueError):
    """A setting that cannot be used (the message names the variable and what it accepts)."""


class InsecureKeyError(SettingsError):
    """Production mode without a proper secret pseudonymisation key."""


def parse_mode(value: str | None) -> str:
    """``WMP_MODE`` as one of :data:`MODES`, compared case-insensitively; unset means development."""
    if value is None or not value.strip():
        return DEVELOPMENT
    mode = value.strip().lower()
    if mode not in MODES:
        raise SettingsError(f"WMP_MODE={value!r} is not a mode; use one of: {', '.join(MODES)} (in any case)")
    return mode


def _path(value: str | None, default: Path | None) -> Path | None:
    value = (value or "").strip()
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    landing_dir: Path
    ground_truth_dir: Path
    duckdb_path: Path
    analyst_db_path: Path
    artifacts_dir: Path
    boundary_file: Path | None
    pseudonym_key: str
    mode: str
    policeuk_dir: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", parse_mode(self.mode))

    @property
    def connect_dir(self) -> Path:
        return self.landing_dir / "connect"

    @property
    def production(self) -> bool:
        return self.mode == PRODUCTION

    @classmethod
    def from_values(cls, **raw: str | None) -> Settings:
        """Settings from raw text values by field name (as found in the environment; ``None`` or
        empty = unset), each default applied here and nowhere else."""
        unknown = set(raw) - set(ENV_VARS)
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        data_dir = _path(raw.get("data_dir"), PROJECT_ROOT / "data")
        return cls(
            data_dir=data_dir,
            landing_dir=_path(raw.get("landing_dir"), data_dir / "landing"),
            ground_truth_dir=_path(raw.get("ground_truth_dir"), data_dir / "ground_truth"),
            duckdb_path=_path(raw.get("duckdb_path"), data_dir / "warehouse" / "wmp.duckdb"),
            analyst_db_path=_path(raw.get("analyst_db_path"), data_dir / "analyst" / "wmp_analyst.duckdb"),
            artifacts_dir=_path(raw.get("artifacts_dir"), data_dir / "artifacts"),
            boundary_file=_path(raw.get("boundary_file"), None),
            policeuk_dir=_path(raw.get("policeuk_dir"), None),
            pseudonym_key=raw.get("pseudonym_key") or DEVELOPMENT_PSEUDONYM_KEY,
            mode=raw.get("mode"),
        )

    def check_startable(self) -> Settings:
        """Refuse, before any step runs, settings a run must not start with: in production a
        pseudonymisation key shorter than :data:`MIN_PRODUCTION_KEY_LENGTH` or the development key."""
        key = self.pseudonym_key
        if self.production and (key == DEVELOPMENT_PSEUDONYM_KEY or len(key) < MIN_PRODUCTION_KEY_LENGTH):
            raise InsecureKeyError(
                f"WMP_MODE=production needs WMP_PSEUDONYM_KEY set to a secret of at least {MIN_PRODUCTION_KEY_LENGTH} "
                "characters (the development default key is refused)"
            )
        return self


def environment_values() -> dict[str, str | None]:
    """The raw value of every setting's environment variable (``None`` when unset)."""
    return {name: os.environ.get(var) for name, var in ENV_VARS.items()}


def get_settings() -> Settings:
    """Read the settings from the environment (call it again after changing env)."""
    return Settings.from_values(**environment_values())


