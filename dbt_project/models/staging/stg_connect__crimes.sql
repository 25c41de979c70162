with {{ current_state(source('connect', 'connect_crimes'), 'crime_id') }},

renamed as (
    select
        crime_id,
        offence_code,
        offence_description,
        recorded_at,
        committed_from,
        committed_to,
        easting,
        northing,
        lsoa_code,
        weapon_type,
        weapon_used,
        injury_level,
        last_modified,
        record_status,
        _drop_id as source_drop_id
    from current_state
)

select * from renamed
