"""The server's wall clock, which tests may set ahead of or behind the client's.

``ServerConfig.clock_offset`` (or a ``clock_skew`` fault) shifts every time the server
shows: ``Date`` headers, ``X-RateLimit-Reset``, signed-URL expiries and the timestamps it
writes into JSON from then on, as a server whose NTP has drifted or a client machine with a
wrong clock would see. Monotonic time (pacing, stalls) is not shifted.

The store stamps records without knowing which server it serves, so the pipelines name the
serving configuration in a context variable for the duration of each request.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from email.utils import formatdate

from .config import ServerConfig

_SERVING: ContextVar[ServerConfig | None] = ContextVar("serving", default=None)


def serving(config: ServerConfig) -> Token[ServerConfig | None]:
    """Make ``config``'s clock the one this request's code reads (undo with :func:`done`)."""
    return _SERVING.set(config)


def done(token: Token[ServerConfig | None]) -> None:
    """Forget the configuration set by :func:`serving`."""
    _SERVING.reset(token)


def wall_time() -> float:
    """Epoch seconds as the serving server believes them (real time outside requests)."""
    config = _SERVING.get()
    return time.time() + (config.clock_offset if config is not None else 0.0)


def date_header(config: ServerConfig) -> str | None:
    """The ``Date`` header a skewed server sends; None when its clock is right."""
    if not config.clock_offset:
        return None
    return formatdate(time.time() + config.clock_offset, usegmt=True)
