"""The hotspot engine's settings, in one frozen dataclass.

Everything the engine needs to know about a data source is said here in
source-neutral words: the time step (``period``: a week of 7 days starting on
Monday, or a calendar month), how far ahead a forecast looks
(``horizon_periods``), the feature windows (in periods), which boolean event
columns are forecast targets and which are related signals, and the area
shares at which maps are judged. CONNECT data uses :meth:`HotspotConfig.weekly`
(the defaults); police.uk street-level data, which only has months, uses
:meth:`HotspotConfig.monthly`.

Grid size per target: the engine works on one grid at a time
(``cell_size_m``). ``target_cell_sizes`` gives some targets a grid of their
own; :meth:`HotspotConfig.grids` groups the targets by size and
:meth:`HotspotConfig.for_grid` is the engine config of one of those grids
(every signal is still counted there, so each target's model keeps the other
signals as features). The CONNECT defaults are the force's published grids
(its FOI answer): knife crime used causing injury on 1 km² squares
(1000 m), serious violence on 0.5 km² squares (707 m: 707² m² =
0.49985 km², the closest whole metre).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

PERIODS = ("week", "month")
#: settings of when things rerun and how the analyst table is flagged, not of what is computed
_SCHEDULE_FIELDS = frozenset({"retrain_every", "refit_every", "top_share"})
#: the force's published grid per target (CONNECT, weekly): 1 km² and 0.5 km² squares
CONNECT_CELL_SIZES: tuple[tuple[str, int], ...] = (("knife_injury", 1000), ("serious_violence", 707))
UNITS = ("grid", "lsoa")


@dataclass(frozen=True)
class XGBoostParams:
    """Booster settings. Small, shallow trees: the signal is mostly smooth
    functions of a few counts, and the whole backtest must fit a tight budget."""

    objective: str = "count:poisson"
    num_boost_round: int = 120
    max_depth: int = 4
    learning_rate: float = 0.1
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    max_bin: int = 64
    #: ``count:poisson`` caps each step to keep the log-link stable.
    max_delta_step: float = 0.7
    #: one thread: XGBoost's OpenMP threads spin while they wait, so on a busy
    #: 2-core machine (DuckDB, Dagster, other runs) two threads measured up to
    #: 7x slower than one; on an idle machine two are only ~1.6x faster
    nthread: int = 1

    def as_xgb(self, seed: int) -> dict:
        params = {
            "objective": self.objective,
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "max_bin": self.max_bin,
            "nthread": self.nthread,
            "seed": seed,
            "verbosity": 0,
        }
        if self.objective == "count:poisson":
            params["max_delta_step"] = self.max_delta_step
        if self.objective == "reg:tweedie":
            params["tweedie_variance_power"] = 1.3
        return params


@dataclass(frozen=True)
class HotspotConfig:
    """How to build units, features, models and the backtest.

    Windows and horizons are counted in periods. The defaults are the CONNECT
    weekly set-up: 250 m cells, forecast the 4 weeks (28 days) after the
    forecast date, features over the last 1, 4, 13 and 52 weeks, backtest over
    the last 52 forecast dates.
    """

    #: 'grid' (square BNG cells) or 'lsoa' (polygons of a boundary file)
    unit: str = "grid"
    #: square cell side (metres) of every target not in ``target_cell_sizes``
    cell_size_m: int = 250
    #: ``(target, cell side in metres)`` pairs: targets forecast on a grid of their own
    target_cell_sizes: tuple[tuple[str, int], ...] = ()
    #: without a boundary file, the area is every cell within this distance
    #: (in whole cells, rounded up) of a cell where any event ever happened
    footprint_buffer_m: float = 500.0

    period: str = "week"
    horizon_periods: int = 4
    backtest_periods: int = 52

    targets: tuple[str, ...] = ("knife_injury", "serious_violence")
    related: tuple[str, ...] = (
        "violence_with_injury",
        "robbery",
        "weapon_possession",
        "related_lead",
    )
    #: windows (periods) of recent counts for the targets, own cell and neighbours
    windows: tuple[int, ...] = (1, 4, 13, 52)
    #: windows (periods) of recent counts for the related signals
    related_windows: tuple[int, ...] = (4, 52)
    #: also count a second ring of neighbours (the 16 cells around the 8)
    wider_ring: bool = True
    #: long-run rates are also summed over every unit whose centre is within
    #: this distance but outside rings 0-2 (ring 3, the "district"; 0 = off):
    #: the broad level of an area (deprivation, night-time economy) that a
    #: handful of rare events in one cell cannot show
    district_radius_m: float = 1000.0

    #: prospective hotspotting (Bowers, Johnson & Pease 2004): events within
    #: ``ph_bandwidth_m`` of the unit's centre and ``ph_periods`` periods back,
    #: each weighted 1/(1 + distance/ph_band_m) x 1/(1 + periods ago)
    ph_bandwidth_m: float = 400.0
    ph_band_m: float = 250.0
    ph_periods: int = 8

    #: the two "recent counts" baselines (periods)
    baseline_windows: tuple[int, ...] = (4, 52)

    area_shares: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05)
    #: the analyst table flags the top cells covering this share of the area
    top_share: float = 0.01

    #: the backtest refits the model every this many forecast dates
    refit_every: int = 13
    #: the weekly asset retrains when this many periods have passed since the last fit
    retrain_every: int = 4
    #: training uses forecast dates of the last ``train_periods`` periods whose
    #: target window is complete, every ``train_stride``-th one (consecutive
    #: dates share 3 of their 4 target weeks, so neighbours add little)
    train_periods: int = 104
    train_stride: int = 2
    #: training keeps this share of unit-periods with no event of any signal in
    #: the unit or its neighbours in all history (weighted back up), since
    #: those rows are nearly all zero and only cost time
    zero_history_keep: float = 0.1
    #: training keeps this share of the other rows whose label is zero (weighted back up)
    zero_label_keep: float = 0.3
    #: forecasts never decrease with more past crime (XGBoost monotone
    #: constraints); off by default: it did not change the backtest
    monotone: bool = False
    xgb: XGBoostParams = field(default_factory=XGBoostParams)
    seed: int = 20240101

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, not {self.unit!r}")
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, not {self.period!r}")
        if self.horizon_periods < 1 or self.backtest_periods < 1:
            raise ValueError("horizon_periods and backtest_periods must be positive")
        if not self.targets:
            raise ValueError("at least one target signal is needed")
        overlap = set(self.targets) & set(self.related)
        if overlap:
            raise ValueError(f"signals cannot be both target and related: {sorted(overlap)}")
        for share in self.area_shares + (self.top_share,):
            if not 0 < share <= 1:
                raise ValueError(f"area shares must be in (0, 1], got {share}")
        sizes = dict(self.target_cell_sizes)
        unknown = sorted(set(sizes) - set(self.targets))
        if unknown:
            raise ValueError(f"target_cell_sizes names signals that are not targets: {unknown}")
        if self.cell_size_m <= 0 or any(int(v) <= 0 for v in sizes.values()):
            raise ValueError("cell sizes must be positive whole metres")
        if not (0 < self.zero_history_keep <= 1 and 0 < self.zero_label_keep <= 1):
            raise ValueError("zero_history_keep and zero_label_keep must be in (0, 1]")

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(self.targets) + tuple(self.related)

    @property
    def long_window(self) -> int:
        """The longest feature window: training starts once it is filled."""
        related = self.related_windows if self.related else ()
        return max(self.windows + related + self.baseline_windows)

    def cell_size_for(self, target: str) -> int:
        """The cell side (metres) of ``target``'s grid (0 for LSOA units)."""
        if self.unit == "lsoa":
            return 0
        return int(dict(self.target_cell_sizes).get(target, self.cell_size_m))

    def grids(self) -> dict[int, tuple[str, ...]]:
        """Cell size -> the targets forecast on that grid (in target order)."""
        out: dict[int, tuple[str, ...]] = {}
        for target in self.targets:
            size = self.cell_size_for(target)
            out[size] = out.get(size, ()) + (target,)
        return out

    def for_grid(self, size: int) -> HotspotConfig:
        """The engine's config of the grid of ``size`` metres (one grid, every signal)."""
        if size not in self.grids():
            raise ValueError(f"no target is forecast on a {size} m grid (grids: {sorted(self.grids())})")
        if self.unit == "lsoa":
            return self.replace(target_cell_sizes=())
        return self.replace(cell_size_m=int(size), target_cell_sizes=())

    def replace(self, **changes) -> HotspotConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HotspotConfig:
        """Inverse of :meth:`to_json` (lists become tuples again)."""
        raw = json.loads(text)
        raw["xgb"] = XGBoostParams(**raw.get("xgb", {}))
        for name in cls.__dataclass_fields__:
            if name in raw and isinstance(raw[name], list):
                raw[name] = tuple(tuple(v) if isinstance(v, list) else v for v in raw[name])
        return cls(**raw)

    def fingerprint(self) -> str:
        """A short hash of every setting that shapes the cells, panel, models and
        backtest scores, stored with them. The cadences (``retrain_every``,
        ``refit_every``: backtest runs also record the latter) and ``top_share`` only
        decide when things rerun or how a table is flagged, and are left out, so
        changing them does not make the stored panel or models stale."""
        settings = {k: v for k, v in dataclasses.asdict(self).items() if k not in _SCHEDULE_FIELDS}
        payload = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:10]

    @classmethod
    def weekly(cls, **changes) -> HotspotConfig:
        """CONNECT set-up: weeks, 28-day horizon, 52-week backtest, the force's
        published grid per target (:data:`CONNECT_CELL_SIZES`)."""
        targets = changes.get("targets", cls.__dataclass_fields__["targets"].default)
        published = tuple((t, size) for t, size in CONNECT_CELL_SIZES if t in targets)
        return cls(**{"target_cell_sizes": published, **changes})

    @classmethod
    def monthly(cls, **changes) -> HotspotConfig:
        """Monthly set-up (police.uk): forecast next month, backtest 12 months."""
        defaults = dict(
            period="month",
            horizon_periods=1,
            backtest_periods=12,
            windows=(1, 3, 6, 12),
            related_windows=(3, 12),
            ph_periods=2,
            baseline_windows=(1, 12),
            refit_every=3,
            retrain_every=1,
            train_periods=24,
            train_stride=1,
        )
        defaults.update(changes)
        return cls(**defaults)


@dataclass(frozen=True)
class HotspotMapConfig:
    """The analysts' interactive map page. No basemap by default: the page works
    offline over a plain background; a force may name its own tile server
    (``{z}/{x}/{y}`` URL template), which the browser then fetches from."""

    tile_url: str = ""
    tile_attribution: str = ""
    #: LSOA area names are written on the map from this zoom level on
    label_min_zoom: int = 13
