{#
  Harm score of every charged person on every Monday ("week", the forecast
  date) on which they were charged within the lookback (default 730 days).

  harm_score(week) = sum of harm_weight_days of active charges with
  charge_date in [week - harm_window_days, week). Built set-based so it stays
  cheap at force scale:
    1. per person and charge day, the summed weight and counts;
    2. running totals of those per person;
    3. the Mondays each person is "in the lookback" as islands of
       consecutive weeks (one generate_series per island, not per charge);
    4. two ASOF joins per person-week read the running totals just before
       `week` and just before `week - window`: their difference is the sum
       over the window, with no per-week re-aggregation.
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

running as (
    select
        person_id,
        charge_date,
        sum(day_weight) over by_date as cum_weight,
        sum(day_charges) over by_date as cum_charges,
        sum(day_unknown_charges) over by_date as cum_unknown_charges,
        lag(charge_date) over (partition by person_id order by charge_date) as previous_charge_date
    from charge_days
    window by_date as (partition by person_id order by charge_date rows between unbounded preceding and current row)
),

-- A charge on day c puts the person in the lookback on Mondays w with
-- c < w <= c + lookback. Consecutive charges closer than the lookback
-- belong to one island of weeks.
island_starts as (
    select
        person_id,
        charge_date,
        sum(case when previous_charge_date is null
                   or charge_date > previous_charge_date + {{ lookback_days }}
                 then 1 else 0 end)
            over (partition by person_id order by charge_date rows between unbounded preceding and current row)
            as island_id
    from running
),

islands as (
    select
        person_id,
        island_id,
        cast(date_trunc('week', min(charge_date)) as date) + 7 as first_week,
        least(max(charge_date) + {{ lookback_days }}, (select week from latest_week)) as last_day
    from island_starts
    group by person_id, island_id
),

person_weeks as (
    select
        person_id,
        cast(unnest(generate_series(first_week, last_day, interval 7 day)) as date) as week
    from islands
    where first_week <= last_day
),

bounds as (
    select
        person_id,
        week,
        week - {{ window_days }} as window_start,
        week - {{ lookback_days }} as lookback_start
    from person_weeks
),

scored as (
    select
        bounds.person_id,
        bounds.week,
        coalesce(upto_week.cum_weight, 0) - coalesce(before_window.cum_weight, 0) as harm_score,
        coalesce(upto_week.cum_charges, 0) - coalesce(before_window.cum_charges, 0) as charges_in_window,
        coalesce(upto_week.cum_unknown_charges, 0) - coalesce(before_window.cum_unknown_charges, 0)
            as unknown_code_charges_in_window,
        coalesce(upto_week.cum_charges, 0) - coalesce(before_lookback.cum_charges, 0) as charges_in_lookback,
        upto_week.charge_date as last_charge_date
    from bounds
    asof left join running as upto_week
        on bounds.person_id = upto_week.person_id and bounds.week > upto_week.charge_date
    asof left join running as before_window
        on bounds.person_id = before_window.person_id and bounds.window_start > before_window.charge_date
    asof left join running as before_lookback
        on bounds.person_id = before_lookback.person_id and bounds.lookback_start > before_lookback.charge_date
)

select
    person_id,
    week,
    cast(harm_score as double) as harm_score,
    cast(charges_in_window as integer) as charges_in_window,
    cast(unknown_code_charges_in_window as integer) as unknown_code_charges_in_window,
    cast(charges_in_lookback as integer) as charges_in_lookback,
    last_charge_date
from scored
where charges_in_lookback > 0
