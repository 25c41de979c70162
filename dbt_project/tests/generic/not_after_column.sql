{#
  Fails for rows where `column_name` is later than `other_column` by more
  than `tolerance_days` (for example a crime committed after it was recorded).
#}
{% test not_after_column(model, column_name, other_column, tolerance_days=0) %}
select {{ column_name }}, {{ other_column }}
from {{ model }}
where {{ column_name }} is not null and {{ other_column }} is not null
  and {{ column_name }} > {{ other_column }} + interval ({{ tolerance_days }}) day
{% endtest %}
