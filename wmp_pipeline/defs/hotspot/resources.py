"""The hotspot settings as one Dagster resource.

Every field's default is read from :class:`wmp_pipeline.hotspot.config.HotspotConfig`
(the CONNECT weekly set-up), so each default is written once; :meth:`HotspotResource.config`
builds the one :class:`HotspotConfig` the hotspot assets pass down to the engine, and
:meth:`HotspotResource.map_config` the settings of the interactive map page.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from wmp_pipeline.hotspot.config import HotspotConfig, HotspotMapConfig

_WEEKLY = HotspotConfig.weekly()
_MAP = HotspotMapConfig()


class HotspotResource(ConfigurableResource):
    """Hotspot settings: grids, backtest and training windows, cadences, the analyst map."""

    unit: str = Field(default=_WEEKLY.unit, description="'grid' (square BNG cells) or 'lsoa' (boundary polygons)")
    cell_sizes_m: dict[str, int] = Field(
        default_factory=lambda: dict(_WEEKLY.target_cell_sizes),
        description="cell side in metres per target (the force's published grids by default)",
    )
    default_cell_size_m: int = Field(default=_WEEKLY.cell_size_m, description="cell side of targets not in cell_sizes_m")
    footprint_buffer_m: float = Field(
        default=_WEEKLY.footprint_buffer_m, description="without a boundary file: the area is the cells this near a crime"
    )
    backtest_weeks: int = Field(default=_WEEKLY.backtest_periods, description="forecast weeks the backtest judges")
    train_weeks: int = Field(default=_WEEKLY.train_periods, description="weeks of forecast dates a model trains on")
    retrain_every_weeks: int = Field(
        default=_WEEKLY.retrain_every,
        description="retrain when the newest model is this many weeks old (0 = every week); the backtest reruns in the same weeks",
    )
    refit_every_weeks: int = Field(default=_WEEKLY.refit_every, description="the backtest refits every this many forecast weeks")
    top_share: float = Field(default=_WEEKLY.top_share, description="share of the area flagged in_top_n")
    map_tile_url: str = Field(
        default=_MAP.tile_url, description="optional basemap tile URL ({z}/{x}/{y}), e.g. the force's own tile server"
    )
    map_tile_attribution: str = Field(default=_MAP.tile_attribution, description="attribution shown with the tiles")

    def config(self) -> HotspotConfig:
        sizes = tuple((t, int(s)) for t, s in self.cell_sizes_m.items() if int(s) != self.default_cell_size_m)
        return HotspotConfig.weekly(
            unit=self.unit,
            cell_size_m=self.default_cell_size_m,
            target_cell_sizes=sizes,
            footprint_buffer_m=self.footprint_buffer_m,
            backtest_periods=self.backtest_weeks,
            train_periods=self.train_weeks,
            retrain_every=self.retrain_every_weeks,
            refit_every=self.refit_every_weeks,
            top_share=self.top_share,
        )

    def map_config(self) -> HotspotMapConfig:
        return HotspotMapConfig(tile_url=self.map_tile_url, tile_attribution=self.map_tile_attribution)
