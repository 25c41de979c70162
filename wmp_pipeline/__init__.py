"""West Midlands Police analytics pipeline: IOM escalation risk and 4-week
knife-crime / serious-violence hotspot prediction, fed by weekly CONNECT drops.

The Dagster code location is :mod:`wmp_pipeline.definitions`.
"""

__version__ = "0.1.0"
