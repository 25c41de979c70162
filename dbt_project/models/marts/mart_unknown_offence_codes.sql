-- Offence codes seen in crimes or charges that the reference does not know:
-- kept in the data, reported here so the reference can be extended.
with crime_codes as (
    select offence_code, 'crimes' as seen_in, count(*) as n_records,
        min(recorded_at)::date as first_seen, max(recorded_at)::date as last_seen
    from {{ ref('stg_connect__crimes') }}
    group by offence_code
),

charge_codes as (
    select offence_code, 'charges' as seen_in, count(*) as n_records,
        min(charge_date) as first_seen, max(charge_date) as last_seen
    from {{ ref('stg_connect__charges') }}
    group by offence_code
),

seen as (
    select * from crime_codes
    union all
    select * from charge_codes
)

select seen.*
from seen
left join {{ ref('ref_offence_codes') }} as offences using (offence_code)
where offences.offence_code is null
order by n_records desc
