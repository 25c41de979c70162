"""police.uk street-level crime: a second, public source beside CONNECT.

One unpartitioned asset, ``raw/policeuk_street``, loads the folder of the
``policeuk`` resource (``WMP_POLICEUK_DIR``) (police.uk files as downloaded,
one per force and month). Without it the asset is still defined, so the
lineage graph shows the source, but a run loads nothing and says so in its
metadata. Loading is idempotent (a ledger of files by force, month and
content hash), so the weekly job can run it every time at the cost of hashing
the files.
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from wmp_pipeline.defs.policeuk.resources import PoliceUkResource
from wmp_pipeline.defs.resources import WarehouseResource
from wmp_pipeline.policeuk.loader import LEDGER_TABLE, STREET_TABLE, load_folder, loaded_forces
from wmp_pipeline.markdown import markdown_table
from wmp_pipeline.settings import ENV_VARS

POLICEUK_DIR_ENV = ENV_VARS["policeuk_dir"]
STREET_KEY = AssetKey(["raw", "policeuk_street"])


@asset(
    key=STREET_KEY,
    group_name="policeuk",
    kinds={"python", "duckdb"},
    description=(
        "police.uk street-level crime of the folder in WMP_POLICEUK_DIR: every row of every force-month file, "
        "BNG easting/northing converted from longitude/latitude, with file lineage; a file ledger "
        f"({LEDGER_TABLE}) makes reloads idempotent and lets a re-published month replace its rows. "
        "A no-op (reported in metadata) when WMP_POLICEUK_DIR is not set."
    ),
)
def policeuk_street(
    context: AssetExecutionContext, warehouse: WarehouseResource, policeuk: PoliceUkResource
) -> MaterializeResult:
    folder = policeuk.folder_path()
    if folder is None:
        context.log.info(f"{POLICEUK_DIR_ENV} is not set: no police.uk files to load")
        return MaterializeResult(
            metadata={
                "status": MetadataValue.text(f"not configured: set {POLICEUK_DIR_ENV} to a folder of police.uk street-level files"),
                "files_loaded_this_run": 0,
            }
        )
    with warehouse.connect() as con:
        report = load_folder(con, folder, log=context.log)
        forces = loaded_forces(con)
        total = con.execute(f"SELECT count(*), count(*) FILTER (WHERE easting IS NULL) FROM {STREET_TABLE}").fetchone()
    return MaterializeResult(
        metadata={
            "status": MetadataValue.text(report.summary()),
            "folder": MetadataValue.path(str(folder)),
            "files_loaded_this_run": report.count("loaded"),
            "files_replaced_this_run": report.count("replaced"),
            "files_unchanged": report.count("unchanged"),
            "rows_loaded_this_run": report.rows_loaded,
            "rows_without_location_this_run": report.rows_without_location,
            "rows_total": int(total[0]),
            "rows_without_location_total": int(total[1]),
            "forces": MetadataValue.md(markdown_table(forces)),
        }
    )


assets = [policeuk_street]
