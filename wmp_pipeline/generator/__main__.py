"""Command line: ``python -m wmp_pipeline.generator --preset tiny|small|force ...``.

Defaults come from ``wmp_pipeline.settings`` (landing and ground-truth
folders) and from today's date (the last drop is dated the most recent
Monday). Prints a JSON summary of what was written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from wmp_pipeline.generator.api import DEFAULT_SEED, FILE_FORMATS, generate, latest_monday
from wmp_pipeline.generator.presets import PRESETS
from wmp_pipeline.settings import get_settings


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def parser() -> argparse.ArgumentParser:
    settings = get_settings()
    p = argparse.ArgumentParser(
        prog="python -m wmp_pipeline.generator",
        description="Generate synthetic CONNECT weekly drops (one full extract, then weekly deltas) and their ground truth.",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="small", help="size of the synthetic force (default: small)")
    p.add_argument("--landing", type=Path, default=settings.landing_dir, help=f"landing folder (default: {settings.landing_dir})")
    p.add_argument("--truth", type=Path, default=settings.ground_truth_dir, help=f"ground-truth folder (default: {settings.ground_truth_dir})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})")
    p.add_argument("--end-date", type=_date, default=None, help=f"date of the last drop, a Monday (default: {latest_monday()})")
    p.add_argument("--format", choices=FILE_FORMATS, default="csv.gz", help="file format of the drops (default: csv.gz)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    summary = generate(
        args.preset, args.landing, args.truth, seed=args.seed, end_date=args.end_date, file_format=args.format
    )
    for w in summary.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(json.dumps(summary.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
