"""police.uk street-level crime: a public second source for the hotspot engine.

* :mod:`~wmp_pipeline.policeuk.files`: find and read ``<YYYY-MM>-<force>-street.csv[.gz]`` files;
* :mod:`~wmp_pipeline.policeuk.coordinates`: WGS84 longitude/latitude to British National Grid;
* :mod:`~wmp_pipeline.policeuk.loader`: idempotent load into ``raw.policeuk_street`` (+ file ledger);
* :mod:`~wmp_pipeline.policeuk.staging`: dbt build of ``stg_policeuk__street_crimes``;
* :mod:`~wmp_pipeline.policeuk.events`: the staging model as the engine's events (monthly);
* :mod:`~wmp_pipeline.policeuk.backtest`: the rolling-origin backtest (hit rate / PAI);
* :mod:`~wmp_pipeline.policeuk.pooling`: a force's model trained alone or on several forces (measured, recorded);
* :mod:`~wmp_pipeline.policeuk.forecast`: next month's forecast, trained as recorded;
* :mod:`~wmp_pipeline.policeuk.cli`: ``wmp policeuk-backtest`` and ``wmp policeuk-pooling``.

See docs/policeuk.md.
"""
