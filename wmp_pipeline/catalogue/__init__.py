"""The national analyst catalogue: one read-only DuckDB file over every force's published outputs."""

from wmp_pipeline.catalogue.build import (
    CATALOGUE_TABLES,
    FORCES_TABLE,
    CatalogueResult,
    ForceStatus,
    build_catalogue,
    catalogue_path,
)

__all__ = ["CATALOGUE_TABLES", "FORCES_TABLE", "CatalogueResult", "ForceStatus", "build_catalogue", "catalogue_path"]
