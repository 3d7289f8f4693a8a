"""GitHub's rate-limit rules (spec section 10.3): recognise a limit, compute the wait, and gate.

The decisions are pure functions of status, headers and message; the gate is the one small
piece of async state a client shares across its tasks, so no task keeps sending while the
client is told to wait.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import anyio

log = logging.getLogger("gaama_async")
_SECONDARY_MARKERS = (
    "secondary rate limit",
    "abuse detection",
    "please retry your request again later",
    "please wait a few minutes before you try again",
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A rate-limit answer: which kind, and how long GitHub asks us to wait."""

    kind: str  # "primary" or "secondary"
    wait: float
    reset_at: float | None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value.strip() if value is not None and value.strip() else None


def classify_rate_limit(
    status: int,
    headers: Mapping[str, str],
    message: str,
    *,
    now: float,
    secondary_wait: float = 60.0,
    strikes: int = 0,
    jitter: float = 0.0,
) -> RateLimit | None:
    """Return the rate limit a 403/429 answer signals, or None when it is not one.

    A secondary limit that names no wait gets ``secondary_wait``, doubled for each of the
    ``strikes`` that came just before it, plus ``jitter`` (a fraction, 0 to 1) of a tenth.
    """
    if status not in (403, 429):
        return None
    lowered = message.lower()
    retry_after = _header(headers, "retry-after")
    remaining = _header(headers, "x-ratelimit-remaining")
    reset = _header(headers, "x-ratelimit-reset")
    reset_at = float(reset) if reset and reset.isdigit() else None
    is_secondary = any(marker in lowered for marker in _SECONDARY_MARKERS)
    is_primary = remaining == "0" or "api rate limit exceeded" in lowered
    if not (is_secondary or is_primary or status == 429 or retry_after):
        return None
    kind = "secondary" if is_secondary or not is_primary else "primary"
    if retry_after is not None and retry_after.replace(".", "", 1).isdigit():
        return RateLimit(kind, float(retry_after), reset_at)
    if remaining == "0" and reset_at is not None:
        return RateLimit("primary", max(0.0, reset_at - now) + 1.0, reset_at)
    backoff = secondary_wait * 2 ** min(strikes, 6) * (1 + jitter / 10)
    return RateLimit(kind, backoff, reset_at)


def server_clock(date_header: str | None, fallback: float) -> float:
    """The server's time from its ``Date`` header (``fallback`` when absent or unreadable).

    ``x-ratelimit-reset`` is a moment on GitHub's clock; measuring the wait against our own
    clock would wait too long or too little by however far the two clocks disagree.
    """
    if not date_header:
        return fallback
    try:
        return email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError):
        return fallback


class ServerClock:
    """GitHub's time, estimated from the latest ``Date`` header plus local time since.

    The only clock two machines publishing one tag share; ``x-ratelimit-reset`` and draft
    leases are measured on it.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def observe(self, date_header: str | None) -> None:
        """Take in a ``Date`` header (one-second resolution: small moves are ignored)."""
        if date_header:
            now = time.time()
            seen = server_clock(date_header, now) - now
            if abs(seen - self._offset) >= 1.0:
                self._offset = seen

    def now(self) -> float:
        return time.time() + self._offset


def gate_extension(open_at: float, now: float, wait: float) -> float:
    """How much later a gate open at ``open_at`` opens when told to wait ``wait`` from ``now``.

    Several tasks told off by one limit extend the gate once, not once each.
    """
    return max(0.0, now + wait - max(open_at, now))


class RateLimitGate:
    """One per client: when any request is told to wait, every task of the client waits.

    It also keeps the client's total: ``max_total_wait`` is how long a client may be held by
    rate limits over its whole life, not per request.
    """

    def __init__(self, max_total_wait: float = float("inf")) -> None:
        self._open_at = 0.0
        self.max_total_wait = max_total_wait
        self.total_wait = 0.0

    def fits(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` more stays within the client's total."""
        extension = gate_extension(self._open_at, time.monotonic(), seconds)
        return self.total_wait + extension <= self.max_total_wait

    def block_for(self, seconds: float) -> None:
        """Keep the gate shut for ``seconds`` from now (never shortens an existing wait)."""
        now = time.monotonic()
        self.total_wait += gate_extension(self._open_at, now, seconds)
        self._open_at = max(self._open_at, now + seconds)

    async def wait(self) -> None:
        """Return once the gate is open."""
        # A loop, not an Event: another task may push the deadline later while we sleep.
        while (remaining := self._open_at - time.monotonic()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)


class AdaptiveConcurrency:
    """The client's transfer limiter: halved after a secondary limit, then raised by one per
    calm period, so a client that was told off does not come straight back at full force."""

    def __init__(self, maximum: int, *, calm_period: float = 30.0) -> None:
        self.maximum = maximum
        self.limiter = anyio.CapacityLimiter(maximum)
        self.calm_period = calm_period
        self._calm_since = time.monotonic()

    @property
    def current(self) -> int:
        return int(self.limiter.total_tokens)

    def back_off(self) -> None:
        lowered = max(1, self.current // 2)
        if lowered < self.current:
            log.warning("secondary rate limit: lowering concurrency to %d", lowered)
        self.limiter.total_tokens = lowered
        self._calm_since = time.monotonic()

    def note_success(self) -> None:
        now = time.monotonic()
        if self.current < self.maximum and now - self._calm_since >= self.calm_period:
            self.limiter.total_tokens = self.current + 1
            self._calm_since = now


class WritePacer:
    """Spaces out writes as GitHub asks (one per ``interval`` seconds), after a small burst.

    A token bucket: ``burst`` writes may go at once, then one per ``interval``. GitHub's
    content-creation limit (80 a minute) is what this keeps a bulk publish under.
    """

    def __init__(self, interval: float, *, burst: int = 10) -> None:
        self.interval = interval
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = anyio.Lock()

    async def wait(self) -> None:
        if self.interval <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) / self.interval)
            self._updated = now
            if self._tokens < 1:
                delay = (1 - self._tokens) * self.interval
                await anyio.sleep(delay)
                self._tokens, self._updated = 1.0, time.monotonic()
            self._tokens -= 1
