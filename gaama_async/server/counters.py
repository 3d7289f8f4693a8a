"""Live request statistics, read by tests and benchmarks."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One answered request, in the order answers were sent."""

    time: float
    route: str
    method: str
    path: str
    status: int
    had_authorization: bool


@dataclass
class Counters:
    """Totals over every origin of one server since start or the last :meth:`reset`.

    ``connections_open``/``connections_peak`` count requests in flight (all origins), which is
    the parallelism a client really achieves; aiohttp does not expose raw socket events.
    ``open_by_origin``/``peak_by_origin`` count them per origin (``api``, ``uploads``,
    ``storage``, ``web``): GitHub's concurrent-request limit concerns the API.
    ``faults_injected`` counts injected faults by action, ``fault_hits`` by action and the
    name of the asset the request was about (None for requests about no asset), so a test
    can check that a fault hit what it was aimed at and not, say, the manifest.
    """

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    bytes_sent: int = 0
    bytes_received: int = 0
    connections_peak: int = 0
    open_by_origin: Counter[str] = field(default_factory=Counter)
    peak_by_origin: Counter[str] = field(default_factory=Counter)
    storage_requests_with_authorization: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    fault_hits: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    log: list[RequestRecord] = field(default_factory=list)

    def opened(self, origin: str) -> None:
        """Note a request entering the server at ``origin``."""
        self.open_by_origin[origin] += 1
        self.connections_peak = max(self.connections_peak, self.connections_open)
        self.peak_by_origin[origin] = max(self.peak_by_origin[origin], self.open_by_origin[origin])

    def closed(self, origin: str) -> None:
        """Note a request leaving the server at ``origin``."""
        self.open_by_origin[origin] -= 1

    @property
    def connections_open(self) -> int:
        """Requests in flight now, over every origin."""
        return sum(self.open_by_origin.values())

    def record(
        self, route: str, method: str, path: str, status: int, *, had_authorization: bool
    ) -> None:
        """Count one answered request."""
        self.requests[route] += 1
        self.statuses[status] += 1
        self.log.append(RequestRecord(time.time(), route, method, path, status, had_authorization))

    def fault_hit(self, action: str, asset: str | None) -> None:
        """Count one injected fault on a request about ``asset`` (None: about no asset)."""
        self.faults_injected[action] += 1
        self.fault_hits[(action, asset)] += 1

    def hits(self, action: str, asset: str | None) -> int:
        """How many ``action`` faults hit requests about ``asset`` (None: about no asset)."""
        return self.fault_hits[(action, asset)]

    def reset(self) -> None:
        """Zero everything except the requests still in flight."""
        open_by_origin = self.open_by_origin
        fresh = Counters()
        for name in fresh.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))
        self.open_by_origin = open_by_origin
        self.peak_by_origin = Counter(open_by_origin)
        self.connections_peak = self.connections_open

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy (status keys become strings, fault hits ``"action:asset"``)."""
        data = asdict(self)
        data["requests"] = dict(self.requests)
        data["connections_open"] = self.connections_open
        data["open_by_origin"] = dict(self.open_by_origin)
        data["peak_by_origin"] = dict(self.peak_by_origin)
        data["statuses"] = {str(k): v for k, v in self.statuses.items()}
        data["faults_injected"] = dict(self.faults_injected)
        data["fault_hits"] = {
            f"{action}:{asset or ''}": count for (action, asset), count in self.fault_hits.items()
        }
        return data
