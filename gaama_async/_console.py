"""The CLI's progress display: one live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .progress import ProgressEvent

MIB = 1024 * 1024


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"


class ConsoleProgress:
    """Turns ``ProgressEvent``s into a total line with bytes, speed and ETA (on stderr)."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.interval = interval
        self.total = 0
        self.done_bytes = 0
        self.files_total = 0
        self.files_done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "start":
            self.total += event.total
            self.files_total += 1
        elif event.kind == "advance":
            self.done_bytes += event.bytes
        elif event.kind == "retry":
            self.done_bytes -= event.bytes
            self._line(f"retrying {event.name} ({human_bytes(event.bytes)} to fetch again)")
        elif event.kind == "done":
            self.files_done += 1
            if not self.live:
                self._line(f"{event.direction}ed {event.name} ({human_bytes(event.total)})")
        self._draw()

    def status(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        speed = self.done_bytes / elapsed
        remaining = max(self.total - self.done_bytes, 0)
        eta = f"{remaining / speed:.0f}s" if speed > 0 and remaining else "-"
        return (
            f"{self.files_done}/{self.files_total} files  "
            f"{human_bytes(self.done_bytes)}/{human_bytes(self.total)}  "
            f"{speed / MIB:.1f} MiB/s  ETA {eta}"
        )

    def _draw(self) -> None:
        now = time.monotonic()
        if not self.live or now - self._last_draw < self.interval:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[2K" + self.status())
        self.stream.flush()

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[2K" if self.live else ""
        self.stream.write(prefix + text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the live line, leaving the final status."""
        if self.live:
            self.stream.write("\r\x1b[2K" + self.status() + "\n")
            self.stream.flush()
