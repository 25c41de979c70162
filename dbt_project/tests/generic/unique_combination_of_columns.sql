{#
  Fails for every combination of `combination_of_columns` held by more than
  one row (dbt_utils' test of the same name). Grouping on the columns
  themselves is about twice as fast as `unique` on a concatenated text key
  for the 13-million-row person-week tables at force scale.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_records
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
