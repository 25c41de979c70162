"""The force registry: which forces the pipeline serves, and where each one's data lives.

:mod:`wmp_pipeline.forces.registry` reads and validates the registry file
(TOML, schema-versioned); :mod:`wmp_pipeline.forces.settings` derives one
force's :class:`~wmp_pipeline.settings.Settings` (its own folders, its own
pseudonymisation key) from the registry entry. Nothing here imports Dagster.
"""

from wmp_pipeline.forces.registry import (
    FORCES_FILE_ENV,
    Force,
    ForceRegistry,
    RegistryError,
    UnknownForce,
    load_registry,
    registry_from_env,
)
from wmp_pipeline.forces.settings import ForceInputError, require_input, settings_for

__all__ = [
    "FORCES_FILE_ENV",
    "Force",
    "ForceInputError",
    "ForceRegistry",
    "RegistryError",
    "UnknownForce",
    "load_registry",
    "registry_from_env",
    "require_input",
    "settings_for",
]
