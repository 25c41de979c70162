"""The police.uk area's one setting: the folder of downloaded street-level files."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource


class PoliceUkResource(ConfigurableResource):
    """``WMP_POLICEUK_DIR`` (through ``EnvVar`` in the code location); empty = nothing to load."""

    folder: str | None = None

    def folder_path(self) -> Path | None:
        """The configured folder, or None when unset or empty."""
        value = (self.folder or "").strip()
        return Path(value).expanduser().resolve() if value else None
