"""The baselines every model must beat, read from the panel.

* ``last_<W>_<period>s`` for each of ``cfg.baseline_windows`` (default the
  last 4 and the last 52 weeks): the count of target events in the unit over
  the last W periods, as known at the forecast date. These are what an
  analyst's "recent hotspots" map shows.
* ``prospective_hotspot``: prospective hotspotting (Bowers, K. J., Johnson,
  S. D. & Pease, K. (2004) "Prospective hot-spotting: the future of crime
  mapping?", *British Journal of Criminology* 44(5), 641-658). Each recent
  event raises the risk around it, more the nearer and the more recent it
  is: the score of a unit sums, over target events within ``ph_bandwidth_m``
  (400 m) of its centre and in the last ``ph_periods`` periods (8 weeks),
  ``1 / (1 + distance / ph_band_m)`` x ``1 / (1 + periods ago)``. Bowers et
  al. used 50 m cells, 400 m and 1-2 months with weights 1/(1 + cells away)
  x 1/(1 + weeks ago); with 250 m cells the distance unit is one cell
  (``ph_band_m`` = 250), so the own cell weighs 1, edge neighbours 1/2 and
  corner neighbours 1/2.41. "Periods ago" is 0 for the period just ended.
"""

from __future__ import annotations

import numpy as np

from wmp_pipeline.hotspot.config import HotspotConfig

PROSPECTIVE = "prospective_hotspot"


def recent_name(window: int, cfg: HotspotConfig) -> str:
    return f"last_{window}_{cfg.period}s"


def baseline_columns(cfg: HotspotConfig, target: str) -> dict[str, str]:
    """Baseline name -> panel column holding its score for ``target``."""
    cols = {recent_name(w, cfg): f"{target}_c{w}" for w in cfg.baseline_windows}
    cols[PROSPECTIVE] = f"{target}_ph"
    return cols


def prospective_weight(distance_m, periods_ago, cfg: HotspotConfig):
    """Weight of one event in the prospective score (0 outside the bandwidths).

    The panel computes the same formula in SQL; this is its reference."""
    d = np.asarray(distance_m, dtype="float64")
    a = np.asarray(periods_ago, dtype="float64")
    inside = (d <= cfg.ph_bandwidth_m + 1e-6) & (a >= 0) & (a < cfg.ph_periods)
    w = 1.0 / ((1.0 + d / cfg.ph_band_m) * (1.0 + a))
    return np.where(inside, w, 0.0)
