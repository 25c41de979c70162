"""The ingest settings as a Dagster resource: one typed object, built once from the environment."""

from __future__ import annotations

from dagster import ConfigurableResource

from wmp_pipeline.ingest.config import IngestConfig

_DEFAULT = IngestConfig()


class IngestResource(ConfigurableResource):
    """Limits the ingest applies to drops (see :class:`wmp_pipeline.ingest.config.IngestConfig`)."""

    full_drop_min_volume_percent: int = _DEFAULT.full_drop_min_volume_percent
    future_tolerance_days: int = _DEFAULT.future_tolerance_days
    expected_interval_days: int = _DEFAULT.expected_interval_days

    def config(self) -> IngestConfig:
        return IngestConfig(
            full_drop_min_volume_percent=self.full_drop_min_volume_percent,
            future_tolerance_days=self.future_tolerance_days,
            expected_interval_days=self.expected_interval_days,
        )


#: Environment variables that override the defaults, by field.
ENV_VARS = {
    "full_drop_min_volume_percent": "WMP_FULL_DROP_MIN_VOLUME_PERCENT",
    "future_tolerance_days": "WMP_FUTURE_DROP_TOLERANCE_DAYS",
    "expected_interval_days": "WMP_DROP_INTERVAL_DAYS",
}


def ingest_resource(environ: dict[str, str]) -> IngestResource:
    """The resource, each field from its environment variable (``dg.EnvVar``) when that is set."""
    from dagster import EnvVar

    return IngestResource(**{f: EnvVar.int(var) for f, var in ENV_VARS.items() if environ.get(var)})


def ingest_config(environ: dict[str, str]) -> IngestConfig:
    """The settings outside a Dagster run (``wmp drops``): the same resource, resolved."""
    return ingest_resource(environ).process_config_and_initialize().config()
