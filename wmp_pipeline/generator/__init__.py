"""Built-in generator of realistic CONNECT weekly extracts and their ground truth.

The embedded default data source of the pipeline: a synthetic West
Midlands-sized force whose weekly drops follow ``connect-extract-contract.md``
exactly, seeded and deterministic, with a ground truth (true hotspot
intensities, true escalation probabilities) that only evaluation reads.

    from wmp_pipeline.generator import generate
    summary = generate("tiny", landing_dir, truth_dir, seed=1)

or ``python -m wmp_pipeline.generator --preset small``. See ``README.md`` in
this package for the mechanisms and the public figures behind them.
"""

from wmp_pipeline.generator.api import DEFAULT_SEED, GenerationSummary, generate, latest_monday
from wmp_pipeline.generator.presets import PRESETS, ChangeRates, DefectRates, PresetConfig, resolve_preset

__all__ = [
    "DEFAULT_SEED",
    "PRESETS",
    "ChangeRates",
    "DefectRates",
    "GenerationSummary",
    "PresetConfig",
    "generate",
    "latest_monday",
    "resolve_preset",
]
