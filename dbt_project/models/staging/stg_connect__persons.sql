with {{ current_state(source('connect', 'connect_persons'), 'person_id') }},

renamed as (
    select
        person_id,
        date_of_birth,
        sex,
        self_defined_ethnicity,
        home_lsoa_code,
        last_modified,
        record_status,
        _drop_id as source_drop_id
    from current_state
)

select * from renamed
