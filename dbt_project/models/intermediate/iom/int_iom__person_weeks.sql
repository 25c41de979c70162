{#
  Harm score of every charged person on every Monday ("week", the forecast
  date) on which they were charged within the lookback (default 730 days).

  harm_score(week) = sum of harm_weight_days of active charges with
  charge_date in [week - harm_window_days, week). Built set-based so it stays
  cheap at force scale, with no join on the (large) person-week grain:
    1. per person and charge day, the summed weight and counts;
    2. each charge day changes a person's scores on three Mondays only: it
       enters the window and the lookback on the first Monday after it
       (`week > charge_date`), leaves the window on the first Monday after
       charge_date + window, and the lookback on the first Monday after
       charge_date + lookback;
    3. running sums of those changes give the scores from each change week
       until the next one (a few rows per person);
    4. each such span is expanded into its Mondays (one generate_series per
       span), keeping the spans with a charge in the lookback.
  Weeks run up to the Monday of the newest applied CONNECT drop.
#}
{%- set window_days = var('harm_window_days', 365) | int -%}
{%- set lookback_days = var('harm_lookback_days', 730) | int -%}

with charges as (
    select person_id, charge_date, harm_weight_days, is_known_offence_code
    from {{ ref('int_charges__harm') }}
),

latest_week as (
    -- the Monday on or before the newest drop's extract date
    select cast(date_trunc('week', max(extract_date)) as date) as week
    from {{ source('connect', 'connect_drop_log') }}
),

charge_days as (
    select
        person_id,
        charge_date,
        sum(harm_weight_days) as day_weight,
        count(*) as day_charges,
        count(*) filter (where not is_known_offence_code) as day_unknown_charges
    from charges
    group by person_id, charge_date
),

-- The first Monday strictly after day d is date_trunc('week', d) + 7.
changes as (
    -- enters the window and the lookback
    select
        person_id,
        cast(date_trunc('week', charge_date) as date) + 7 as week,
        day_weight as d_weight,
        day_charges as d_window,
        day_unknown_charges as d_unknown,
        day_charges as d_lookback,
        charge_date
    from charge_days
    union all
    -- leaves the window
    select
        person_id,
        cast(date_trunc('week', charge_date + {{ window_days }}) as date) + 7,
        -day_weight, -day_charges, -day_unknown_charges, 0, null
    from charge_days
    union all
    -- leaves the lookback
    select
        person_id,
        cast(date_trunc('week', charge_date + {{ lookback_days }}) as date) + 7,
        0, 0, 0, -day_charges, null
    from charge_days
),

change_weeks as (
    select
        person_id,
        week,
        sum(d_weight) as d_weight,
        sum(d_window) as d_window,
        sum(d_unknown) as d_unknown,
        sum(d_lookback) as d_lookback,
        max(charge_date) as newest_charge_date
    from changes
    group by person_id, week
),

spans as (
    select
        person_id,
        week as first_week,
        lead(week) over (partition by person_id order by week) as next_change_week,
        sum(d_weight) over upto as harm_score,
        sum(d_window) over upto as charges_in_window,
        sum(d_unknown) over upto as unknown_code_charges_in_window,
        sum(d_lookback) over upto as charges_in_lookback,
        max(newest_charge_date) over upto as last_charge_date
    from change_weeks
    window upto as (partition by person_id order by week rows between unbounded preceding and current row)
),

person_weeks as (
    select
        person_id,
        cast(unnest(generate_series(
            first_week,
            least(coalesce(next_change_week - 7, (select week from latest_week)), (select week from latest_week)),
            interval 7 day
        )) as date) as week,
        harm_score,
        charges_in_window,
        unknown_code_charges_in_window,
        charges_in_lookback,
        last_charge_date
    from spans
    where charges_in_lookback > 0
      and first_week <= (select week from latest_week)
)

select
    person_id,
    week,
    cast(harm_score as double) as harm_score,
    cast(charges_in_window as integer) as charges_in_window,
    cast(unknown_code_charges_in_window as integer) as unknown_code_charges_in_window,
    cast(charges_in_lookback as integer) as charges_in_lookback,
    last_charge_date
from person_weeks
