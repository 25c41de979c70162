-- Every active charge with the harm weight of its offence code and the
-- offence flags the IOM features use. Unknown codes weigh 0 and are flagged.
with charges as (
    select * from {{ ref('stg_connect__charges') }}
),

offences as (
    select * from {{ ref('ref_offence_codes') }}
),

crimes as (
    select crime_id, weapon_type, weapon_used, injury_level
    from {{ ref('stg_connect__crimes') }}
),

harm as (
    select
        charges.charge_id,
        charges.person_id,
        charges.crime_id,
        charges.charge_date,
        charges.offence_code,
        offences.offence_code is not null as is_known_offence_code,
        coalesce(offences.offence_group, 'unknown') as offence_group,
        coalesce(offences.harm_weight_days, 0) as harm_weight_days,
        coalesce(offences.offence_group in ('homicide', 'violence_with_injury', 'violence_without_injury', 'robbery'), false) as is_violent,
        coalesce(offences.offence_group = 'possession_of_weapons', false)
            or coalesce(crimes.weapon_type not in ('none', 'unknown'), false) as is_weapon,
        coalesce(crimes.weapon_type = 'knife_or_sharp_instrument', false) as is_knife,
        coalesce(offences.is_serious_violence, false) as is_serious_violence
    from charges
    left join offences on charges.offence_code = offences.offence_code
    left join crimes on charges.crime_id = crimes.crime_id
)

select * from harm
