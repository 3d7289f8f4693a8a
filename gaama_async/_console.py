"""The CLI's progress display: live bars (rich) on a terminal, plain lines otherwise.

rich is imported only when the stream is a terminal, so scripts and pipes never load it.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, TextIO

from .manifest import MANIFEST_NAME
from .progress import ProgressEvent

NOTES_LOGGER = "gaama_async.notes"  # retries and resumes (``_retry.notes``)

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


class _NotesAboveBars(logging.Handler):
    """While the bars are live, the notes (retries, resumes) are printed above them through
    rich; written straight to stderr, the next redraw would wipe them off the screen."""

    def __init__(self, bars: Progress) -> None:
        super().__init__()
        self._bars = bars
        self._logger = logging.getLogger(NOTES_LOGGER)
        self._propagated = self._logger.propagate
        self._logger.addHandler(self)
        self._logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        self._bars.console.print(f"gaama: {record.getMessage()}", markup=False, highlight=False)

    def close(self) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagated
        super().close()


class ConsoleProgress:
    """Turns ``ProgressEvent``s into progress on ``stream`` (default stderr).

    On a terminal: a live bar per transfer in flight plus a total bar with files, bytes,
    speed and ETA. Elsewhere: one plain line per finished file (and per retry). Files are
    counted as the user knows them: the parts of a split file are one file, the manifest is
    none. ``summary`` is the one line said at the end (fetched / already present / cached).
    """

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._bars = _live_bars(self.stream, 1 / interval) if self.live else None
        self._total: TaskID | None = None
        self._bytes_total = 0
        self._tasks: dict[tuple[str, str], TaskID] = {}
        self._open: dict[str, int] = {}  # file -> its transfers in flight
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.moved = 0
        self.direction = "download"
        self.present: list[int] = []
        self.cached: list[int] = []
        self._notes: _NotesAboveBars | None = None

    @property
    def files_total(self) -> int:
        return len(self.started)

    @property
    def files_done(self) -> int:
        return len(self.finished)

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind in ("present", "cached"):
            (self.present if event.kind == "present" else self.cached).append(event.total)
            return
        counted = event.file_name != MANIFEST_NAME
        self.direction = event.direction
        if event.kind == "start" and counted:
            self.started.add(event.file_name)
            self._open[event.file_name] = self._open.get(event.file_name, 0) + 1
        elif event.kind == "done" and counted:
            self._open[event.file_name] -= 1
            if not self._open[event.file_name]:
                self.finished.add(event.file_name)
        elif event.kind in ("advance", "retry") and counted:
            self.moved += event.bytes if event.kind == "advance" else -event.bytes
        if self._bars is not None:
            self._show(self._bars, event)
        elif event.kind == "retry" and event.bytes:
            self._line(f"retrying {event.name} ({human_bytes(event.bytes)} to fetch again)")
        elif event.kind == "done" and counted:
            self._line(f"{event.direction}ed {event.name} ({human_bytes(event.total)})")

    def _show(self, bars: Progress, event: ProgressEvent) -> None:
        if self._total is None:
            bars.start()
            self._notes = _NotesAboveBars(bars)
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

    def summary(self) -> str:
        """``downloaded 2 files (3.0 MiB), 1 already present, 1 from the cache``."""
        verb = f"{self.direction}ed"
        said = [f"{verb} {count(self.files_done, 'file')} ({human_bytes(max(self.moved, 0))})"]
        if self.present:
            said.append(f"{len(self.present)} already present")
        if self.cached:
            said.append(f"{len(self.cached)} from the cache")
        return ", ".join(said)

    def finish(self, *, summary: bool = False) -> None:
        """Stop the live display, leaving the total row on screen; then the summary line."""
        if self._bars is not None and self._total is not None:
            self._bars.stop()
        if self._notes is not None:
            self._notes.close()
            self._notes = None
        if summary:
            self._line(self.summary())
