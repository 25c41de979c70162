"""The IOM settings as one Dagster resource, built once and handed to every IOM asset.

Every default lives in :class:`wmp_pipeline.iom.config.IomConfig`; a field
left unset here (``None``) keeps that default, so no default is written
twice. Override per run through the run config's ``resources.iom.config``
(e.g. ``force_retrain: true``) or in :func:`wmp_pipeline.defs.resources.build_resources`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from dagster import ConfigurableResource

from wmp_pipeline.iom.config import IomConfig


class IomResource(ConfigurableResource):
    """IOM model settings (see docs/iom.md); ``config()`` returns the typed :class:`IomConfig`."""

    #: retrain when the newest model is this many weeks old (0 = every week)
    retrain_every_weeks: Optional[int] = None
    #: retrain this run whatever the cadence says
    force_retrain: bool = False
    #: the operating list size (champion metric, operating point, fairness threshold)
    operating_top_k: Optional[int] = None
    #: groups smaller than this are suppressed in analyst-facing tables and the briefing
    min_reported_group_size: Optional[int] = None
    #: share of paired bootstrap draws a more complex candidate must win to serve
    win_confidence: Optional[float] = None
    #: the candidates compared, simplest first (e.g. ["harm_score", "logistic", "xgboost"])
    candidates: Optional[list[str]] = None
    seed: Optional[int] = None

    def config(self) -> IomConfig:
        overrides = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in (
                ("retrain_every_weeks", self.retrain_every_weeks),
                ("operating_top_k", self.operating_top_k),
                ("min_reported_group_size", self.min_reported_group_size),
                ("win_confidence", self.win_confidence),
                ("candidates", self.candidates),
                ("seed", self.seed),
            )
            if value is not None
        }
        return dataclasses.replace(IomConfig(), **overrides)
