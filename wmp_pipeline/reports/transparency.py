"""The weekly algorithmic transparency record, in the sections of the UK ATRS.

One record per tool (the IOM model and the two 4-week hotspot predictions),
laid out as the UK Algorithmic Transparency Recording Standard lays out a
record: **Tier 1** (an overview for the public) and **Tier 2** (1 owner and
responsibility; 2 description and rationale; 3 decision-making process;
4 tool specification: data and model; 5 risks, mitigations and impact
assessments).

It is generated every week and never written by hand. The answers that do
not change (purpose, users, training, dates) come from
:mod:`wmp_pipeline.reports.tool_facts`, which cites the force's FOI answer;
the rest comes from the pipeline's own metadata: the model versions in use
this week, the model registry files under ``artifacts/models``, the data
windows of the drop log and the crime and charge tables, the backtest
metrics and the fairness audit. Every value says where it comes from.

:func:`build_record` gathers it; :func:`render_markdown` and
:func:`render_html` lay it out; :func:`write_record` writes both under
``artifacts/transparency/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

import wmp_pipeline
from wmp_pipeline import tables
from wmp_pipeline.reports import metrics, tool_facts
from wmp_pipeline.reports.formatting import fmt_value
from wmp_pipeline.reports.tables import Unavailable, require
from wmp_pipeline.reports.tool_facts import Answer, ToolFacts
from wmp_pipeline.settings import Settings

TRANSPARENCY_SUBDIR = "transparency"
ATRS_VERSION = "3.0"
HOTSPOT_MODELS_SUBDIR = Path("models") / "hotspot"
IOM_MODELS_SUBDIR = Path("models") / "iom"
#: Every table the record reads (its asset depends on their writers).
TRANSPARENCY_READS = (
    tables.HOTSPOT_PREDICTIONS, tables.HOTSPOT_BACKTEST_METRICS, tables.INT_CRIMES_CLASSIFIED, tables.INT_CHARGES_HARM,
    tables.IOM_RISK_SCORES, tables.IOM_MODEL_METRICS, tables.IOM_FAIRNESS_AUDIT, tables.CONNECT_DROP_LOG,
)


@dataclass
class RecordTable:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class RecordField:
    label: str
    text: str = ""
    #: FOI | pipeline | weekly metadata | not stated
    source: str = ""
    table: RecordTable | None = None
    items: list[str] = field(default_factory=list)


@dataclass
class RecordSection:
    number: str
    title: str
    fields: list[RecordField]


@dataclass
class ToolRecord:
    code: str
    name: str
    tier1: RecordSection
    tier2: list[RecordSection]


@dataclass
class TransparencyRecord:
    forecast_date: date
    generated_at: datetime
    facts_version: str
    pipeline_version: str
    atrs_version: str
    foi_source: str
    tools: list[ToolRecord]


# --------------------------------------------------------------------------- weekly metadata


def _answer(label: str, answer: Answer) -> RecordField:
    return RecordField(label, answer.text, answer.source)


def _weekly(label: str, text: str, table: RecordTable | None = None, items: list[str] | None = None) -> RecordField:
    return RecordField(label, text, "weekly metadata", table, items or [])


def data_window(con: duckdb.DuckDBPyConnection, forecast_date: date) -> dict[str, str]:
    """What data the week's run used: the drops applied, and the crimes and the charges
    known before the forecast date (keys ``drops``, ``crimes``, ``charges``)."""
    out = {}
    if require(con, tables.CONNECT_DROP_LOG, ["extract_date", "extract_type"]) is None:
        n, first, last = con.execute(
            f"select count(*), min(extract_date), max(extract_date) from {tables.CONNECT_DROP_LOG} where cast(extract_date as date) <= ?",
            [forecast_date],
        ).fetchall()[0]
        full = con.execute(
            f"select max(extract_date) from {tables.CONNECT_DROP_LOG} where extract_type = 'full' and cast(extract_date as date) <= ?",
            [forecast_date],
        ).fetchall()[0][0]
        out["drops"] = f"CONNECT drops applied: {n:,} (first {fmt_value(first)}, newest {fmt_value(last)}; newest full extract {fmt_value(full)})."
    else:
        out["drops"] = "CONNECT drop log: not available this week."
    cutoff = datetime.combine(forecast_date, datetime.min.time())
    if require(con, tables.INT_CRIMES_CLASSIFIED, ["committed_date", "recorded_at"]) is None:
        n, first, last = con.execute(
            f"select count(*), min(committed_date), max(committed_date) from {tables.INT_CRIMES_CLASSIFIED} where recorded_at < ?",
            [cutoff],
        ).fetchall()[0]
        out["crimes"] = f"Active recorded crimes known before {forecast_date}: {n:,}, committed {fmt_value(first)} to {fmt_value(last)}."
    else:
        out["crimes"] = "Recorded crimes: not available this week."
    if require(con, tables.INT_CHARGES_HARM, ["charge_date"]) is None:
        n, first, last = con.execute(
            f"select count(*), min(charge_date), max(charge_date) from {tables.INT_CHARGES_HARM} where charge_date < ?", [forecast_date]
        ).fetchall()[0]
        out["charges"] = f"Active charges known before {forecast_date}: {n:,}, dated {fmt_value(first)} to {fmt_value(last)}."
    else:
        out["charges"] = "Charges: not available this week."
    return out


def versions_in_use(con: duckdb.DuckDBPyConnection, tool: ToolFacts, forecast_date: date) -> list[str]:
    """Model versions that produced this week's outputs of ``tool``."""
    if tool.code == "iom":
        if require(con, tables.IOM_RISK_SCORES, ["model_version", "week"]) is not None:
            return []
        rows = con.execute(
            f"select distinct model_version from {tables.IOM_RISK_SCORES} where cast(week as date) = "
            f"(select max(cast(week as date)) from {tables.IOM_RISK_SCORES} where cast(week as date) <= ?)",
            [forecast_date],
        ).fetchall()
    else:
        if require(con, tables.HOTSPOT_PREDICTIONS, ["model_version", "target", "forecast_week"]) is not None:
            return []
        rows = con.execute(
            f"select distinct model_version from {tables.HOTSPOT_PREDICTIONS} where target = ? and cast(forecast_week as date) = ?",
            [tool.code, forecast_date],
        ).fetchall()
    return sorted(str(r[0]) for r in rows if r[0] is not None)


def registry_entries(directory: Path, versions: list[str], match: str = "") -> list[dict]:
    """Metadata JSON files of the model registry: the ones named by ``versions``, else the newest matching one."""
    directory = Path(directory)
    if not directory.exists():
        return []
    found = []
    # IOM models are folders with a metadata.json beside the booster; hotspot models are <version>.json files
    paths = sorted(directory.glob("*/metadata.json")) or sorted(directory.glob("*.json"))
    for path in paths:
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):
            continue
        meta.setdefault("version", path.parent.name if path.name == "metadata.json" else path.stem)
        found.append(meta)
    chosen = [m for m in found if str(m.get("version")) in versions]
    if chosen:
        return chosen
    candidates = [m for m in found if match in str(m.get("version", "")) or match == str(m.get("target", ""))]
    if not candidates:
        return []
    newest = max(
        candidates,
        key=lambda m: (str(m.get("fit_date", m.get("trained_for", ""))), str(m.get("trained_at", "")), str(m.get("version"))),
    )
    return [newest]


_REGISTRY_KEYS = (
    ("version", "Version"), ("model", "Model"), ("fit_date", "Fitted on data before"),
    ("trained_for", "Trained for forecast date (data before it)"), ("trained_at", "Trained at"),
    ("n_train_rows", "Training rows"), ("n_training_rows", "Training rows"), ("n_training_positives", "Training positives"),
    ("training_data_sha256", "Training data sha256"), ("config_fingerprint", "Configuration fingerprint"),
    ("calibration", "Calibration"), ("calibration_method", "Calibration"),
)


def registry_table(entries: list[dict]) -> RecordTable | None:
    if not entries:
        return None
    rows = []
    for meta in entries:
        for key, label in _REGISTRY_KEYS:
            if key in meta and not isinstance(meta[key], dict | list):
                rows.append([label, fmt_value(meta[key])])
        window = meta.get("training_window")
        if isinstance(window, dict) and window:
            rows.append(["Training window", ", ".join(f"{k.replace('_', ' ')} {fmt_value(v)}" for k, v in window.items())])
        feats = meta.get("features") or meta.get("feature_names")
        if isinstance(feats, list):
            rows.append(["Features", f"{len(feats)}: " + ", ".join(map(str, feats))])
    return RecordTable(["Property", "Value"], rows, caption="From the model registry files under artifacts/models.")


def hotspot_metrics_table(con: duckdb.DuckDBPyConnection, target: str, forecast_date: date) -> tuple[RecordTable | None, str]:
    bt = metrics.hotspot_backtest(con, forecast_date)
    if isinstance(bt, Unavailable):
        return None, str(bt)
    t = bt.overall[bt.overall["target"] == target]
    if t.empty:
        return None, f"Not available this week: the backtest holds no rows for {target}."
    columns = ["Model"] + [f"{h} @ {100 * s:g}% of area" for s in bt.shares for h in ("hit rate", "PAI")]
    rows = []
    for model in sorted(t["model"].unique(), key=lambda m: (0 if metrics.is_model(m) else 2 if metrics.is_ceiling(m) else 1, m)):
        m = t[t["model"] == model]
        row = [model]
        for s in bt.shares:
            hit = metrics.at_share(m, s)
            row += [f"{100 * hit['hit_rate'].iloc[0]:.1f}%" if len(hit) else "–", fmt_value(float(hit["pai"].iloc[0]), 1) if len(hit) else "–"]
        rows.append(row)
    span = f"{bt.n_origins} weekly forecasts from {fmt_value(bt.first_origin)} to {fmt_value(bt.last_origin)}" if bt.n_origins else "the latest run"
    text = (
        f"Rolling-origin backtest (run {bt.run_id}) over {span}: each forecast made with data known at its date and "
        "judged on the crimes committed in the 28 days after it."
    )
    caption = "Hit rate: share of the crimes in the flagged cells; PAI: hit rate / share of area (1 = chance). 'ceiling' (the generator's expected 28-day count given the history at the forecast date) is evaluation-only (synthetic data)."
    return RecordTable(columns, rows, caption), text


def iom_metrics_table(con: duckdb.DuckDBPyConnection, forecast_date: date) -> tuple[RecordTable | None, str]:
    im = metrics.iom_metrics(con, forecast_date)
    if isinstance(im, Unavailable):
        return None, str(im)
    names = list(im.wide.columns)
    rows = [[m] + [fmt_value(float(im.wide.loc[m, k]), 3) for k in names] for m in im.wide.index]
    span = f"{im.n_weeks} test weeks from {fmt_value(im.first_week)} to {fmt_value(im.last_week)}" if im.n_weeks else "the latest evaluation"
    text = f"Rolling-origin backtest (run {im.run_id or 'latest'}): mean over {span}, each scored by a model trained only on earlier snapshots."
    return RecordTable(["Model", *names], rows), text


def fairness_record_table(con: duckdb.DuckDBPyConnection, forecast_date: date) -> tuple[RecordTable | None, str]:
    df = metrics.fairness_table(con, forecast_date)
    if isinstance(df, Unavailable):
        return None, str(df)
    rows = [[fmt_value(v) for v in r] for r in df.itertuples(index=False)]
    flagged = int((df["flags"].fillna("").astype(str) != "").sum()) if "flags" in df else 0
    text = (
        f"Group measures of the IOM model at its operating threshold, by protected or sensitive attribute. {flagged} "
        "group(s) differ from the rest beyond the stated tolerance and are flagged for human review; a flag is a prompt, "
        "not a verdict, and differences in selection rate are expected where base rates differ."
    )
    return RecordTable(list(df.columns), rows, caption="Rates are fractions; n = people in the group in the audit."), text


# --------------------------------------------------------------------------- record assembly


def _tier1(tool: ToolFacts) -> RecordSection:
    return RecordSection("Tier 1", "Overview", [
        RecordField("Name", tool.name, "FOI"),
        _answer("Description", tool.description),
        RecordField("Organisation", tool_facts.ORGANISATION, "FOI"),
        RecordField("Function", tool_facts.FUNCTION, "pipeline"),
        RecordField("Phase", f"{tool.phase}; first deployed {tool.first_deployed:%B %Y}", "FOI"),
        RecordField("Geographic region", tool_facts.REGION, "FOI"),
        RecordField("Contact", tool_facts.NOT_STATED + " Requests go to the force's Freedom of Information team.", "not stated"),
    ])


def build_tool_record(
    con: duckdb.DuckDBPyConnection, settings: Settings, tool: ToolFacts, forecast_date: date, window: dict[str, str]
) -> ToolRecord:
    versions = versions_in_use(con, tool, forecast_date)
    if tool.code == "iom":
        entries = registry_entries(Path(settings.artifacts_dir) / IOM_MODELS_SUBDIR, versions)
        perf_table, perf_text = iom_metrics_table(con, forecast_date)
        fair_table, fair_text = fairness_record_table(con, forecast_date)
    else:
        entries = registry_entries(Path(settings.artifacts_dir) / HOTSPOT_MODELS_SUBDIR, versions, match=tool.code)
        perf_table, perf_text = hotspot_metrics_table(con, tool.code, forecast_date)
        fair_table, fair_text = None, (
            "Not applicable in the individual sense: the predictions concern 250 m cells, not people. The maps' concentration "
            "on particular neighbourhoods is reviewed by analysts in Force tasking."
        )
    owner = RecordSection("Tier 2, section 1", "Owner and responsibility", [
        RecordField("Organisation", tool_facts.ORGANISATION, "FOI"),
        RecordField("Team", tool_facts.TEAM, "FOI"),
        RecordField("Senior responsible owner", tool_facts.NOT_STATED, "not stated"),
        RecordField("External supplier", "None: developed in-house by the WMP Data Analytics Lab.", "FOI"),
        RecordField("Third parties' access to data", "None: the data stay within the force's systems.", "pipeline"),
    ])
    rationale = RecordSection("Tier 2, section 2", "Description and rationale", [
        _answer("Detailed description", tool.description),
        _answer("Reasons and policy purpose", tool.reasons_and_purpose),
        _answer("Alternatives considered", tool.alternatives),
    ])
    decisions = RecordSection("Tier 2, section 3", "Decision-making process", [
        _answer("Outputs", tool.outputs),
        _answer("What the outputs signify", tool.signifies),
        _answer("Decisions supported (and about whom or what)", tool.decisions),
        _answer("Human oversight", tool.human_oversight),
        _answer("Intended users", tool.intended_users),
        _answer("Training", tool.training),
        _answer("Dates", tool.dates),
        _answer("Frequency", tool.update_frequency),
    ])
    version_text = ", ".join(versions) if versions else "No output of this tool for this week was found."
    spec_fields = [
        RecordField("Data: sources", tool.data_sources.text, tool.data_sources.source),
        RecordField("Data: update", tool.update_frequency.text, tool.update_frequency.source),
        _weekly("Data: this week's window", "", items=[window["drops"], window["charges" if tool.code == "iom" else "crimes"]]),
        RecordField(
            "Data: collection, sharing and retention",
            "Weekly CONNECT extracts land in a folder the pipeline reads; every row is checked against the extract contract and "
            "rows that break it are quarantined with their reason. The working database holds personal data and is readable "
            "by the pipeline's owner only; analysts read a separate published copy without person identifiers. "
            "Retention follows the force's records management policy, which this record does not restate.",
            "pipeline",
        ),
        _answer("Model: type", tool.model_type),
        _weekly("Model: versions in use this week", version_text, table=registry_table(entries)),
        _weekly("Model: performance", perf_text, table=perf_table),
        _weekly("Model: fairness", fair_text, table=fair_table),
        RecordField("Pipeline", f"wmp_pipeline {wmp_pipeline.__version__}, run in {settings.mode} mode.", "weekly metadata"),
    ]
    spec = RecordSection("Tier 2, section 4", "Tool specification", spec_fields)
    risks = RecordSection("Tier 2, section 5", "Risks, mitigations and impact assessments", [
        RecordField("Risks and mitigations", "", "pipeline",
                    table=RecordTable(["Risk", "Mitigation"], [[r.risk, r.mitigation] for r in tool.risks])),
        _answer("Impact assessments", tool.impact_assessments),
    ])
    return ToolRecord(tool.code, tool.name, _tier1(tool), [owner, rationale, decisions, spec, risks])


def build_record(
    con: duckdb.DuckDBPyConnection, settings: Settings, forecast_date: date, generated_at: datetime | None = None
) -> TransparencyRecord:
    window = data_window(con, forecast_date)
    return TransparencyRecord(
        forecast_date=forecast_date,
        generated_at=generated_at or datetime.now().replace(microsecond=0),
        facts_version=tool_facts.FACTS_VERSION,
        pipeline_version=wmp_pipeline.__version__,
        atrs_version=ATRS_VERSION,
        foi_source=tool_facts.FOI_SOURCE,
        tools=[build_tool_record(con, settings, tool, forecast_date, window) for tool in tool_facts.TOOLS],
    )


# --------------------------------------------------------------------------- rendering


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(t: RecordTable) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines.append("")
        lines.append(f"_{t.caption}_")
    return "\n".join(lines)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("wmp_pipeline.reports", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_markdown(record: TransparencyRecord) -> str:
    env = _environment()
    env.filters["md_table"] = _md_table
    return env.get_template("transparency.md.j2").render(record=record)


def render_html(record: TransparencyRecord) -> str:
    env = Environment(
        loader=PackageLoader("wmp_pipeline.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("transparency.html.j2").render(record=record)


def record_paths(settings: Settings, forecast_date: date) -> dict[str, Path]:
    base = Path(settings.artifacts_dir) / TRANSPARENCY_SUBDIR / f"transparency_record_{forecast_date.isoformat()}"
    return {"md": base.with_suffix(".md"), "html": base.with_suffix(".html")}


def write_record(record: TransparencyRecord, settings: Settings) -> dict[str, Path]:
    """Write the Markdown and HTML record (atomically) and return their paths."""
    paths = record_paths(settings, record.forecast_date)
    paths["md"].parent.mkdir(parents=True, exist_ok=True)
    for kind, text in (("md", render_markdown(record)), ("html", render_html(record))):
        tmp = paths[kind].with_name(paths[kind].name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(paths[kind])
    return paths


def fairness_flags(con: duckdb.DuckDBPyConnection, forecast_date: date) -> int | None:
    """Flagged groups in the latest fairness audit (for asset metadata); ``None`` if unavailable."""
    df = metrics.fairness_table(con, forecast_date)
    if isinstance(df, Unavailable) or "flags" not in df:
        return None
    return int((df["flags"].fillna("").astype(str) != "").sum())

