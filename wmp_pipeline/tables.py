"""Every table of the working DuckDB file, and the asset that writes it.

One name per table, here; code that reads or writes a table uses these
constants instead of a string literal, and a report that reads a table
depends on the asset that writes it (:func:`writer`), so the lineage graph
and the SQL cannot disagree. ``tests/test_definitions.py`` checks that every
writer named here is an asset of the code location. How to read and write
them: :mod:`wmp_pipeline.warehouse` (``table_exists``, ``write_frame``,
``replace_rows``).

Writers are asset keys written as ``/``-joined paths (``raw/connect_crimes``);
the few tables no asset writes name the command that does.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_SCHEMA = "raw"


@dataclass(frozen=True)
class TableInfo:
    name: str
    #: the asset key (``/``-joined) of the asset that writes the table, or ``cli:<command>``
    written_by: str
    schema: str = "main"

    @property
    def qualified(self) -> str:
        """``schema.name`` for tables outside ``main``, else the bare name (as the SQL here writes them)."""
        return self.name if self.schema == "main" else f"{self.schema}.{self.name}"


# --------------------------------------------------------------------------- raw (Python ingest)
CONNECT_PERSONS = "raw.connect_persons"
CONNECT_CRIMES = "raw.connect_crimes"
CONNECT_CHARGES = "raw.connect_charges"
CONNECT_QUARANTINE = "raw.connect_quarantine"
CONNECT_DROP_LOG = "raw.connect_drop_log"
CONNECT_DROP_REFUSALS = "raw.connect_drop_refusals"
CONNECT_DROP_ACCEPTANCES = "raw.connect_drop_acceptances"
CONNECT_DROP_EXPECTATIONS = "raw.connect_drop_expectations"
CONNECT_INGEST_RUNS = "raw.connect_ingest_runs"
POLICEUK_STREET = "raw.policeuk_street"
POLICEUK_FILE_LEDGER = "raw.policeuk_file_ledger"

# --------------------------------------------------------------------------- dbt
REF_OFFENCE_CODES = "ref_offence_codes"
STG_CONNECT_PERSONS = "stg_connect__persons"
STG_CONNECT_CRIMES = "stg_connect__crimes"
STG_CONNECT_CHARGES = "stg_connect__charges"
STG_POLICEUK_STREET_CRIMES = "stg_policeuk__street_crimes"
INT_CRIMES_CLASSIFIED = "int_crimes__classified"
INT_CHARGES_HARM = "int_charges__harm"
INT_IOM_PERSON_WEEKS = "int_iom__person_weeks"
IOM_OFFENDER_WEEK = "iom_offender_week"
MART_UNKNOWN_OFFENCE_CODES = "mart_unknown_offence_codes"

# --------------------------------------------------------------------------- hotspot
HOTSPOT_CELLS = "hotspot_cells"
HOTSPOT_PANEL = "hotspot_panel"
HOTSPOT_PANEL_INFO = "hotspot_panel_info"
HOTSPOT_BACKTEST_METRICS = "hotspot_backtest_metrics"
HOTSPOT_PREDICTIONS = "hotspot_predictions"

# --------------------------------------------------------------------------- IOM
IOM_SNAPSHOTS = "iom_snapshots"
IOM_MODEL_METRICS = "iom_model_metrics"
IOM_BACKTEST_PREDICTIONS = "iom_backtest_predictions"
IOM_FAIRNESS_AUDIT = "iom_fairness_audit"
IOM_RISK_SCORES = "iom_risk_scores"
RESTRICTED_PERSON_KEYS = "restricted_person_keys"

# --------------------------------------------------------------------------- data quality
DQ_DROP_RECONCILIATION = "dq_drop_reconciliation"
DQ_QUARANTINE_SUMMARY = "dq_quarantine_summary"
DQ_EXPECTATION_RESULTS = "dq_expectation_results"
DQ_DROP_SEQUENCE = "dq_drop_sequence"
DQ_DROP_REFUSALS = "dq_drop_refusals"

# --------------------------------------------------------------------------- police.uk forecast (a police.uk force's run; also `wmp policeuk-backtest`)
POLICEUK_HOTSPOT_PANEL = "policeuk_hotspot_panel"
POLICEUK_BACKTEST_METRICS = "policeuk_backtest_metrics"

# --------------------------------------------------------------------------- analyst file
PUBLISH_MANIFEST = "publish_manifest"


def _info(qualified: str, written_by: str) -> TableInfo:
    schema, _, name = qualified.rpartition(".")
    return TableInfo(name=name, written_by=written_by, schema=schema or "main")


#: Every table of the working database (and the analyst file's manifest), by qualified name.
TABLES: dict[str, TableInfo] = {
    t.qualified: t
    for t in (
        _info(CONNECT_PERSONS, "raw/connect_persons"),
        _info(CONNECT_CRIMES, "raw/connect_crimes"),
        _info(CONNECT_CHARGES, "raw/connect_charges"),
        _info(CONNECT_QUARANTINE, "raw/connect_quarantine"),
        _info(CONNECT_DROP_LOG, "raw/connect_drop_log"),
        _info(CONNECT_DROP_REFUSALS, "raw/connect_drop_log"),
        _info(CONNECT_DROP_ACCEPTANCES, "cli:wmp drops accept"),
        _info(CONNECT_DROP_EXPECTATIONS, "raw/connect_drop_log"),
        _info(CONNECT_INGEST_RUNS, "raw/connect_drop_log"),
        _info(POLICEUK_STREET, "raw/policeuk_street"),
        _info(POLICEUK_FILE_LEDGER, "raw/policeuk_street"),
        _info(REF_OFFENCE_CODES, REF_OFFENCE_CODES),
        _info(STG_CONNECT_PERSONS, STG_CONNECT_PERSONS),
        _info(STG_CONNECT_CRIMES, STG_CONNECT_CRIMES),
        _info(STG_CONNECT_CHARGES, STG_CONNECT_CHARGES),
        _info(STG_POLICEUK_STREET_CRIMES, STG_POLICEUK_STREET_CRIMES),
        _info(INT_CRIMES_CLASSIFIED, INT_CRIMES_CLASSIFIED),
        _info(INT_CHARGES_HARM, INT_CHARGES_HARM),
        _info(INT_IOM_PERSON_WEEKS, INT_IOM_PERSON_WEEKS),
        _info(IOM_OFFENDER_WEEK, IOM_OFFENDER_WEEK),
        _info(MART_UNKNOWN_OFFENCE_CODES, MART_UNKNOWN_OFFENCE_CODES),
        _info(HOTSPOT_CELLS, "hotspot_cells"),
        _info(HOTSPOT_PANEL, "hotspot_panel"),
        _info(HOTSPOT_PANEL_INFO, "hotspot_panel"),
        _info(HOTSPOT_BACKTEST_METRICS, "hotspot_backtest"),
        _info(HOTSPOT_PREDICTIONS, "hotspot_predictions"),
        _info(IOM_SNAPSHOTS, "iom_snapshots"),
        _info(IOM_MODEL_METRICS, "iom_model"),
        _info(IOM_BACKTEST_PREDICTIONS, "iom_model"),
        _info(IOM_FAIRNESS_AUDIT, "iom_fairness_audit"),
        _info(IOM_RISK_SCORES, "iom_risk_scores"),
        _info(RESTRICTED_PERSON_KEYS, "iom_risk_scores"),
        _info(DQ_DROP_RECONCILIATION, "dq_drop_reconciliation"),
        _info(DQ_QUARANTINE_SUMMARY, "dq_quarantine_summary"),
        _info(DQ_EXPECTATION_RESULTS, "dq_expectation_results"),
        _info(DQ_DROP_SEQUENCE, "dq_drop_sequence"),
        _info(DQ_DROP_REFUSALS, "dq_drop_refusals"),
        _info(POLICEUK_HOTSPOT_PANEL, "policeuk_hotspot_forecast"),
        _info(POLICEUK_BACKTEST_METRICS, "policeuk_hotspot_forecast"),
        _info(PUBLISH_MANIFEST, "analyst_database"),
    )
}


def writer(table: str) -> str:
    """The ``/``-joined asset key of the asset that writes ``table`` (a qualified name from here)."""
    try:
        return TABLES[table].written_by
    except KeyError:
        raise KeyError(f"{table!r} is not in the table registry (wmp_pipeline/tables.py)") from None


def writers(*tables: str) -> list[str]:
    """The distinct writers of ``tables``, in the order given (for an asset's ``deps``)."""
    out: list[str] = []
    for t in tables:
        w = writer(t)
        if w not in out:
            out.append(w)
    return out
