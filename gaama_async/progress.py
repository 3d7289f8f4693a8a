"""Progress events the library emits; it never prints anything itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ProgressKind = Literal["start", "advance", "retry", "done"]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of one transfer.

    ``start`` carries the ``total`` size, ``advance`` the ``bytes`` just moved, ``retry`` the
    ``bytes`` un-done because a try failed and starts over, ``done`` marks completion.
    """

    kind: ProgressKind
    direction: Literal["upload", "download"]
    name: str
    total: int
    bytes: int = 0


ProgressCallback = Callable[[ProgressEvent], None]
