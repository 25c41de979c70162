{#
  A model-level warning test: fails (warns) when the model has any row.
  Used on report models whose rows each need a human look.
#}
{% test has_no_rows(model) %}
select * from {{ model }}
{% endtest %}
