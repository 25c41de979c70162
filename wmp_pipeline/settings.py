"""Every path and tunable the pipeline reads from its environment, in one place.

All paths default to folders inside the project's ``data/`` directory so a
fresh clone runs with no configuration. Each can be overridden by an
environment variable (documented in the README):

==========================  ====================================================
``WMP_DATA_DIR``            root of everything the pipeline writes (default ``<project>/data``)
``WMP_LANDING_DIR``         landing folder holding ``connect/<extract_date>/`` drops
``WMP_GROUND_TRUTH_DIR``    generator ground truth; read only by evaluation commands
``WMP_DUCKDB_PATH``         the pipeline's working DuckDB file (single writer)
``WMP_ANALYST_DB_PATH``     the published, read-only analyst DuckDB file
``WMP_ARTIFACTS_DIR``       trained models, model cards, maps, briefings
``WMP_BOUNDARY_FILE``       optional force boundary (GeoJSON of LSOA polygons)
``WMP_PSEUDONYM_KEY``       key for pseudonymising person identifiers
``WMP_MODE``                ``development`` (default) or ``production``
==========================  ====================================================
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


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
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

    @property
    def connect_dir(self) -> Path:
        return self.landing_dir / "connect"

    @property
    def production(self) -> bool:
        return self.mode == "production"


def get_settings() -> Settings:
    """Read the settings from the environment (call it again after changing env)."""
    data_dir = _path("WMP_DATA_DIR", PROJECT_ROOT / "data")
    boundary = os.environ.get("WMP_BOUNDARY_FILE")
    return Settings(
        data_dir=data_dir,
        landing_dir=_path("WMP_LANDING_DIR", data_dir / "landing"),
        ground_truth_dir=_path("WMP_GROUND_TRUTH_DIR", data_dir / "ground_truth"),
        duckdb_path=_path("WMP_DUCKDB_PATH", data_dir / "warehouse" / "wmp.duckdb"),
        analyst_db_path=_path("WMP_ANALYST_DB_PATH", data_dir / "analyst" / "wmp_analyst.duckdb"),
        artifacts_dir=_path("WMP_ARTIFACTS_DIR", data_dir / "artifacts"),
        boundary_file=Path(boundary).expanduser().resolve() if boundary else None,
        pseudonym_key=os.environ.get("WMP_PSEUDONYM_KEY", DEVELOPMENT_PSEUDONYM_KEY),
        mode=os.environ.get("WMP_MODE", "development"),
    )
