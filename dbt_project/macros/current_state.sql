{#
  Current state of each record of a CONNECT table: the newest delivered row
  per key among the latest full extract and every delta after it, ordered by
  extract date, then last_modified, then row number. A record whose newest
  row says `deleted` is removed; a record absent from the latest full
  extract (and not re-delivered since) is removed, as the contract says.
#}
{% macro current_state(source_relation, key) %}
latest_full as (
    select max(extract_date) as extract_date
    from {{ source('connect', 'connect_drop_log') }}
    where extract_type = 'full'
),

delivered as (
    select *
    from {{ source_relation }}
    where _extract_date >= (select extract_date from latest_full)
),

newest as (
    select *
    from delivered
    qualify row_number() over (
        partition by {{ key }}
        order by _extract_date desc, last_modified desc, _row_number desc
    ) = 1
),

current_state as (
    select * from newest where record_status <> 'deleted'
)
{% endmacro %}
