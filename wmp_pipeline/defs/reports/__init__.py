"""What people see: the weekly briefing, the transparency record and the analysts' dbt docs."""
