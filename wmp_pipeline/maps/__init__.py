"""The analysts' offline pages and GIS exports of a week: the interactive hotspot map
(with trend charts), the sortable IOM list, a GeoPackage and a CSV.

Pure builders over a DuckDB connection (no Dagster); the asset in
:mod:`wmp_pipeline.defs.maps.assets` calls :func:`wmp_pipeline.maps.build.build_week`.
"""
