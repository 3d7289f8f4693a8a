"""Injected faults: declared by tests, matched per request in declaration order."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

FaultAction = Literal[
    "status",
    "secondary_limit",
    "primary_limit",
    "cut",
    "corrupt",
    "stall",
    "slow",
    "starter",
    "expire",
]

# Actions every route understands; the body-shaping ones are only offered where a body flows.
GENERIC_ACTIONS: frozenset[str] = frozenset({"status", "secondary_limit", "primary_limit", "slow"})
DOWNLOAD_ACTIONS: frozenset[str] = GENERIC_ACTIONS | {"cut", "corrupt", "stall"}
# Blob storage and the web host have no rate limits, so only these apply there.
STORAGE_ACTIONS: frozenset[str] = frozenset({"status", "slow", "cut", "corrupt", "stall", "expire"})
WEB_ACTIONS: frozenset[str] = frozenset({"status", "slow"})
UPLOAD_ACTIONS: frozenset[str] = GENERIC_ACTIONS | {"cut", "starter"}


@dataclass
class Fault:
    """One fault: ``action`` on requests whose route name matches the fnmatch ``route``.

    ``asset`` narrows it to requests about an asset whose name matches that fnmatch pattern;
    a request about no asset, or about another one, is never hit. ``times`` is how many
    requests it hits (None: forever); ``probability`` makes it random, drawn from the
    FaultSet's seeded generator. ``hits`` counts the requests it has hit so far.
    """

    action: FaultAction
    route: str = "*"
    times: int | None = 1
    status: int = 502
    retry_after: float | None = None
    after_bytes: int = 0
    delay: float = 0.0
    probability: float = 1.0
    asset: str | None = None
    hits: int = field(default=0, compare=False)

    def aims_at(self, route: str, asset: Callable[[], str | None]) -> bool:
        """Whether this fault's route and asset patterns match the request.

        ``asset`` is only called when the fault names an asset: finding the asset a request
        is about costs a store lookup that unscoped faults never need.
        """
        if not fnmatchcase(route, self.route):
            return False
        if self.asset is None:
            return True
        name = asset()
        return name is not None and fnmatchcase(name, self.asset)


def _no_asset() -> str | None:
    return None


class FaultSet:
    """The faults a server applies; the first matching, applicable fault wins a request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._random = random.Random(0)

    def add(self, fault: Fault) -> Fault:
        """Append ``fault`` (matched after the ones already present)."""
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    def seed(self, seed: int) -> None:
        """Reseed the generator behind ``probability`` so chaos runs are reproducible."""
        self._random = random.Random(seed)

    def __len__(self) -> int:
        return len(self._faults)

    def take(
        self,
        route: str,
        applicable: Iterable[str],
        *,
        asset: Callable[[], str | None] = _no_asset,
    ) -> Fault | None:
        """Return and consume one use of the first fault that hits this request.

        ``asset`` tells (lazily) the name of the asset the request is about, None if none.
        """
        allowed = frozenset(applicable)
        for fault in list(self._faults):
            if fault.action not in allowed or not fault.aims_at(route, asset):
                continue
            if fault.probability < 1.0 and self._random.random() >= fault.probability:
                continue
            fault.hits += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None


_FAULT_FIELDS: dict[str, Callable[[str], object]] = {
    "asset": str,
    "status": int,
    "times": int,
    "retry_after": float,
    "after_bytes": int,
    "delay": float,
    "probability": float,
}


def parse_fault(spec: str) -> Fault:
    """Read a fault from the CLI form ``ACTION[@ROUTE][,key=value...]``.

    Example: ``cut@storage,after_bytes=1048576,times=forever,probability=0.2``.
    """
    head, *options = spec.split(",")
    action, _, route = head.partition("@")
    if action not in FaultAction.__args__:  # type: ignore[attr-defined]
        raise ValueError(f"unknown fault action {action!r} in {spec!r}")
    fault = Fault(action, route=route or "*")  # type: ignore[arg-type]
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in _FAULT_FIELDS:
            raise ValueError(f"bad fault option {option!r}; keys: {', '.join(_FAULT_FIELDS)}")
        no_value = key != "asset" and value in ("forever", "none")
        parsed = None if no_value else _FAULT_FIELDS[key](value)
        setattr(fault, key, parsed)
    return fault
