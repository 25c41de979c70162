{#
  Harm score and band of every charged person on every Monday on which they
  were charged within the lookback, with IOM eligibility (not yet high harm).
  Bands (lower bounds inclusive, harm days; dbt vars with the published
  defaults, mirrored in wmp_pipeline.harm.bands):
    low < 10 <= low_medium < 100 <= high_medium < 365 <= high < 1825 <= super_high
  Holds person_id: working database only, never published to analysts.
#}
{%- set low_medium_from = var('band_low_medium_from', 10) -%}
{%- set high_medium_from = var('band_high_medium_from', 100) -%}
{%- set high_from = var('band_high_from', 365) -%}
{%- set super_high_from = var('band_super_high_from', 1825) -%}

with person_weeks as (
    select * from {{ ref('int_iom__person_weeks') }}
),

persons as (
    select person_id, date_of_birth from {{ ref('stg_connect__persons') }}
),

banded as (
    select
        person_weeks.person_id,
        person_weeks.week,
        person_weeks.harm_score,
        case
            when person_weeks.harm_score >= {{ super_high_from }} then 'super_high'
            when person_weeks.harm_score >= {{ high_from }} then 'high'
            when person_weeks.harm_score >= {{ high_medium_from }} then 'high_medium'
            when person_weeks.harm_score >= {{ low_medium_from }} then 'low_medium'
            else 'low'
        end as band,
        case
            when person_weeks.harm_score >= {{ super_high_from }} then 5
            when person_weeks.harm_score >= {{ high_from }} then 4
            when person_weeks.harm_score >= {{ high_medium_from }} then 3
            when person_weeks.harm_score >= {{ low_medium_from }} then 2
            else 1
        end as band_order,
        person_weeks.harm_score >= {{ high_from }} as is_high_harm,
        person_weeks.harm_score < {{ high_from }} as is_eligible,
        person_weeks.charges_in_window,
        person_weeks.unknown_code_charges_in_window,
        person_weeks.charges_in_lookback,
        person_weeks.last_charge_date,
        person_weeks.week - person_weeks.last_charge_date as days_since_last_charge,
        case
            when persons.date_of_birth is not null
                then cast(date_diff('year', persons.date_of_birth, person_weeks.week)
                     -- birthday not yet reached this year (month/day compared as numbers, not strings)
                     - case when month(person_weeks.week) * 100 + day(person_weeks.week)
                                 < month(persons.date_of_birth) * 100 + day(persons.date_of_birth)
                            then 1 else 0 end as integer)
        end as age_at_week
    from person_weeks
    left join persons on person_weeks.person_id = persons.person_id
)

select * from banded
