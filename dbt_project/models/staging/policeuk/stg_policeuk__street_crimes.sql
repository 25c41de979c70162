{#
  The raw table is created by the police.uk loader. The pre-hooks create it
  empty (same layout as wmp_pipeline.policeuk.loader.STREET_SCHEMA; a test
  compares them) when no police.uk folder has been loaded, so that this view
  builds in every `dbt build`, with or without police.uk data.
#}
{{ config(pre_hook=[
    "create schema if not exists raw",
    "create table if not exists raw.policeuk_street (crime_id VARCHAR, month VARCHAR, reported_by VARCHAR, falls_within VARCHAR, longitude DOUBLE, latitude DOUBLE, location VARCHAR, lsoa_code VARCHAR, lsoa_name VARCHAR, crime_type VARCHAR, last_outcome_category VARCHAR, context VARCHAR, easting DOUBLE, northing DOUBLE, _file_name VARCHAR, _file_month VARCHAR, _force_slug VARCHAR, _row_number INTEGER, _loaded_at TIMESTAMP, _file_sha256 VARCHAR)"
]) }}

with source as (
    select * from {{ source('policeuk', 'policeuk_street') }}
),

renamed as (
    select
        _force_slug || '/' || _file_month || '/' || cast(_row_number as varchar) as street_crime_key,
        crime_id,
        cast(strptime(coalesce(month, _file_month) || '-01', '%Y-%m-%d') as date) as month,
        cast(last_day(strptime(coalesce(month, _file_month) || '-01', '%Y-%m-%d')) as date) as month_end,
        crime_type,
        falls_within as force_name,
        _force_slug as force_slug,
        reported_by,
        (easting is not null and northing is not null) as has_location,
        longitude,
        latitude,
        easting,
        northing,
        location as location_description,
        lsoa_code,
        lsoa_name,
        nullif(regexp_replace(lsoa_name, '\s+[0-9]{3}[A-Z]$', ''), '') as local_authority,
        last_outcome_category,
        context,
        _file_name as source_file_name,
        _row_number as source_row_number,
        _file_sha256 as source_file_sha256,
        _loaded_at as loaded_at
    from source
)

select * from renamed
