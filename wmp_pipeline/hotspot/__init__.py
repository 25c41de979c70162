"""Source-agnostic hotspot forecasting: cells, panel, count models, baselines, backtest.

The public API is :mod:`wmp_pipeline.hotspot.engine`; the CONNECT adapter is
:mod:`wmp_pipeline.hotspot.connect_source`; the weekly steps on the working
database are in :mod:`wmp_pipeline.hotspot.runner`. See docs/hotspot.md.
"""
