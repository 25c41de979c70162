"""Sizes and rates of the three built-in generator presets.

A preset fixes how big the synthetic force is (area, residents, crimes and
charged people a year), how long its history is, how many weekly delta drops
follow the initial full extract, and the rates of the record changes and
defects the pipeline's checks must handle. Everything else (offence mix,
career dynamics, spatial structure) is shared, so the presets differ in scale
and not in behaviour: a model tuned on ``small`` behaves the same way on
``force``.

The ``force`` figures are rounded from public statistics for West Midlands
Police (see ``README.md`` in this package for sources): about 2.9-3.0 million
residents (ONS mid-year estimates), about 300,000 police recorded crimes a
year excluding fraud (ONS, *Crime in England and Wales*, police force area
tables), roughly 1,500 knife or sharp instrument crimes used causing injury,
and about 15,000 serious violent crimes (homicide, attempted murder, GBH and
robbery).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class DefectRates:
    """Deliberate contract and data-quality defects, as shares of rows.

    They exist so the pipeline's quarantine, unknown-code report and
    de-duplication are exercised on every run; set them to 0 for a clean
    extract.
    """

    #: share of crimes whose easting/northing are null (never corrected)
    missing_coordinates: float = 0.005
    #: of those, the share that still carry an LSOA code
    missing_coordinates_lsoa_kept: float = 0.7
    #: extra crimes recorded under an offence code the reference does not know
    unknown_offence_code: float = 0.001
    #: share of rows in each delivered file that appear twice, byte for byte
    duplicate_rows: float = 0.0005


@dataclass(frozen=True)
class ChangeRates:
    """How often records change after they are first recorded."""

    #: share of crimes (of codes with a plausible first misclassification) later reclassified
    reclassified: float = 0.04
    #: share of crimes first geocoded to a wrong place and later relocated
    relocated: float = 0.02
    #: extra "no crime" records, as a share of crimes: recorded, then cancelled
    cancelled: float = 0.015
    #: extra duplicate crime records, as a share of crimes: recorded, then deleted
    deleted_crimes: float = 0.003
    #: extra duplicate charge records, as a share of charges: created, then deleted
    deleted_charges: float = 0.004
    #: share of victims/other nominals deleted (merged as duplicates) some weeks after creation
    deleted_persons: float = 0.01
    #: yearly probability that a nominal's last known home address changes
    home_moves_per_year: float = 0.08


@dataclass(frozen=True)
class PresetConfig:
    """Everything that differs between generator sizes."""

    name: str
    #: years of history covered by the initial full extract plus the deltas
    history_years: float
    #: weekly delta drops after the initial full extract
    delta_weeks: int
    #: area of the synthetic force, km2
    area_km2: float
    #: residents
    population: int
    #: police recorded crimes a year (all offence groups in the reference)
    crimes_per_year: float
    #: distinct people charged a year (target the career process is scaled to)
    people_charged_per_year: float
    #: IOM ground truth: a snapshot every this many weeks
    iom_snapshot_every_weeks: int = 4
    #: IOM ground truth: years of snapshots (the latest ones whose horizon is complete)
    iom_snapshot_years: float = 2.0
    #: Monte Carlo draws per person and snapshot for ``p_high_harm_12m``
    iom_mc_draws: int = 200
    #: nominals who are victims/witnesses/others, per charged nominal
    others_per_offender: float = 0.8
    defects: DefectRates = field(default_factory=DefectRates)
    changes: ChangeRates = field(default_factory=ChangeRates)

    def __post_init__(self) -> None:
        if self.history_years < 1.0:
            raise ValueError("history_years must be at least 1 (the IOM horizon is 365 days)")
        if self.delta_weeks < 0:
            raise ValueError("delta_weeks must be >= 0")
        if min(self.area_km2, self.population, self.crimes_per_year, self.people_charged_per_year) <= 0:
            raise ValueError("area, population, crimes and people charged must be positive")
        if self.iom_mc_draws < 1 or self.iom_snapshot_every_weeks < 1:
            raise ValueError("iom_mc_draws and iom_snapshot_every_weeks must be >= 1")

    def with_overrides(self, **changes) -> PresetConfig:
        """A copy with some fields changed (``defects=`` / ``changes=`` take whole objects)."""
        return replace(self, **changes)


PRESETS: dict[str, PresetConfig] = {
    # Tests: a 4 x 4 km piece of the city, two years and a quarter (so that some
    # IOM snapshots have a complete score window inside the extract), seconds to build.
    "tiny": PresetConfig(
        name="tiny",
        # three years: the IOM rolling origin needs a 365-day label horizon and a
        # 365-day gap between training and test snapshots, plus some training history
        history_years=3.0,
        delta_weeks=4,
        area_km2=16.0,
        population=20_000,
        crimes_per_year=2_000,
        people_charged_per_year=300,
        iom_snapshot_every_weeks=1,
        iom_mc_draws=200,
    ),
    # Development: about a tenth of the force, three years.
    "small": PresetConfig(
        name="small",
        history_years=3.0,
        delta_weeks=6,
        area_km2=90.0,
        population=300_000,
        crimes_per_year=30_000,
        people_charged_per_year=4_000,
        iom_snapshot_every_weeks=2,
    ),
    # A large metropolitan force the size of West Midlands Police, five years.
    "force": PresetConfig(
        name="force",
        history_years=5.0,
        delta_weeks=8,
        area_km2=900.0,
        population=3_000_000,
        crimes_per_year=300_000,
        people_charged_per_year=40_000,
        iom_snapshot_every_weeks=4,
    ),
}


def resolve_preset(preset: str | PresetConfig) -> PresetConfig:
    """A preset object from its name (or the object itself)."""
    if isinstance(preset, PresetConfig):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}") from None
