"""Settings of CONNECT ingest, each default written once.

The Dagster side (:class:`wmp_pipeline.defs.ingest.resources.IngestResource`)
fills this from the environment; pure code and tests build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestConfig:
    #: A full drop is refused when, for any table, it loads fewer rows than this
    #: percentage of the records in the current state (``WMP_FULL_DROP_MIN_VOLUME_PERCENT``).
    full_drop_min_volume_percent: int = 90
    #: A drop dated more than this many days after today is refused as future-dated
    #: (``WMP_FUTURE_DROP_TOLERANCE_DAYS``).
    future_tolerance_days: int = 1
    #: Drops are expected every this many days; a longer gap between consecutive
    #: applied drops is reported as missing week(s).
    expected_interval_days: int = 7

    def __post_init__(self) -> None:
        if not 0 <= self.full_drop_min_volume_percent <= 100:
            raise ValueError(f"full_drop_min_volume_percent must be 0..100, got {self.full_drop_min_volume_percent}")
        if self.future_tolerance_days < 0:
            raise ValueError(f"future_tolerance_days must be >= 0, got {self.future_tolerance_days}")
        if self.expected_interval_days < 1:
            raise ValueError(f"expected_interval_days must be >= 1, got {self.expected_interval_days}")
