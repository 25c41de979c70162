"""A few lines that say what this week's analyst file holds: printed at the end of ``wmp run``."""

from __future__ import annotations

from pathlib import Path

import duckdb

from wmp_pipeline.publish.analyst_file import available_relations


def analyst_summary(analyst_path: Path, top: int = 3) -> list[str]:
    """The week's headline results from the published analyst file (opened read-only)."""
    analyst_path = Path(analyst_path)
    if not analyst_path.exists():
        return [f"no analyst file at {analyst_path}"]
    lines = []
    with duckdb.connect(str(analyst_path), read_only=True) as con:
        present = available_relations(con)
        if "hotspot_predictions" in present:
            week = con.execute("select max(forecast_week) from hotspot_predictions").fetchone()[0]
            lines.append(f"Hotspots for the 4 weeks from {week}:")
            rows = con.execute(
                """select target, count(*) filter (where in_top_n), string_agg(
                       case when rank <= ? then cell_id || ' (' || round(predicted_count, 2) || ')' end, ', ' order by rank)
                   from hotspot_predictions where forecast_week = ? group by target order by target""",
                [top, week],
            ).fetchall()
            for target, n_top, cells in rows:
                lines.append(f"  {target}: {n_top} cells flagged; top {top} (expected crimes): {cells}")
        if "iom_risk_scores" in present:
            week, n = con.execute("select max(week), count(*) from iom_risk_scores where week = (select max(week) from iom_risk_scores)").fetchone()
            bands = con.execute(
                "select band, count(*) from iom_risk_scores where week = ? group by band order by min(harm_score)", [week]
            ).fetchall()
            lines.append(f"IOM risk scores for {week}: {n:,} offenders ({', '.join(f'{b} {c:,}' for b, c in bands)})")
        if "publish_manifest" in present:
            tables, published = con.execute("select count(*), max(published_at) from publish_manifest").fetchone()
            lines.append(f"Analyst file: {tables} tables, published {published}")
    return lines
