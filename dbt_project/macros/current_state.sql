{#
  Current state of each record of a CONNECT table, the same whatever order the
  drops arrived in (docs/data_quality.md, "Order of drops"):

  - the state is built from the latest full extract *by extract date* and every
    drop (delta, or a later full) dated after it. A full extract is a complete
    snapshot on its date, so a record absent from it (and not delivered by any
    later-dated drop) is removed, and any drop dated before it is superseded by
    it. A late full drop (one that arrives after later-dated drops) therefore
    only replaces the state if it is the newest full extract by date; the
    later-dated deltas still apply on top of it;
  - each record's version is its newest by its own `last_modified`; equal
    timestamps are broken by extract date, then row number (both fixed by the
    drop, not by when it arrived);
  - a record whose newest version says `deleted` is removed.

  wmp_pipeline.ingest.load.current_state_counts applies the same rule in Python
  (for the volume check of a full drop); a test keeps the two in step.
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
        order by last_modified desc, _extract_date desc, _row_number desc
    ) = 1
),

current_state as (
    select * from newest where record_status <> 'deleted'
)
{% endmacro %}
