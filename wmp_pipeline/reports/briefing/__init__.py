"""The weekly briefing: one self-contained HTML file in place of the Qlik dashboards.

Today the force's hotspot and IOM tools show their output in Qlik
dashboards. This briefing gives each user what they need as one HTML file
that opens in any browser with no BI licence and no network: every picture is
an embedded PNG, the CSS is inline, there are no scripts and no web fonts.

Sections (each one says "not available this week" instead of failing when a
table it reads is missing):

1. **Hotspots**, one per target (knife crime used causing injury; serious
   violence): a map of the top cells over the force area, a table of the top
   20 cells with the predicted count, the count of the last 4 weeks and the
   change in rank since last week, and a 12-month weekly trend.
2. **IOM**, for offender managers: the distribution of harm bands and the
   ranked low-medium harm offenders (pseudonymised ``offender_key`` only)
   with their probability of becoming high harm, harm trend and top reasons.
3. **Model performance** against the baselines, from the backtests.
4. **Data quality**: this week's drops and their counts, open quarantine by
   broken rule (values removed), unknown offence codes and the check results.

:func:`build_briefing` is pure apart from reading the database and the
previous week's rank file; :func:`write_briefing` writes the HTML and this
week's ranks (the hotspot table holds only the latest week, so the ranks are
kept beside the briefing for next week's "change in rank").

The package, by section: :mod:`.model` (view model and paths), :mod:`.formatting`
(table cells), :mod:`.hotspots`, :mod:`.iom`, :mod:`.performance`, :mod:`.quality` and
:mod:`.assembly` (:func:`build_briefing`, :func:`write_briefing`).
"""

from wmp_pipeline.reports.briefing.assembly import build_briefing, write_briefing
from wmp_pipeline.reports.briefing.formatting import harm_trend_cell, rank_change_cell
from wmp_pipeline.reports.briefing.hotspots import cell_counts_last_weeks, weekly_counts
from wmp_pipeline.reports.briefing.model import TARGETS, Briefing, CheckResult, Section, Table, Target, briefing_path, ranks_path

__all__ = [
    "TARGETS",
    "Briefing",
    "CheckResult",
    "Section",
    "Table",
    "Target",
    "briefing_path",
    "build_briefing",
    "cell_counts_last_weeks",
    "harm_trend_cell",
    "rank_change_cell",
    "ranks_path",
    "weekly_counts",
    "write_briefing",
]
