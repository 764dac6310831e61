"""A progress bar on stderr for the long commands (redrawn at most ten times a second)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`label [#####-----] done/total`, redrawn in place; `close()` ends the line."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self._stream = stream or sys.stderr
        self._drawn = 0.0

    def advance(self, count: int) -> None:
        self.done += count
        if time.monotonic() - self._drawn >= 0.1:
            self._draw()

    def _draw(self) -> None:
        width = 30
        total = max(self.total, self.done, 1)
        filled = int(width * self.done / total)
        bar = "#" * filled + "-" * (width - filled)
        self._stream.write(f"\r{self.label} [{bar}] {self.done}/{max(self.total, self.done)}")
        self._stream.flush()
        self._drawn = time.monotonic()

    def close(self) -> None:
        self._draw()
        self._stream.write("\n")
        self._stream.flush()
