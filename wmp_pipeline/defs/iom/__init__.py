"""IOM assets (snapshots, escalation model, fairness audit, weekly risk scores): see assets.py."""

from wmp_pipeline.defs.iom.assets import assets

__all__ = ["assets"]
