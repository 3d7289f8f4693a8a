"""What is worth retrying, and how long to wait between tries (policy, via tenacity)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
import tenacity

log = logging.getLogger("gaama_async")
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


class TransientError(Exception):
    """A fault worth another try: a 5xx, a dropped connection, a timeout, a short body."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How persistently to retry transient faults. Tests shorten the waits, not the logic."""

    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 10.0

    def retrying(self) -> tenacity.AsyncRetrying:
        """A tenacity loop that retries ``TransientError`` and re-raises the last one."""
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=self.initial_wait, max=self.max_wait)
            + tenacity.wait_random(0, self.initial_wait),
            retry=tenacity.retry_if_exception_type(TransientError),
            before_sleep=_log_wait,
            reraise=True,
        )


def _log_wait(state: tenacity.RetryCallState) -> None:
    """Every wait is logged with its reason and length (messages never hold a token)."""
    error = state.outcome.exception() if state.outcome else None
    pause = state.next_action.sleep if state.next_action else 0.0
    log.info("retrying after %s: waiting %.2f s (try %d)", error, pause, state.attempt_number + 1)


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
)
