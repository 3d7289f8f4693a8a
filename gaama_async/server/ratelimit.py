"""Primary (hourly budget) and secondary (content creation, concurrency) rate limits.

Decisions only; the middleware asks and turns the answers into headers and 403s.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

PRIMARY_MESSAGE_USER = (
    "API rate limit exceeded for user ID {user_id}. If you reach out to GitHub Support for help,"
    " please include the request ID {request_id} and timestamp {timestamp} UTC."
)
PRIMARY_MESSAGE_IP = (
    "API rate limit exceeded for {ip}. (But here's the good news: Authenticated requests get a"
    " higher rate limit. Check out the documentation for more details.)"
)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit and have been temporarily blocked from content"
    " creation. Please retry your request again later. If you reach out to GitHub Support for"
    " help, please include the request ID {request_id} and timestamp {timestamp} UTC."
)


@dataclass
class Budget:
    """One caller's core budget in the current window."""

    limit: int
    used: int
    reset: float

    @property
    def remaining(self) -> int:
        """Calls left before the window resets."""
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers describing this budget."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
            "X-RateLimit-Used": str(min(self.used, self.limit)),
            "X-RateLimit-Resource": "core",
        }


@dataclass
class PrimaryLimits:
    """Core budgets keyed by token (or by client IP for anonymous callers)."""

    _budgets: dict[str, Budget] = field(default_factory=dict)

    def budget(self, key: str, limit: int, window: float, now: float) -> Budget:
        """The live budget of ``key``, opening a fresh window when the old one has passed."""
        budget = self._budgets.get(key)
        if budget is None or now >= budget.reset:
            budget = Budget(limit, 0, now + window)
            self._budgets[key] = budget
        budget.limit = limit
        return budget

    def exhaust(self, key: str, limit: int, until: float) -> Budget:
        """Spend the whole budget of ``key`` until ``until`` (the primary_limit fault)."""
        budget = Budget(limit, limit, until)
        self._budgets[key] = budget
        return budget


@dataclass
class SecondaryLimits:
    """Content-creation counts per caller over the last minute and hour."""

    _writes: dict[str, deque[float]] = field(default_factory=dict)

    def allow_write(self, key: str, now: float, *, per_minute: int, per_hour: int) -> bool:
        """Record a content-creating request unless it would break a limit."""
        stamps = self._writes.setdefault(key, deque())
        while stamps and stamps[0] <= now - 3600.0:
            stamps.popleft()
        last_minute = sum(1 for t in stamps if t > now - 60.0)
        if last_minute >= per_minute or len(stamps) >= per_hour:
            return False
        stamps.append(now)
        return True
