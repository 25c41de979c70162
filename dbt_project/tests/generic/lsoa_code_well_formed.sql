{#
  Fails for values that are not an LSOA code: E01 followed by six digits.
  Nulls pass (use not_null for those).
#}
{% test lsoa_code_well_formed(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not regexp_full_match({{ column_name }}, '^E01[0-9]{6}$')
{% endtest %}
