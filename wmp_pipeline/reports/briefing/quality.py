"""Data quality: this week's drops, quarantine, unknown codes and check results."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from wmp_pipeline.quality.summary import reason_rules
from wmp_pipeline.reports.briefing.model import DROP_LOG, EXPECTATIONS, QUARANTINE, UNKNOWN_CODES, Cell, CheckResult, Section, Table
from wmp_pipeline.reports.formatting import fmt_int, fmt_value
from wmp_pipeline.reports.tables import query, require


def check_summary_table(checks: list[CheckResult]) -> Table:
    """One row per asset: checks run, passed, and the failed ones by name (assets with failures first)."""
    by_asset: dict[str, list[CheckResult]] = {}
    for c in checks:
        by_asset.setdefault(c.asset, []).append(c)
    order = sorted(by_asset, key=lambda a: (all(c.passed for c in by_asset[a]), a))
    rows = []
    for asset in order:
        group = by_asset[asset]
        failed = sorted((c for c in group if not c.passed), key=lambda c: c.check)
        text = "; ".join(f"{c.check} ({c.severity.lower()})" for c in failed) or "–"
        rows.append([Cell(asset, "mono"), Cell(fmt_int(len(group))), Cell(fmt_int(len(group) - len(failed))),
                     Cell(text, ("bad" if any(c.severity.upper() == "ERROR" for c in failed) else "warn") + " wrap" if failed else "muted")])
    return Table(["Asset", "Checks", "Passed", "Failed checks (severity)"], rows, numeric={1, 2},
                 caption="From this run's asset check evaluations in the Dagster instance.")


def quality_section(con: duckdb.DuckDBPyConnection, forecast_date: date, checks: list[CheckResult] | None) -> Section:
    section = Section(anchor="quality", title="Data quality this week")
    section.intro = (
        "What arrived from CONNECT and how clean it was. Quarantined rows broke the extract contract and are held "
        "back until a later drop corrects them; reasons are shown without the values they quote."
    )
    glance: list[str] = []
    drops = Section(anchor="quality-drops", title="Drops applied")
    missing = require(con, DROP_LOG, ["drop_id", "extract_date", "extract_type", "rows_delivered", "rows_loaded", "rows_quarantined"])
    if missing:
        drops.unavailable = str(missing)
    else:
        week_start = forecast_date - timedelta(days=6)
        log = query(
            con,
            f"""select drop_id, extract_type, extract_date, rows_delivered, rows_loaded, rows_quarantined
                from {DROP_LOG} where cast(extract_date as date) between ? and ? order by extract_date""",
            [week_start, forecast_date],
        )
        glance.append(f"{len(log)} drop{'s' if len(log) != 1 else ''} applied this week")
        if log.empty:
            drops.notes.append(f"No CONNECT drop dated {week_start:%d %b} to {forecast_date:%d %b %Y} has been applied.")
            log = query(
                con,
                f"""select drop_id, extract_type, extract_date, rows_delivered, rows_loaded, rows_quarantined
                    from {DROP_LOG} order by extract_date desc limit 1""",
            )
            if len(log):
                drops.notes.append("The newest drop applied is shown instead.")
        total = con.execute(f"select count(*) from {DROP_LOG}").fetchall()[0][0]
        drops.facts.append(("Drops applied to date", fmt_int(total)))
        rows = []
        for r in log.itertuples(index=False):
            balanced = int(r.rows_delivered) == int(r.rows_loaded) + int(r.rows_quarantined)
            rows.append([Cell(str(r.drop_id), "mono"), Cell(str(r.extract_type)), Cell(fmt_int(r.rows_delivered)),
                         Cell(fmt_int(r.rows_loaded)), Cell(fmt_int(r.rows_quarantined)),
                         Cell("yes" if balanced else "NO", "" if balanced else "bad")])
        if rows:
            drops.tables.append(Table(["Drop", "Type", "Delivered", "Loaded", "Quarantined", "Balanced"], rows, numeric={2, 3, 4}))
    section.children.append(drops)

    quarantine = Section(anchor="quality-quarantine", title="Open quarantine by broken rule")
    missing = require(con, QUARANTINE, ["table_name", "reason", "resolved_by_drop_id"])
    if missing:
        quarantine.unavailable = str(missing)
    else:
        grouped = con.execute(
            f"select table_name, reason, count(*) from {QUARANTINE} where resolved_by_drop_id is null group by all"
        ).fetchall()
        counts: dict[tuple[str, str], int] = {}
        for table_name, reason, n in grouped:
            for rule in dict.fromkeys(reason_rules(reason)):
                counts[(table_name, rule)] = counts.get((table_name, rule), 0) + int(n)
        open_rows = con.execute(f"select count(*) from {QUARANTINE} where resolved_by_drop_id is null").fetchall()[0][0]
        quarantine.facts.append(("Open quarantined rows", fmt_int(open_rows)))
        glance.append(f"{open_rows:,} quarantined rows open")
        if counts:
            rows = [[Cell(t), Cell(rule), Cell(fmt_int(n))] for (t, rule), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
            quarantine.tables.append(Table(["Table", "Broken rule", "Open rows"], rows, numeric={2},
                                           caption="A row that breaks two rules counts under both."))
        else:
            quarantine.notes.append("No quarantined row is open.")
    section.children.append(quarantine)

    unknown = Section(anchor="quality-unknown-codes", title="Unknown offence codes")
    missing = require(con, UNKNOWN_CODES, ["offence_code"])
    if missing:
        unknown.unavailable = str(missing)
    else:
        df = query(con, f"select * from {UNKNOWN_CODES} order by 1")
        glance.append(f"{len(df)} unknown offence code{'s' if len(df) != 1 else ''}")
        if df.empty:
            unknown.notes.append("Every offence code in the data is in the offence reference.")
        else:
            unknown.notes.append("These codes are not in the offence reference: their crimes count as 'unknown' and their "
                                 "charges weigh 0 harm until the reference (dbt seed ref_offence_codes) gains them.")
            cols = [c for c in ("offence_code", "seen_in", "n_records", "first_seen", "last_seen") if c in df]
            rows = [[Cell(fmt_value(v), "mono" if c == "offence_code" else "")
                     for c, v in zip(cols, r, strict=True)] for r in df[cols].itertuples(index=False)]
            unknown.tables.append(Table([c.replace("_", " ") for c in cols], rows, numeric={cols.index("n_records")} if "n_records" in cols else set()))
    section.children.append(unknown)

    checks_section = Section(anchor="quality-checks", title="Checks")
    if checks:
        failed = [c for c in checks if not c.passed]
        checks_section.facts += [("Checks run in this run", fmt_int(len(checks))), ("Failed", fmt_int(len(failed)))]
        glance.append(f"{len(failed)} of {len(checks)} checks failed")
        checks_section.tables.append(check_summary_table(checks))
    elif require(con, EXPECTATIONS, ["table_name", "expectation", "severity", "success"]) is None:
        df = query(con, f"select * from {EXPECTATIONS} order by success, table_name, expectation")
        failed = int((~df["success"].astype(bool)).sum())
        checks_section.facts += [("Expectations checked", fmt_int(len(df))), ("Failed", fmt_int(failed))]
        glance.append(f"{failed} of {len(df)} expectations failed")
        rows = [[Cell(str(r.table_name), "mono"), Cell(str(r.expectation)), Cell(str(r.severity)),
                 Cell("passed" if r.success else "FAILED", "good" if r.success else "bad"),
                 Cell(fmt_int(getattr(r, "unexpected_count", None)))] for r in df.itertuples(index=False)]
        checks_section.tables.append(Table(["Table", "Expectation", "Severity", "Result", "Unexpected rows"], rows, numeric={4},
                                           caption="Great Expectations results for the latest drop (dq_expectation_results)."))
    else:
        checks_section.unavailable = "Not available this week: no check results were found in the Dagster instance or in dq_expectation_results."
    section.children.append(checks_section)
    if glance:
        section.headline = "Data quality: " + "; ".join(glance) + "."
    return section
