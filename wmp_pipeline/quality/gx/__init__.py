"""Great Expectations suites on the raw CONNECT tables, one concern per module.

- :mod:`.suites`: loading ``expectations/connect_<table>.json`` and its run-time parameters;
- :mod:`.results`: the result types (serialisable);
- :mod:`.sampling`: reading one drop's rows from DuckDB (with a key-hash sample for big drops);
- :mod:`.runner`: running a suite with GX 1.x on a DataFrame / on one drop;
- :mod:`.store`: the results of each drop kept in DuckDB, so a suite runs once per drop.

What is validated is each **applied drop** on its own (``_drop_id``): ingest
validates every drop it applies (:func:`.store.drop_validator`), and the asset
checks and the data-quality summary read those stored results.
"""
