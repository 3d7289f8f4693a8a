"""The one retry layer: what is worth another try, how long to wait, and where tries are counted.

Every transfer and every API call retries through ``RetryPolicy.run`` and nowhere else. A run
started inside another run (in the same task, or in a task spawned by it) makes one try only:
the outer run owns the count, so tries can never multiply through nesting. A run's budget
starts afresh whenever its operation moved bytes since the last failure (``moved``), so a long
download over a flaky link keeps going while a dead one gives up after ``attempts`` tries.
Waits for rate limits are not tries: the shared gate holds them, and the total a client waits
is bounded by ``max_rate_limit_wait`` (see ``_ratelimit.RateLimitGate``).

GitHub's reads lag its writes (spec 9.3): a release or asset just written may be "not found"
for a moment. Only a request the caller marks as reading back its own write turns that 404
into ``StaleRead``, which has its own short budget (``after_write_tries`` tries,
``after_write_wait`` apart) and, once spent, ends the run with the ``NotFoundError`` itself.
"""

from __future__ import annotations

import contextvars
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from .errors import IntegrityError, NotFoundError, TransferError

log = logging.getLogger("gaama_async")
#: Retries and resumes: what a user watching progress wants to see (the CLI shows it).
notes = logging.getLogger("gaama_async.notes")
T = TypeVar("T")
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
_inside_run: contextvars.ContextVar[bool] = contextvars.ContextVar("gaama_retry", default=False)


class TransientError(Exception):
    """A fault worth another try: a 5xx, a dropped connection, a timeout, a short body.

    Private: it never leaves ``RetryPolicy.run``, which turns the last one into a
    ``TransferError``.
    """


class RateLimited(TransientError):
    """GitHub asked us to wait; the gate is already shut, so the next try waits there.

    Not counted as a try: how long a client may wait in total is the gate's business.
    """


class Corrupt(TransientError):
    """Bytes that did not hash to the promised sha256. Fetched afresh once (a bit flipped in
    transit); a second time means the stored copy is bad, and the run ends with
    ``IntegrityError``."""


class StaleRead(TransientError):
    """A 404 for something this client has just written: GitHub's read-after-write lag
    (spec 9.3), not a missing object yet. Raised ``from`` the ``NotFoundError``."""


CORRUPT_REFETCHES = 1


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How persistently to retry transient faults. Tests shorten the waits, not the logic."""

    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 10.0
    #: Tries, and seconds between them, for reading back a write GitHub does not show yet
    #: (spec 9.3 suggests 3 retries 1 s apart); not counted in ``attempts``.
    after_write_tries: int = 4
    after_write_wait: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.after_write_tries < 1:
            raise ValueError("RetryPolicy.after_write_tries must be at least 1")

    async def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        what: str,
        moved: Callable[[], int] | None = None,
        advice: str = "try again later",
    ) -> T:
        """Await ``operation()``, again after each ``TransientError``, up to ``attempts``
        counted tries; then raise ``TransferError`` naming ``what`` and ``advice``."""
        if _inside_run.get():
            return await operation()
        token = _inside_run.set(True)
        budget = _Budget(self.attempts, moved, self.after_write_tries)
        try:
            async for attempt in self._retrying(budget):
                with attempt:
                    return await operation()
        except TransientError as exc:
            error = budget.final_error(exc, what, advice)
            raise error from (None if error is exc.__cause__ else exc)
        finally:
            _inside_run.reset(token)
        raise AssertionError("tenacity re-raises the last error")  # pragma: no cover

    def backoff(self, tries: int, jitter: float) -> float:
        """Seconds to wait after ``tries`` counted failures; ``jitter`` is a fraction 0..1."""
        grown = self.initial_wait * 2.0 ** max(tries - 1, 0)
        return float(min(self.max_wait, grown) + jitter * self.initial_wait)

    def _retrying(self, budget: _Budget) -> tenacity.AsyncRetrying:
        def wait(state: tenacity.RetryCallState) -> float:
            # Read from the outcome: tenacity asks for the wait before the stop (which
            # counts the try), so the budget still describes the failure before this one.
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, RateLimited):
                return 0.0  # the gate does the waiting
            if isinstance(error, StaleRead):
                return self.after_write_wait
            return self.backoff(budget.tries, random.random())

        return tenacity.AsyncRetrying(
            stop=budget.exhausted,
            wait=wait,
            retry=tenacity.retry_if_exception_type(TransientError),
            before_sleep=_log_wait,
            reraise=True,
        )


class _Budget:
    """Counted tries of one run; rate-limit waits are free and moving bytes resets the count."""

    def __init__(
        self, attempts: int, moved: Callable[[], int] | None, after_write_tries: int = 1
    ) -> None:
        self.attempts = attempts
        self.moved = moved
        self.mark = moved() if moved else 0
        self.tries = 0
        self.corrupt = 0
        self.stale = 0
        self.after_write_tries = after_write_tries

    def final_error(self, last: TransientError, what: str, advice: str) -> Exception:
        """The public error a run ends with: bad bytes twice, or a fault that outlasted it."""
        if isinstance(last, Corrupt) and self.corrupt > CORRUPT_REFETCHES:
            return IntegrityError(
                f"{last}, again after a fresh download; the copy on GitHub may be corrupt: "
                "publish it again."
            )
        if isinstance(last, StaleRead) and isinstance(last.__cause__, NotFoundError):
            return last.__cause__
        return TransferError(f"{what} failed after {self.tries} tries ({last}); {advice}.")

    def exhausted(self, state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return False
        if isinstance(error, StaleRead):
            self.stale += 1
            return self.stale >= self.after_write_tries
        self.tries += 1
        if isinstance(error, Corrupt):
            self.corrupt += 1
            if self.corrupt > CORRUPT_REFETCHES:
                return True
        if self.moved is not None and (now := self.moved()) > self.mark:
            self.mark, self.tries = now, 1
        return self.tries >= self.attempts


def _log_wait(state: tenacity.RetryCallState) -> None:
    """Every wait is logged with its reason and length (messages never hold a token)."""
    error = state.outcome.exception() if state.outcome else None
    pause = state.next_action.sleep if state.next_action else 0.0
    notes.info("retrying after %s: waiting %.2f s", error, pause)
