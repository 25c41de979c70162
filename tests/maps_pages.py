"""Helpers for the map page tests: a boundary file made from a warehouse's cells, page checks."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import geopandas as gpd
import shapely

from wmp_pipeline.hotspot.grid import CRS_BNG


def boundary_from_cells(duckdb_path: Path, out: Path) -> Path:
    """A GeoJSON of 'LSOAs' (the 1000 m cells dissolved by their lsoa_code, named like ONS names,
    two LSOAs per area, in EPSG:4326): stands in for the boundary file of the generator's force."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        cells = con.execute(
            "select lsoa_code, geometry_wkt from hotspot_cells where in_force_area and lsoa_code is not null "
            "and cell_size_m = (select max(cell_size_m) from hotspot_cells)"
        ).df()
    gdf = gpd.GeoDataFrame(cells[["lsoa_code"]], geometry=shapely.from_wkt(cells["geometry_wkt"]), crs=CRS_BNG)
    lsoas = gdf.dissolve(by="lsoa_code", as_index=False).sort_values("lsoa_code").reset_index(drop=True)
    lsoas["lsoa21cd"] = lsoas["lsoa_code"]
    lsoas["lsoa21nm"] = [f"Tinyshire {i // 2 + 1:03d}{'AB'[i % 2]}" for i in range(len(lsoas))]
    lsoas[["lsoa21cd", "lsoa21nm", "geometry"]].to_crs("EPSG:4326").to_file(out, driver="GeoJSON")
    return out


def outside_references(html: str) -> list[str]:
    """Anything that would make the page fetch from outside the file."""
    found = re.findall(r'\bsrc\s*=\s*"[^"]+"', html)
    found += re.findall(r'<link\b[^>]*>', html)
    for style in re.findall(r"<style>(.*?)</style>", html, flags=re.S):
        found += re.findall(r"@import|url\((?!\s*['\"]?data:)", style)
    return found
