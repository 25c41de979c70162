with {{ current_state(source('connect', 'connect_charges'), 'charge_id') }},

renamed as (
    select
        charge_id,
        person_id,
        crime_id,
        charge_date,
        offence_code,
        last_modified,
        record_status,
        _drop_id as source_drop_id
    from current_state
)

select * from renamed
