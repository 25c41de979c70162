"""IOM assets (snapshots, escalation model, fairness audit, weekly risk scores): see assets.py."""

from wmp_pipeline.defs.iom.assets import asset_checks, assets

__all__ = ["asset_checks", "assets"]
