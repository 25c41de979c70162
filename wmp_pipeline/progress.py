"""Progress reporting for long steps: Dagster logs and, in a terminal, a bar.

Long steps (generation, loading, feature building, training, backtests) take a
``Progress`` and call :meth:`Progress.update`. Inside Dagster, pass
``context.log`` so progress shows in the run's logs; from a terminal a tqdm bar
is drawn on stderr.

How a run's messages look in the terminal: :mod:`wmp_pipeline.defs.loggers`.
"""

from __future__ import annotations

import logging
import sys
import time

_LOG = logging.getLogger("wmp_pipeline")


class Progress:
    def __init__(self, step: str, total: int | None = None, log=None, bar: bool | None = None, every_s: float = 5.0):
        self.step = step
        self.total = total
        self.done = 0
        self._log = log if log is not None else _LOG
        self._every = every_s
        self._last = 0.0
        self._start = time.monotonic()
        use_bar = sys.stderr.isatty() if bar is None else bar
        self._bar = None
        if use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=step, unit="step", leave=False)
        self._log.info(f"{step}: started" + (f" ({total} steps)" if total else ""))

    def update(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
        now = time.monotonic()
        if now - self._last >= self._every or (self.total and self.done >= self.total):
            self._last = now
            of = f"/{self.total}" if self.total else ""
            self._log.info(f"{self.step}: {self.done}{of}" + (f" ({note})" if note else ""))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._log.info(f"{self.step}: finished in {time.monotonic() - self._start:.1f}s")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
