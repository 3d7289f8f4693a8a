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
    """

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    bytes_sent: int = 0
    bytes_received: int = 0
    connections_open: int = 0
    connections_peak: int = 0
    storage_requests_with_authorization: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    log: list[RequestRecord] = field(default_factory=list)

    def opened(self) -> None:
        """Note a request entering the server."""
        self.connections_open += 1
        self.connections_peak = max(self.connections_peak, self.connections_open)

    def closed(self) -> None:
        """Note a request leaving the server."""
        self.connections_open -= 1

    def record(
        self, route: str, method: str, path: str, status: int, *, had_authorization: bool
    ) -> None:
        """Count one answered request."""
        self.requests[route] += 1
        self.statuses[status] += 1
        self.log.append(RequestRecord(time.time(), route, method, path, status, had_authorization))

    def reset(self) -> None:
        """Zero everything except the requests still in flight."""
        open_now = self.connections_open
        fresh = Counters()
        for name in fresh.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))
        self.connections_open = open_now
        self.connections_peak = open_now

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy (status keys become strings)."""
        data = asdict(self)
        data["requests"] = dict(self.requests)
        data["statuses"] = {str(k): v for k, v in self.statuses.items()}
        data["faults_injected"] = dict(self.faults_injected)
        return data
