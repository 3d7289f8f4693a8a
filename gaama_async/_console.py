"""The CLI's progress display: live bars (rich) on a terminal, plain lines otherwise.

rich is imported only when the stream is a terminal, so scripts and pipes never load it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from .progress import ProgressEvent

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def count(number: int, word: str) -> str:
    """``1 asset``, ``2 assets``: the word in the plural unless there is one."""
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"


def _live_bars(stream: TextIO, refresh_per_second: float) -> Progress:
    """A rich Progress with one row per file in flight and a total row: bytes, speed, ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class SpeedColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-" if speed is None else f"{human_bytes(speed)}/s", style="cyan")

    return Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(bar_width=24),
        DownloadColumn(binary_units=True),
        SpeedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=stream),
        refresh_per_second=refresh_per_second,
    )


class ConsoleProgress:
    """Turns ``ProgressEvent``s into progress on ``stream`` (default stderr).

    On a terminal: a live bar per file in flight plus a total bar, each with bytes, speed
    and ETA. Elsewhere: one plain line per finished file (and per retry).
    """

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.files_total = 0
        self.files_done = 0
        self._bars = _live_bars(self.stream, 1 / interval) if self.live else None
        self._total: TaskID | None = None
        self._bytes_total = 0
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "start":
            self.files_total += 1
        elif event.kind == "done":
            self.files_done += 1
        if self._bars is not None:
            self._show(self._bars, event)
        elif event.kind == "retry":
            self._line(f"retrying {event.name} ({human_bytes(event.bytes)} to fetch again)")
        elif event.kind == "done":
            self._line(f"{event.direction}ed {event.name} ({human_bytes(event.total)})")

    def _show(self, bars: Progress, event: ProgressEvent) -> None:
        if self._total is None:
            bars.start()
            self._total = bars.add_task("", total=0)
        key = (event.direction, event.name)
        if event.kind == "start":
            self._tasks[key] = bars.add_task(f"  {event.name}", total=event.total)
            self._bytes_total += event.total
            bars.update(self._total, total=self._bytes_total)
        elif event.kind == "advance" and key in self._tasks:
            bars.advance(self._tasks[key], event.bytes)
            bars.advance(self._total, event.bytes)
        elif event.kind == "retry" and key in self._tasks:
            bars.advance(self._tasks[key], -event.bytes)
            bars.advance(self._total, -event.bytes)
            bars.console.print(f"retrying {event.name} ({human_bytes(event.bytes)} again)")
        elif event.kind == "done" and key in self._tasks:
            bars.remove_task(self._tasks.pop(key))
        bars.update(self._total, description=f"{self.files_done}/{self.files_total} files")

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """Stop the live display, leaving the total row on screen."""
        if self._bars is not None and self._total is not None:
            self._bars.stop()
