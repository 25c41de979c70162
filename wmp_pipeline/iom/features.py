"""The IOM feature catalogue: names, how each is computed, and its plain words.

Every feature is known at the snapshot date ``d``: it uses only active
charges dated before ``d`` (and, for co-offending, co-defendants' charges
dated before ``d``). Sex and ethnicity are **not** features; they stay
beside the snapshot for the fairness audit only. Age is a feature (a strong,
well-documented predictor of offending trajectories) and is audited.

Most features are sums of a per-charge-day *measure* over a window of days
before ``d``. The snapshot SQL keeps a running total of every measure per
person and reads it with ASOF joins at ``d - end_days`` and
``d - start_days``: the window sum is the difference. That costs a handful
of joins instead of re-aggregating each person's history for every
snapshot, which matters at force scale.

Each :class:`Feature` carries a ``describe`` template used to turn a
per-prediction contribution into words for offender managers, e.g.
``"3 violent charges in the last 365 days"``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from wmp_pipeline.settings import REFERENCE_OFFENCE_CODES

#: offence groups outside the reference get this name
UNKNOWN_GROUP = "unknown"

#: per-charge-day measures (name -> SQL aggregate over that day's charges ``c``)
BASE_MEASURES: dict[str, str] = {
    "charges": "count(*)",
    "days": "1",
    "harm": "sum(c.harm_weight_days)",
    "violent": "count(*) filter (where c.is_violent)",
    "weapon": "count(*) filter (where c.is_weapon)",
    "knife": "count(*) filter (where c.is_knife)",
    "serious_violence": "count(*) filter (where c.is_serious_violence)",
}


@dataclass(frozen=True)
class Feature:
    """One snapshot feature and the words its value is given in."""

    name: str
    #: words for a value; ``{v}`` is the formatted value
    describe: str
    #: ``count``, ``harm``, ``days``, ``years`` or ``ratio``: how to format it
    #: (``years`` are ages, given in words as their age band, never exactly)
    kind: str = "count"
    #: ``window`` (sum of ``measure`` over days ``[d - start_days, d - end_days)``,
    #: all history when ``start_days`` is None), ``decay`` (sum of ``measure``
    #: over ``[d - start_days, d)``, each charge day weighted ``exp(-age_days / tau_days)``),
    #: ``max_weight`` (largest single
    #: harm weight over ``[d - start_days, d)``) or ``sql`` (``sql`` over the
    #: window features and the snapshot's context columns, see
    #: :data:`wmp_pipeline.iom.snapshots.CONTEXT_COLUMNS`)
    source: str = "window"
    measure: str | None = None
    start_days: int | None = None
    end_days: int = 0
    sql: str | None = None
    tau_days: float | None = None
    #: words when the value is missing (e.g. never charged with violence)
    describe_missing: str = "not known"


#: upper bounds (exclusive) of the age bands, and their labels; the last band is open
AGE_BANDS: tuple[tuple[float, str], ...] = ((18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"))
OLDEST_AGE_BAND = "55+"
UNKNOWN_AGE_BAND = "unknown"


def age_band(age: float | None) -> str:
    """The age band of an age in years (the fairness audit's bands; reasons never give an exact age)."""
    if age is None or age != age:
        return UNKNOWN_AGE_BAND
    for upper, label in AGE_BANDS:
        if age < upper:
            return label
    return OLDEST_AGE_BAND


def age_band_sql(column: str) -> str:
    """:func:`age_band` as a SQL expression over ``column``."""
    cases = " ".join(f"when {column} < {upper:g} then '{label}'" for upper, label in AGE_BANDS)
    return f"case when {column} is null then '{UNKNOWN_AGE_BAND}' {cases} else '{OLDEST_AGE_BAND}' end"


def offence_groups(reference_csv: Path | str = REFERENCE_OFFENCE_CODES) -> list[str]:
    """The offence groups of the reference, sorted, plus ``unknown``."""
    with open(reference_csv, newline="", encoding="utf-8") as f:
        groups = sorted({row["offence_group"].strip() for row in csv.DictReader(f)})
    return groups + [UNKNOWN_GROUP]


def group_measures(groups: list[str]) -> dict[str, str]:
    """Per offence group: count (``g_<group>``) and harm (``gh_<group>``) of the day's charges."""
    out = {}
    for g in groups:
        lit = g.replace("'", "''")
        out[f"g_{g}"] = f"count(*) filter (where c.offence_group = '{lit}')"
        out[f"gh_{g}"] = f"coalesce(sum(c.harm_weight_days) filter (where c.offence_group = '{lit}'), 0)"
    return out


def _words(days: int | None) -> str:
    return "on record" if days is None else f"in the last {days} days"


def feature_catalogue(
    feature_windows: tuple[int, ...] = (90, 365, 730),
    groups: list[str] | None = None,
    harm_window_days: int = 365,
    decay_days: tuple[int, ...] = (45, 90, 180, 365, 730, 1460),
    history_cap_days: int | None = None,
) -> list[Feature]:
    """All features, in a fixed order (the model's column order).

    With ``history_cap_days`` set, no feature looks further back than that
    (no "on record" features, decays cut at the cap), so that a model
    trained when the extract held little history sees the same kind of
    values when it scores a week with years behind it. On the generated
    force that cost more information than it saved (docs/iom.md), so the
    default keeps the whole history the extract holds.
    """
    groups = groups if groups is not None else offence_groups()
    cap = history_cap_days
    if cap is not None and (max(feature_windows) > cap or max(decay_days) > cap):
        raise ValueError("feature windows and decay time constants must not exceed the history cap")
    windows: list[int | None] = list(feature_windows) + ([None] if cap is None else [])
    longest = "all" if cap is None else f"{max(feature_windows)}d"
    longest_words = _words(None if cap is None else max(feature_windows))
    out: list[Feature] = []
    for w in windows:
        tag = "all" if w is None else f"{w}d"
        words = _words(w)
        out.append(Feature(f"n_charges_{tag}", f"{{v}} charges {words}", measure="charges", start_days=w))
        out.append(Feature(f"n_charge_days_{tag}", f"charged on {{v}} separate days {words}", measure="days", start_days=w))
        if w != harm_window_days:  # over the harm window this is the harm score itself
            out.append(Feature(f"harm_{tag}", f"harm of {{v}} days from charges {words}", "harm", measure="harm", start_days=w))
        if w is None:
            out.append(Feature("max_weight_all", "most harmful single charge on record weighs {v} days", "harm",
                               source="sql", sql="max_weight_on_record"))
        else:
            out.append(Feature(f"max_weight_{tag}", f"most harmful single charge {words} weighs {{v}} days", "harm",
                               source="max_weight", start_days=w))
        out += [
            Feature(f"n_violent_{tag}", f"{{v}} violent charges {words}", measure="violent", start_days=w),
            Feature(f"n_weapon_{tag}", f"{{v}} charges involving a weapon {words}", measure="weapon", start_days=w),
            Feature(f"n_knife_{tag}", f"{{v}} charges involving a knife {words}", measure="knife", start_days=w),
            Feature(f"n_serious_violence_{tag}", f"{{v}} serious violence charges {words}", measure="serious_violence",
                    start_days=w),
        ]
    group_windows: list[int | None] = [harm_window_days, None if cap is None else max(feature_windows)]
    for g in groups:
        label = g.replace("_", " ")
        for w in group_windows:
            tag = "all" if w is None else f"{w}d"
            out += [
                Feature(f"n_{g}_{tag}", f"{{v}} {label} charges {_words(w)}", measure=f"g_{g}", start_days=w),
                Feature(f"harm_{g}_{tag}", f"harm of {{v}} days from {label} charges {_words(w)}", "harm",
                        measure=f"gh_{g}", start_days=w),
            ]
    # recency-weighted activity: each charge counts exp(-age / tau), a
    # generic multi-scale summary of how busy and how recent a career is
    for tau in decay_days:
        out.append(
            Feature(f"charges_decay_{tau}d",
                    f"recency-weighted charges {{v}} (each charge counts less with age, time constant {tau} days)",
                    "ratio", source="decay", measure="charges", tau_days=float(tau), start_days=cap)
        )
    for measure, words in (("violent", "violent charges"), ("harm", "harm")):
        for tau in (90, 365):
            out.append(
                Feature(f"{measure}_decay_{tau}d", f"recency-weighted {words} {{v}} (time constant {tau} days)",
                        "ratio", source="decay", measure=measure, tau_days=float(tau), start_days=cap)
            )
    half = harm_window_days // 2
    n_groups_sql = " + ".join(f"cast(n_{g}_{longest} > 0 as integer)" for g in groups)
    since_first = "week - first_charge_date" if cap is None else f"least(week - first_charge_date, {cap})"

    def within_cap(expr: str, date_col: str) -> str:
        return expr if cap is None else f"case when week - {date_col} <= {cap} then {expr} end"

    none_words = "on record" if cap is None else f"in the last {cap} days"
    out += [
        Feature("harm_previous_year", "harm of {v} days from charges in the year before last", "harm",
                measure="harm", start_days=2 * harm_window_days, end_days=harm_window_days),
        Feature("n_charges_previous_year", "{v} charges in the year before last",
                measure="charges", start_days=2 * harm_window_days, end_days=harm_window_days),
        Feature("harm_score_half_year_ago", "harm score of {v} days half a year ago", "harm",
                measure="harm", start_days=harm_window_days + half, end_days=half),
        Feature(f"n_offence_groups_{longest}", f"charged with {{v}} different kinds of offence {longest_words}",
                source="sql", sql=n_groups_sql),
        Feature("harm_score", "current harm score {v} days", "harm", source="sql", sql="harm_score"),
        Feature("days_since_last_charge", "last charged {v} days ago", "days", source="sql", sql="days_since_last_charge"),
        Feature("days_since_first_charge",
                "first charged {v} days ago" if cap is None else f"charged over the last {{v}} days (capped at {cap})",
                "days", source="sql", sql=since_first),
        Feature("days_since_last_violent", "last violent charge {v} days ago", "days", source="sql",
                sql=within_cap("week - last_violent_date", "last_violent_date"),
                describe_missing=f"no violent charge {none_words}"),
        Feature("days_since_last_weapon", "last charge involving a weapon {v} days ago", "days", source="sql",
                sql=within_cap("week - last_weapon_date", "last_weapon_date"),
                describe_missing=f"no weapon charge {none_words}"),
        Feature("days_between_last_two_charges", "{v} days between the last two charge dates", "days", source="sql",
                sql=within_cap("last_charge_day - previous_charge_day", "previous_charge_day"),
                describe_missing=f"charged on one day only {none_words}"),
        Feature("harm_change_on_year", "harm score changed by {v} days on the year before", "harm",
                source="sql", sql="harm_score - harm_previous_year"),
        Feature("charges_per_year", f"{{v}} charges a year since first charged {longest_words}", "ratio",
                source="sql", sql=f"n_charges_{longest} * 365.0 / greatest({since_first}, 90)"),
        Feature("age_at_snapshot", "aged {v}", "years", source="sql", sql="age_at_week", describe_missing="age not known"),
    ]
    if cap is None:
        out.append(Feature("age_at_first_charge", "first charged aged {v}", "years", source="sql",
                           sql="age_at_week - (week - first_charge_date) / 365.25", describe_missing="age not known"))
    out += [
        Feature(f"n_co_defendants_{longest}", f"{{v}} different people charged alongside them {longest_words}",
                source="sql", sql="coalesce(n_co_defendants, 0)"),
        Feature(f"n_shared_crimes_{longest}", f"{{v}} crimes charged together with others {longest_words}",
                source="sql", sql="coalesce(n_shared_crimes, 0)"),
        Feature("co_defendants_max_harm_score", "a co-defendant has a harm score of {v} days", "harm",
                source="sql", sql="coalesce(max_co_defendant_harm, 0)"),
    ]
    names = [f.name for f in out]
    if len(names) != len(set(names)):
        raise ValueError("duplicate feature names in the catalogue")
    return out


#: features whose effect on risk has no settled direction (left free)
_FREE_DIRECTION = {"harm_change_on_year", "days_since_first_charge", "days_between_last_two_charges",
                   "co_defendants_max_harm_score"}


def monotone_direction(feature: Feature) -> int:
    """The direction the risk may move in as the feature grows, for monotone trees (+1, -1, 0 = free).

    More charges, more harm and more recent activity never lower the risk
    of escalation (each charge excites the next and adds to the harm
    window); more days since the last (violent, weapon) charge never raise
    it. Age, career length, trends and co-defendants are left free.
    """
    if feature.name in _FREE_DIRECTION or feature.name.startswith(("n_co_defendants", "n_shared_crimes")):
        return 0
    if feature.kind in ("count", "harm", "ratio"):
        return 1
    if feature.kind == "days":
        return -1
    return 0


def feature_names(features: list[Feature]) -> list[str]:
    return [f.name for f in features]


def format_value(feature: Feature, value: float) -> str:
    """The value as a person would say it (whole numbers for counts and days)."""
    if feature.kind in ("count", "days", "harm"):
        return f"{value:,.0f}"
    if feature.kind == "years":
        return age_band(value)
    return f"{value:.1f}"


def describe(feature: Feature, value) -> str:
    """Plain words for one feature value (``NaN``/``None`` uses ``describe_missing``)."""
    if value is None or value != value:  # NaN
        return feature.describe_missing
    return feature.describe.format(v=format_value(feature, float(value)))
