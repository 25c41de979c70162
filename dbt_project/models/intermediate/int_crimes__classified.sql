-- Every active (not cancelled) crime with its reference classification and
-- the target and signal flags the hotspot models use. Unknown offence codes
-- are kept (offence_group = 'unknown') and reported by mart_unknown_offence_codes.
with crimes as (
    select * from {{ ref('stg_connect__crimes') }}
    where record_status = 'active'
),

offences as (
    select * from {{ ref('ref_offence_codes') }}
),

classified as (
    select
        crimes.crime_id,
        crimes.offence_code,
        crimes.recorded_at,
        crimes.committed_from,
        crimes.committed_to,
        cast(crimes.committed_from as date) as committed_date,
        cast(crimes.recorded_at as date) as recorded_date,
        crimes.easting,
        crimes.northing,
        crimes.lsoa_code,
        crimes.weapon_type,
        crimes.weapon_used,
        crimes.injury_level,
        offences.offence_code is not null as is_known_offence_code,
        coalesce(offences.offence_group, 'unknown') as offence_group,
        offences.harm_weight_days,
        coalesce(offences.is_serious_violence, false) as is_serious_violence,
        coalesce(offences.is_violence_with_injury, false) as is_violence_with_injury,
        coalesce(offences.offence_group = 'robbery', false) as is_robbery,
        coalesce(offences.offence_group = 'possession_of_weapons', false) as is_weapon_possession,
        coalesce(offences.is_related_lead, false) as is_related_lead,
        -- The contract's rule for knife crime used causing injury.
        (
            crimes.weapon_type = 'knife_or_sharp_instrument'
            and crimes.weapon_used = 'Y'
            and crimes.injury_level in ('minor', 'serious', 'fatal')
        ) as is_knife_injury,
        crimes.easting is not null and crimes.northing is not null as has_location,
        crimes.source_drop_id
    from crimes
    left join offences on crimes.offence_code = offences.offence_code
)

select * from classified
