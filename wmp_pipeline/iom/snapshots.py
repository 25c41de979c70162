"""Weekly offender snapshots: features, label and audit attributes, set-based in DuckDB.

One row per eligible person (charged in the lookback, not yet high harm)
and snapshot date ``week``. Everything is computed by a few SQL statements
from the dbt models ``iom_offender_week`` and ``int_charges__harm`` and the
persons' current state; no Python loop touches a person.

Time rules (see ``docs/iom.md``):

- the snapshot is built *as of* a forecast date ``as_of``: charges dated on
  or after ``as_of`` are invisible, even when a later drop holds them, so a
  re-run of an old partition sees what that week's run saw (apart from
  corrections CONNECT made since);
- features at ``week`` use only charges dated before ``week``;
- the label uses charges dated in ``[week - window + 1, week + horizon)``
  and is NULL unless the horizon is complete (``week + horizon <= as_of``).
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from wmp_pipeline.iom.config import DEFAULT_CONFIG, IomConfig
from wmp_pipeline.iom.features import BASE_MEASURES, Feature, age_band_sql, feature_catalogue, group_measures, offence_groups

#: columns of the snapshot table besides the features
KEY_COLUMNS = ["person_id", "week"]
INFO_COLUMNS = ["band"]
LABEL_COLUMNS = ["label", "horizon_complete", "first_high_harm_date", "in_training_sample", "sample_weight"]
AUDIT_COLUMNS = ["sex", "ethnicity_group", "age_band"]



def ethnicity_group_sql(column: str) -> str:
    """Self-defined ethnicity code -> W, M, A, B, O; NS and missing -> NS (not stated)."""
    return (
        f"case when {column} is null or upper({column}) = 'NS' then 'NS' "
        f"when upper(left({column}, 1)) in ('W', 'M', 'A', 'B', 'O') then upper(left({column}, 1)) "
        f"else 'NS' end"
    )


def newest_complete_monday(as_of: date, horizon_days: int) -> date:
    """The latest Monday ``d`` with ``d + horizon_days <= as_of`` (its outcome is fully known)."""
    last = as_of - timedelta(days=horizon_days)
    return last - timedelta(days=last.weekday())


def snapshot_dates(as_of: date, first_data_date: date, config: IomConfig = DEFAULT_CONFIG) -> list[date]:
    """The scoring week ``as_of`` plus the labelled snapshot dates.

    Labelled dates run back every ``snapshot_stride_weeks`` from the newest
    Monday whose horizon is complete (the same anchor as the generator's
    ground truth), down to ``first_data_date + min_history_days``. Dates in
    between whose outcome is still open would only be scored, so they are
    not built.
    """
    if as_of.weekday() != 0:
        raise ValueError(f"snapshot dates are Mondays; {as_of} is not")
    earliest = first_data_date + timedelta(days=config.min_history_days)
    step = timedelta(weeks=config.snapshot_stride_weeks)
    out, d = [as_of], newest_complete_monday(as_of, config.windows.horizon_days)
    while d >= earliest:
        out.append(d)
        d -= step
    return sorted(set(out))


#: columns the ``sql`` features may use besides the window features
CONTEXT_COLUMNS = [
    "week",
    "harm_score",
    "days_since_last_charge",
    "age_at_week",
    "first_charge_date",
    "last_violent_date",
    "last_weapon_date",
    "last_charge_day",
    "previous_charge_day",
    "max_weight_on_record",
    "n_co_defendants",
    "n_shared_crimes",
    "max_co_defendant_harm",
]


def _decay_name(f: Feature) -> str:
    return f"decay_{f.measure}_{int(f.tau_days)}"


def _cum(alias: str, measure: str) -> str:
    return f"coalesce({alias}.cum_{measure}, 0)"


def snapshot_statements(
    config: IomConfig = DEFAULT_CONFIG,
    features: list[Feature] | None = None,
    table: str = "iom_snapshots",
) -> list[str]:
    """The SQL statements building ``table``, run in order on one connection.

    Parameters: ``$as_of`` (DATE), ``$weeks`` (DATE[], all snapshot dates),
    ``$full_weeks`` (DATE[], dates whose negatives are all kept: test weeks
    and the scoring week) and ``$negative_rate`` (share of other dates'
    negatives kept). Intermediate results are temporary tables named
    ``_iom_*``; materialising them is much faster than one large CTE.
    """
    groups = offence_groups()
    features = features if features is not None else feature_catalogue(
        config.feature_windows_days, groups, config.windows.window_days, history_cap_days=config.history_cap_days
    )
    if not any(f.name == "age_at_snapshot" for f in features):
        raise ValueError("the fairness audit needs the age_at_snapshot feature")
    window = config.windows.window_days
    horizon = config.windows.horizon_days
    high = config.thresholds.high_min
    measures = {**BASE_MEASURES, **group_measures(groups)}

    window_feats = [f for f in features if f.source == "window"]
    decay_feats = [f for f in features if f.source == "decay"]
    max_feats = [f for f in features if f.source == "max_weight"]
    # decayed sums: per charge day, measure * exp((day - as_of) / tau); at a
    # snapshot, the running total times exp((as_of - week) / tau)
    decay_measures = {
        _decay_name(f): f"{measures[f.measure]} * exp((c.charge_date - $as_of) / {f.tau_days!r})" for f in decay_feats
    }
    unknown = {f.measure for f in window_feats + decay_feats} - set(measures)
    if unknown:
        raise ValueError(f"features use unknown measures {sorted(unknown)}")
    offsets = sorted(
        {0}
        | {f.end_days for f in window_feats}
        | {f.start_days for f in window_feats + decay_feats if f.start_days}
    )
    max_window = max([f.start_days for f in max_feats], default=1)

    all_measures = {**measures, **decay_measures}
    day_measures = ",\n            ".join(f"{sql} as m_{name}" for name, sql in all_measures.items())
    running_sums = ",\n            ".join(f"sum(m_{name}) over by_date as cum_{name}" for name in all_measures)
    index_counts = ",\n            ".join(
        f"count(*) filter (where d.charge_date < s.week - {o}) as idx_{o}" for o in offsets
    )
    max_aggs = ",\n            ".join(
        f"coalesce(max(d.day_max_weight) filter (where d.charge_date >= s.week - {f.start_days}), 0) as {f.name}"
        for f in max_feats
    )
    offset_joins = "\n        ".join(
        f"left join _iom_running as r{o} on r{o}.person_id = i.person_id and r{o}.day_index = i.idx_{o}"
        for o in offsets
    )

    def decay_expr(f: Feature) -> str:
        upper = _cum("r0", _decay_name(f))
        return upper if f.start_days is None else f"{upper} - {_cum(f'r{f.start_days}', _decay_name(f))}"

    def window_expr(f: Feature) -> str:
        upper = _cum(f"r{f.end_days}", f.measure)
        return upper if f.start_days is None else f"{upper} - {_cum(f'r{f.start_days}', f.measure)}"

    windowed_cols = ",\n            ".join(
        [f"cast({window_expr(f)} as double) as {f.name}" for f in window_feats]
        + [f"cast(({decay_expr(f)}) * exp(($as_of - s.week) / {f.tau_days!r}) as double) as {f.name}" for f in decay_feats]
        + [f"cast(i.{f.name} as double) as {f.name}" for f in max_feats]
    )
    featured_cols = ",\n            ".join(
        (f"w.{f.name}" if f.source != "sql" else f"cast({f.sql} as double) as {f.name}") for f in features
    )

    return [
        # eligible person-weeks on the snapshot dates, with the label (cheap) first
        # so that negatives can be sampled before the expensive features
        f"""
        create or replace temp table _iom_charges as
        select person_id, crime_id, charge_date, offence_group, harm_weight_days,
               is_known_offence_code, is_violent, is_weapon, is_knife, is_serious_violence
        from int_charges__harm
        where charge_date < $as_of
        """,
        f"""
        create or replace temp table _iom_charge_days as
        select
            c.person_id,
            c.charge_date,
            {day_measures},
            max(c.harm_weight_days) as day_max_weight,
            bool_or(c.is_violent) as any_violent,
            bool_or(c.is_weapon) as any_weapon
        from _iom_charges as c
        group by c.person_id, c.charge_date
        """,
        # label: the first charge day on or after the snapshot whose trailing
        # window (charge days in [c - window + 1, c]) reaches the high threshold
        f"""
        create or replace temp table _iom_high_events as
        select person_id, charge_date
        from (
            select person_id, charge_date,
                   sum(m_harm) over (
                       partition by person_id order by charge_date
                       range between interval {window - 1} days preceding and current row
                   ) as trailing_harm
            from _iom_charge_days
        )
        where trailing_harm >= {high}
        """,
        f"""
        create or replace temp table _iom_base as
        with eligible as (
            select w.person_id, w.week, w.harm_score, w.band, w.days_since_last_charge, w.age_at_week
            from iom_offender_week as w
            where w.is_eligible and w.week <= $as_of
              and w.week in (select cast(unnest($weeks) as date))
        ),
        labelled as (
            select e.*, h.charge_date as next_high_event
            from eligible as e
            asof left join _iom_high_events as h on e.person_id = h.person_id and e.week <= h.charge_date
        ),
        marked as (
            select *,
                case when week + {horizon} <= $as_of
                     then cast(next_high_event is not null and next_high_event < week + {horizon} as integer)
                end as label,
                week + {horizon} <= $as_of as horizon_complete,
                case when next_high_event < week + {horizon} then next_high_event end as first_high_harm_date,
                (hash(person_id, week) % 1000000) / 1000000.0 < $negative_rate as sampled
            from labelled
        )
        select
            person_id, week, harm_score, band, days_since_last_charge, age_at_week,
            label, horizon_complete, first_high_harm_date,
            horizon_complete and (label = 1 or sampled) as in_training_sample,
            case when label = 0 then 1.0 / $negative_rate else 1.0 end as sample_weight
        from marked
        where week in (select cast(unnest($full_weeks) as date)) or label = 1 or sampled
        """,
        # running totals per person over charge days, numbered by day; a
        # window sum is the difference of two running totals
        f"""
        create or replace temp table _iom_running as
        select
            person_id,
            charge_date,
            row_number() over by_date as day_index,
            {running_sums},
            max(day_max_weight) over by_date as max_weight_on_record,
            max(case when any_violent then charge_date end) over by_date as last_violent_date,
            max(case when any_weapon then charge_date end) over by_date as last_weapon_date,
            min(charge_date) over (partition by person_id) as first_charge_date,
            lag(charge_date) over (partition by person_id order by charge_date) as previous_charge_day
        from _iom_charge_days
        window by_date as (partition by person_id order by charge_date
                           rows between unbounded preceding and current row)
        """,
        # for each snapshot: how many charge days lie before week - offset
        # (the row of the running totals to read) and the window maxima
        f"""
        create or replace temp table _iom_index as
        select
            s.person_id,
            s.week,
            {index_counts},
            {max_aggs}
        from _iom_base as s
        join _iom_charge_days as d on d.person_id = s.person_id and d.charge_date < s.week
        group by s.person_id, s.week
        """,
        # co-defendants: other people charged for the same crime; a pair is
        # known once both charges are dated before the snapshot
        f"""
        create or replace temp table _iom_co as
        with pairs as (
            select a.person_id, b.person_id as other_id, a.crime_id,
                   greatest(a.charge_date, b.charge_date) as known_date
            from _iom_charges as a
            join _iom_charges as b on a.crime_id = b.crime_id and a.person_id <> b.person_id
            where a.crime_id is not null
        ),
        pair_snap as (
            select s.person_id, s.week, p.other_id, p.crime_id
            from _iom_base as s
            join pairs as p on p.person_id = s.person_id and p.known_date < s.week
              {"" if config.history_cap_days is None else f"and p.known_date >= s.week - {config.history_cap_days}"}
        )
        select ps.person_id, ps.week,
               count(distinct ps.other_id) as n_co_defendants,
               count(distinct ps.crime_id) as n_shared_crimes,
               max(coalesce(o.harm_score, 0)) as max_co_defendant_harm
        from pair_snap as ps
        left join iom_offender_week as o on o.person_id = ps.other_id and o.week = ps.week
        group by ps.person_id, ps.week
        """,
        f"""
        create or replace table {table} as
        select
            w.person_id,
            w.week,
            w.band,
            {featured_cols},
            label,
            horizon_complete,
            first_high_harm_date,
            in_training_sample,
            sample_weight,
            audit_sex as sex,
            audit_ethnicity_group as ethnicity_group,
            audit_age_band as age_band
        from (
            select
                s.person_id,
                s.week,
                s.band,
                s.harm_score,
                s.days_since_last_charge,
                s.age_at_week,
                r0.first_charge_date,
                r0.last_violent_date,
                r0.last_weapon_date,
                r0.charge_date as last_charge_day,
                r0.previous_charge_day,
                r0.max_weight_on_record,
                co.n_co_defendants,
                co.n_shared_crimes,
                co.max_co_defendant_harm,
                {windowed_cols},
                s.label,
                s.horizon_complete,
                s.first_high_harm_date,
                s.in_training_sample,
                s.sample_weight,
                coalesce(p.sex, 'U') as audit_sex,
                {ethnicity_group_sql('p.self_defined_ethnicity')} as audit_ethnicity_group,
                {age_band_sql('s.age_at_week')} as audit_age_band
            from _iom_base as s
            join _iom_index as i on i.person_id = s.person_id and i.week = s.week
            {offset_joins}
            left join _iom_co as co on co.person_id = s.person_id and co.week = s.week
            left join stg_connect__persons as p on p.person_id = s.person_id
        ) as w
        """,
    ]


TEMP_TABLES = (
    "_iom_charges",
    "_iom_charge_days",
    "_iom_high_events",
    "_iom_base",
    "_iom_running",
    "_iom_index",
    "_iom_co",
)


def build_snapshots(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    weeks: list[date],
    full_weeks: list[date] | None = None,
    negative_rate: float = 1.0,
    config: IomConfig = DEFAULT_CONFIG,
    table: str = "iom_snapshots",
    progress=None,
) -> int:
    """(Re)create ``table`` with the snapshots of ``weeks`` as of ``as_of``; returns its row count.

    On ``weeks`` not in ``full_weeks`` only a deterministic
    ``negative_rate`` share of the negatives (label 0) is kept; positives,
    unlabelled rows (incomplete horizon) and every row of ``full_weeks``
    are always kept. ``sample_weight`` (1 / rate for negatives) restores
    the population when a kept sample is used for calibration or rates.
    """
    if not 0 < negative_rate <= 1:
        raise ValueError(f"negative_rate must be in (0, 1], got {negative_rate}")
    params = {
        "as_of": as_of,
        "weeks": list(weeks),
        "full_weeks": list(full_weeks if full_weeks is not None else weeks),
        "negative_rate": float(negative_rate),
    }
    try:
        for statement in snapshot_statements(config, table=table):
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            con.execute(statement, used or None).fetchall()
            if progress is not None:
                progress.update(1)
    finally:
        for temp in TEMP_TABLES:
            con.execute(f"drop table if exists {temp}").fetchall()
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def first_charge_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The earliest charge in the data (start of the usable history)."""
    return con.execute("select min(charge_date) from int_charges__harm").fetchall()[0][0]
