"""The pieces of the chaos suite: the fault mix, a request tap on the server, the checks.

The server's ``RequestRecord`` holds the answer time only, and no caller identity. The tap
below wraps the live ``Counters``/``FaultSet`` instances (not the server code) so every request
also gets its start time and the fault it drew; the caller is read from the path, because
every worker publishes to its own repository (``chaos/wN``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gaama_async.server import Fault, ReleaseServer
from gaama_async.server.storage import HOP_PREFIX, STORAGE_PREFIX

OWNER = "chaos"
MIB = 1 << 20
KIB = 1 << 10
TOLERANCE = 0.1  # seconds: event-loop lag on a loaded 2-core box; see early_requests
RATE_LIMIT_ROUTES = ("api.", "upload")


def chaos_seed() -> int:
    """``GAAMA_CHAOS_SEED`` when set, else a fresh random seed (printed by the test)."""
    raw = os.environ.get("GAAMA_CHAOS_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(1, 2**31)


def chaos_scale() -> float:
    """``GAAMA_CHAOS_SCALE`` multiplies the number of transfers (default 1)."""
    return float(os.environ.get("GAAMA_CHAOS_SCALE", "1"))


# clock_skew stays out of the mix: it shifts the whole server for the rest of the run, which
# wants a run of its own (tests/test_core_rules.py and tests/test_storage_faults.py have it).
SPLIT = "*.part*"  # the assets of files split into parts; whole files end in .bin


def fault_mix(rng: random.Random, rate: float = 2.0) -> list[Fault]:
    """Every fault kind of the issue, random and forever; order matters (first match wins).

    ``rate`` scales every probability (1: about one request in twelve draws a fault).
    """
    forever = {"times": None}
    faults = [
        # Rate limits first so they are not shadowed by the commoner faults.
        Fault("primary_limit", route="api.*", retry_after=rng.uniform(0.2, 1.0),
              probability=0.003, **forever),
        Fault("secondary_limit", route="api.*", status=429, retry_after=1,
              probability=0.003, **forever),
        Fault("secondary_limit", route="api.*", status=403, retry_after=None,
              probability=0.003, **forever),
        Fault("secondary_limit", route="upload", status=403, retry_after=1,
              probability=0.004, **forever),
        Fault("secondary_limit", route="upload", status=429, retry_after=None,
              probability=0.004, **forever),
        Fault("starter", route="upload", status=502, probability=0.03, **forever),
        Fault("cut", route="upload", after_bytes=rng.randrange(1, 200 * KIB),
              probability=0.03, **forever),
        Fault("corrupt", route="storage", after_bytes=rng.randrange(0, 100 * KIB),
              probability=0.005, **forever),
        Fault("expire", route="storage", probability=0.02, **forever),
        Fault("stall", route="storage", after_bytes=rng.randrange(1, 128 * KIB),
              delay=2.5, probability=0.004, **forever),
        Fault("stall", route="storage", after_bytes=rng.randrange(1, 128 * KIB),
              delay=rng.uniform(0.02, 0.2), probability=0.02, **forever),
        Fault("slow", route="*", delay=rng.uniform(0.01, 0.1), probability=0.02, **forever),
    ]  # fmt: skip
    faults += [
        # Kinds real storage and proxies show: a reset, a body short of its Content-Length,
        # a Range answered 200, a blob whose ETag changed, one more redirect, an HTML page.
        Fault("reset", route="storage", after_bytes=rng.randrange(1, 128 * KIB),
              probability=0.01, **forever),
        Fault("short", route="storage", after_bytes=rng.randrange(0, 128 * KIB),
              probability=0.01, **forever),
        Fault("redirect", route="storage", probability=0.01, **forever),
        Fault("missing", route="storage", probability=0.01, **forever),
        Fault("moved", route="api.*", probability=0.005, **forever),
        *(
            Fault(action, route="storage", asset=assets, probability=probability, **forever)
            for action, probability in (("ignore_range", 0.03), ("change", 0.005),
                                        ("html", 0.005))
            for assets in ("*.bin", SPLIT)
        ),
        # An upload the server stops reading: the client's read timeout (1.5 s) must end it.
        Fault("stall_upload", route="upload", after_bytes=rng.randrange(0, 64 * KIB),
              probability=0.005, **forever),
    ]  # fmt: skip
    for after in (rng.randrange(1, 64 * KIB), rng.randrange(64 * KIB, 300 * KIB)):
        faults.append(Fault("cut", route="storage", after_bytes=after, probability=0.02,
                            **forever))  # fmt: skip
    for status in (500, 502, 503, 504):
        for route in ("api.*", "upload", "storage"):
            faults.append(Fault("status", route=route, status=status, probability=0.006,
                                **forever))  # fmt: skip
    for fault in faults:
        fault.probability = min(1.0, fault.probability * rate)
    return faults


def fault_kind(fault: Fault) -> str:
    """The kind a fault counts under: its action, the origin and the assets it is aimed at.

    ``cut@upload`` and ``cut@storage`` are different things for the client to survive, and
    so are ``html@storage[*.bin]`` (whole files) and ``html@storage[*.part*]`` (split ones).
    """
    aimed = "" if fault.asset is None else f"[{fault.asset}]"
    return f"{fault.action}@{fault.route.rstrip('.*') or 'any'}{aimed}"


class Coverage:
    """Makes sure every kind of the mix fires and is survived at least once in a run.

    The mix is random; a rare kind (a primary limit, a corrupt body) may by chance never fire,
    or only on transfers that then failed. Before each round of the second half of the run,
    :meth:`top_up` adds one certain (``times=1``) copy of every kind not yet survived, unless
    one is still waiting to fire.
    """

    def __init__(self, server: ReleaseServer, mix: list[Fault]) -> None:
        self.faults = server.faults
        self.templates: dict[str, Fault] = {}
        for fault in mix:
            self.templates.setdefault(fault_kind(fault), fault)
        self.added: list[Fault] = []
        self._pending: dict[str, Fault] = {}

    def top_up(self, survived: Counter[str]) -> None:
        for kind, template in self.templates.items():
            waiting = self._pending.get(kind)
            if survived[kind] or (waiting is not None and waiting.hits == 0):
                continue
            sure = replace(template, times=1, probability=1.0, hits=0)
            self._pending[kind] = self.faults.add(sure)
            self.added.append(sure)


def fired(faults: list[Fault]) -> Counter[str]:
    """How many requests each kind hit (the server's own count on every Fault)."""
    counts: Counter[str] = Counter()
    for fault in faults:
        counts[fault_kind(fault)] += fault.hits
    return counts


@dataclass(frozen=True)
class Seen:
    """One answered request, with what the server log lacks: start time, fault, caller."""

    start: float
    end: float
    route: str
    method: str
    path: str
    status: int
    fault: tuple[str, int, float | None] | None  # action, status, retry_after
    worker: int | None
    kind: str | None = None  # fault_kind() of the fault drawn


class RequestTap:
    """Records start time and drawn fault per request by wrapping the live server objects.

    One aiohttp task serves one request at a time, from ``opened()`` through ``take()`` to
    ``record()``, so the running task ties the three together.
    """

    def __init__(self, server: ReleaseServer, repo_ids: dict[int, int]) -> None:
        self.seen: list[Seen] = []
        self._repo_ids = repo_ids
        self._starts: dict[object, float] = {}
        self._faults: dict[object, tuple[tuple[str, int, float | None], str]] = {}
        counters, faults = server.counters, server.faults
        opened, take, record = counters.opened, faults.take, counters.record

        def tapped_opened(origin: str) -> None:
            self._starts[asyncio.current_task()] = time.time()
            opened(origin)

        def tapped_take(route: str, applicable: object, **scope: Any) -> Fault | None:
            fault = take(route, applicable, **scope)  # type: ignore[arg-type]
            if fault is not None:
                drawn = (fault.action, fault.status, fault.retry_after)
                self._faults[asyncio.current_task()] = (drawn, fault_kind(fault))
            return fault

        def tapped_record(
            route: str, method: str, path: str, status: int, *, had_authorization: bool
        ) -> None:
            task = asyncio.current_task()
            now = time.time()
            start = self._starts.pop(task, now)
            fault, kind = self._faults.pop(task, (None, None))
            worker = self._worker(path)
            self.seen.append(Seen(start, now, route, method, path, status, fault, worker, kind))
            record(route, method, path, status, had_authorization=had_authorization)

        counters.opened = tapped_opened  # type: ignore[method-assign]
        faults.take = tapped_take  # type: ignore[method-assign]
        counters.record = tapped_record  # type: ignore[method-assign]

    def _worker(self, path: str) -> int | None:
        if match := re.match(rf"/repos/{OWNER}/w(\d+)/", path):
            return int(match.group(1))
        storage = f"(?:{re.escape(HOP_PREFIX)})?{re.escape(STORAGE_PREFIX)}"  # a redirect hop
        if match := re.match(rf"(?:/repositories|{storage})/(\d+)/", path):
            return self._repo_ids.get(int(match.group(1)))
        return None


def required_wait(seen: Seen, secondary_wait: float) -> float | None:
    """How long the client must stay away from the API/uploads after this answer."""
    if seen.status not in (403, 429) or not seen.route.startswith(RATE_LIMIT_ROUTES):
        return None
    if seen.fault is None:
        return 0.0  # a limit the server found on its own: itself a sign of an early request
    action, _, retry_after = seen.fault
    if action == "secondary_limit":
        return secondary_wait if retry_after is None else float(math.ceil(retry_after))
    if action == "primary_limit":
        assert retry_after is not None
        return seen.start + retry_after - seen.end  # the budget resets at start + retry_after
    return None


def early_requests(seen: list[Seen], secondary_wait: float) -> list[str]:
    """Requests a client sent to the API/uploads while it should have been waiting."""
    problems = []
    for limit in seen:
        wait = required_wait(limit, secondary_wait)
        if wait is None or limit.worker is None:
            continue
        if limit.fault is None and not _in_flight_behind_a_limit(seen, limit):
            # The server's own budget refused a request the client was free to send.
            problems.append(f"server-side limit {limit.status} on {limit.route} at {limit.end:.3f}")
            continue
        until = limit.end + wait
        for other in seen:
            if (
                other.worker == limit.worker
                and other.route.startswith(RATE_LIMIT_ROUTES)
                and limit.end + TOLERANCE < other.start < until - TOLERANCE
            ):
                problems.append(
                    f"worker {limit.worker}: {other.method} {other.route} started "
                    f"{other.start - limit.end:.3f} s after a {limit.fault[0]} "
                    f"({limit.status}) that asked for {wait:.2f} s"
                )
    return problems


def _in_flight_behind_a_limit(seen: list[Seen], limit: Seen) -> bool:
    """Whether ``limit`` answered a request already under way when an earlier limit of the
    same client was answered: after an injected primary exhaustion the server keeps its
    budget at zero, so requests in flight at that moment are refused too, legitimately."""
    return any(
        other is not limit
        and other.worker == limit.worker
        and other.status in (403, 429)
        and other.end <= limit.end
        and limit.start <= other.end + TOLERANCE
        for other in seen
    )


def faults_between(seen: list[Seen], worker: int, start: float, end: float) -> Counter[str]:
    """Fault kinds injected into ``worker``'s requests that ended inside ``[start, end]``."""
    return Counter(
        s.fault[0]
        for s in seen
        if s.fault is not None and s.worker == worker and start <= s.end <= end + TOLERANCE
    )


def kinds_between(seen: list[Seen], worker: int, start: float, end: float) -> set[str]:
    """Fault kinds (fault_kind) in ``worker``'s requests that ended inside ``[start, end]``."""
    return {
        s.kind
        for s in seen
        if s.kind is not None and s.worker == worker and start <= s.end <= end + TOLERANCE
    }


def retried_requests(seen: list[Seen]) -> int:
    """Failed requests (fault or error status) that the same caller sent again later."""
    later: Counter[tuple[object, ...]] = Counter()
    retried = 0
    for s in reversed(seen):
        key = (s.worker, s.method, s.route, s.path.split("?")[0])
        failed = (s.fault is not None and s.fault[0] != "slow") or s.status >= 500 or s.status in (
            403, 429)  # fmt: skip
        if failed and later[key]:
            retried += 1
        later[key] += 1
    return retried


def write_source(path: Path, size: int, rng: random.Random) -> str:
    """Write ``size`` random bytes from ``rng``; return their sha256."""
    data = rng.randbytes(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


class WaitLog(logging.Handler):
    """Counts the client's logged rate-limit waits."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.waits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "waiting" in message or "lowering concurrency" in message:
            self.waits.append(message)


@dataclass
class Tally:
    """What the run did, for the summary and the assertions."""

    transfers: Counter[str] = field(default_factory=Counter)
    verified: int = 0
    survived: Counter[str] = field(default_factory=Counter)  # kind -> verified transfers
    failures: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    failed_dirs: set[Path] = field(default_factory=set)


def unattributed(seen: list[Seen]) -> list[Seen]:
    """Requests the tap could not tie to a worker (should be none but the set-up ones)."""
    return [s for s in seen if s.worker is None]
