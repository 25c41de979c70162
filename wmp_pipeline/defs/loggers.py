"""The runs' console logger (``console``): how a run's messages look in the terminal.

With its default config it is Dagster's own coloured console logger, every
event from DEBUG up. ``wmp run`` sets ``compact: true`` and ``log_level:
INFO``: one short line per message (time, step, message), a failed step as one
line (its cause is printed at the end of the run), no Dagster DEBUG events.
Either way the full event log stays in the run history.
"""

from __future__ import annotations

import logging
import sys
import time

from dagster import Field, logger
from dagster._utils.log import create_console_logger

class _CompactFormatter(logging.Formatter):
    """``HH:MM:SS step: message`` from a Dagster log record (its ``dagster_meta``)."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        message = str(meta.get("orig_message") or record.getMessage())
        event = meta.get("dagster_event")
        kind = getattr(event, "event_type_value", None)
        if kind == "STEP_FAILURE":
            message = "FAILED (the cause is printed when the run ends)"
        elif kind in ("RUN_FAILURE", "PIPELINE_FAILURE"):
            message = "the run failed"
        step = meta.get("step_key") or meta.get("resource_name") or "run"
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        warn = "" if record.levelno < logging.WARNING else f"{record.levelname}: "
        return f"{when} {step}: {warn}{message}"


@logger(
    config_schema={
        "log_level": Field(str, is_required=False, default_value="DEBUG"),
        "name": Field(str, is_required=False, default_value="dagster"),
        "compact": Field(bool, is_required=False, default_value=False, description="one short line per message"),
    },
    description="The console: Dagster's coloured logger, or one short line per message (compact, as `wmp run` uses it).",
)
def terminal_logger(init_context) -> logging.Logger:
    config = init_context.logger_config
    level = logging.getLevelName(config["log_level"].upper())
    if not config["compact"]:
        return create_console_logger(name=config["name"], level=level)
    out = logging.Logger(config["name"], level=level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CompactFormatter())
    out.addHandler(handler)
    return out
