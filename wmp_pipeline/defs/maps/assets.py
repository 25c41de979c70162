"""The analysts' offline pages and GIS exports of the week (thin wrapper over :mod:`wmp_pipeline.maps`)."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from wmp_pipeline.defs.hotspot.resources import HotspotResource
from wmp_pipeline.defs.partitions import forecast_date_for_partition, weekly_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.iom.config import IomConfig
from wmp_pipeline.maps.build import build_week

GROUP = "reports"
ANALYST_PAGES = AssetKey("analyst_pages")

#: the tables the pages and exports read, by the asset that writes them
PAGE_DEPS = [
    AssetKey("hotspot_predictions"),
    AssetKey("hotspot_backtest"),  # writes hotspot_backtest_metrics
    AssetKey("iom_risk_scores"),
]


@asset(
    key=ANALYST_PAGES,
    group_name=GROUP,
    kinds={"python", "duckdb", "html", "geopackage"},
    deps=PAGE_DEPS,
    partitions_def=weekly_partitions,
    description=(
        "The week's offline pages and exports under artifacts/maps/: the interactive hotspot map (Leaflet, cells "
        "coloured by expected count, hover for each cell's numbers, target switch, boundaries, trend charts), the "
        "sortable and filterable IOM list (pseudonymised), a GeoPackage of the predictions in EPSG:27700 and the IOM "
        "list as CSV. Schema in docs/exports.md."
    ),
)
def analyst_pages(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
    hotspot: HotspotResource,
):
    settings = pipeline.settings()
    forecast_date = forecast_date_for_partition(context.partition_key)
    with warehouse.connect() as con:
        out = build_week(con, forecast_date, settings.artifacts_dir, settings.boundary_file, hotspot.map_config(),
                         IomConfig().operating_top_k)
    for note in out.notes:
        context.log.debug(note)  # also in the metadata; keeps the default terminal short
    return MaterializeResult(
        metadata={
            **{name: MetadataValue.path(str(path)) for name, path in out.paths.items()},
            **out.counts,
            "seconds": MetadataValue.json(out.seconds),
            "notes": MetadataValue.md("\n".join(f"- {n}" for n in out.notes) or "_none_"),
        }
    )


assets = [analyst_pages]
