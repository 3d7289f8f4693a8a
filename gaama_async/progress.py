"""Progress events the library emits; it never prints anything itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ProgressKind = Literal["start", "advance", "retry", "done", "present", "cached"]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of one transfer.

    ``start`` carries the ``total`` size, ``advance`` the ``bytes`` just moved, ``retry`` the
    ``bytes`` un-done because a try failed and starts over, ``done`` marks completion.
    A download also reports files that needed no transfer: ``present`` (already in the
    folder, verified) and ``cached`` (placed from the cache), each with its ``total``.
    ``file`` names the file a transfer belongs to when that is not ``name`` (the parts
    ``NAME.part001``… of a split upload), so a display counts files, not parts.
    """

    kind: ProgressKind
    direction: Literal["upload", "download"]
    name: str
    total: int
    bytes: int = 0
    file: str | None = None

    @property
    def file_name(self) -> str:
        """The file this event is about (a split file's parts share it)."""
        return self.file or self.name


ProgressCallback = Callable[[ProgressEvent], None]
