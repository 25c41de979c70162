"""Progress of long generator steps, for a terminal or for a caller such as Dagster.

``generate(progress=callback)`` calls ``callback(step, done, total)`` (at most
about a hundred times a step, and always at the end of it) so an
orchestrator can log; with no callback, a tqdm bar is drawn when stderr is a
terminal, and nothing otherwise (tests, cron jobs).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

ProgressCallback = Callable[[str, int, int], None]


class Progress:
    def __init__(self, callback: ProgressCallback | None = None):
        self.callback = callback
        self.use_tqdm = callback is None and sys.stderr.isatty()

    def task(self, step: str, total: int) -> _Task:
        return _Task(self, step, total)


class _Task:
    def __init__(self, owner: Progress, step: str, total: int):
        self.owner = owner
        self.step = step
        self.total = max(int(total), 1)
        self.last_reported = -1
        self.final_reported = False
        self.bar = None
        if owner.use_tqdm:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=step, unit="", leave=False, dynamic_ncols=True)
        self.done = 0

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None and int(total) != self.total:
            self.total = max(int(total), 1)
            if self.bar is not None:
                self.bar.total = self.total
        done = min(int(done), self.total)
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done
        cb = self.owner.callback
        if cb is not None:
            pct = done * 100 // self.total
            final = done == self.total
            if pct != self.last_reported or (final and not self.final_reported):
                self.last_reported = pct
                self.final_reported = final
                cb(self.step, done, self.total)

    def finish(self) -> None:
        self(self.total)
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> _Task:
        self(0)
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.finish()
        elif self.bar is not None:
            self.bar.close()
