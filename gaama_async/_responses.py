"""The one error mapping: GitHub's error answers and the transport's failures, each turned
into the most specific exception in one place (as httpx's ``map_httpcore_exceptions``).

A dropped connection, a timeout or a truncated body, whether it happens while sending or
while reading a body, becomes a ``TransientError`` (retried by the one retry layer); an
error answer becomes the public ``GaamaError`` subclass that says what went wrong.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp

from ._retry import RETRYABLE_STATUSES, TransientError
from .errors import (
    AuthenticationError,
    GaamaError,
    NotFoundError,
    RateLimitError,
)

# Every way the transport fails that another try may cure. TLS verification failures are
# not among them: they are ``ClientConnectorCertificateError``, mapped to a clear error.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
    ConnectionError,
    http.client.HTTPException,  # storage reads on worker threads (_wire): a cut or bad answer
)


@contextmanager
def mapped_transport_errors(what: str) -> Iterator[None]:
    """Raise a ``TransientError`` naming ``what`` for any transport failure inside.

    Wrap every send and every body read in it: a connection dropped mid-body is the same
    fault as one dropped before the answer, and is retried the same way.
    """
    try:
        yield
    except aiohttp.ClientConnectorCertificateError as exc:
        raise GaamaError(
            f"TLS certificate check failed for {what} ({exc.certificate_error}); "
            "set REQUESTS_CA_BUNDLE or SSL_CERT_FILE to the CA bundle that signed it."
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        raise GaamaError(
            f"TLS certificate check failed for {what} ({exc.verify_message}); "
            "set SSL_CERT_FILE to the CA bundle that signed it."
        ) from exc
    except aiohttp.TooManyRedirects as exc:
        raise TransientError(f"redirected too many times during {what}") from exc
    except ssl.SSLError as exc:
        raise TransientError(f"TLS error during {what}: {exc}") from exc
    except TRANSPORT_ERRORS as exc:
        raise TransientError(f"{describe_transport_error(exc)} during {what}") from exc


def describe_transport_error(exc: BaseException) -> str:
    """A short phrase for a transport failure, naming the host when one refused us."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.strerror or exc})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError | http.client.IncompleteRead):
        return "the connection broke mid-body"
    text = str(exc)  # words, not a class name: the CLI prints this
    return f"the connection failed ({text})" if text else "the connection failed"


def is_retryable_status(status: int) -> bool:
    """5xx answers GitHub and storage send while overloaded or restarting."""
    return status in RETRYABLE_STATUSES


def error_message(payload: Any) -> str:
    """GitHub's ``message`` plus any validation ``errors`` details, as one line."""
    if not isinstance(payload, Mapping):
        return str(payload or "").strip()[:300]
    message = str(payload.get("message") or "").strip()
    details = []
    for item in payload.get("errors") or ():
        if isinstance(item, Mapping):
            parts = [str(item.get(k)) for k in ("resource", "field", "code") if item.get(k)]
            text = str(item.get("message") or "")
            details.append(" ".join(parts) + (f" ({text})" if text else ""))
        else:
            details.append(str(item))
    return message + (": " + "; ".join(details) if details else "")


def validation_codes(payload: Any) -> set[tuple[str, str]]:
    """The ``(field, code)`` pairs of a 422 answer, e.g. ``("name", "already_exists")``."""
    if not isinstance(payload, Mapping):
        return set()
    return {
        (str(e.get("field") or ""), str(e.get("code") or ""))
        for e in payload.get("errors") or ()
        if isinstance(e, Mapping)
    }


def error_for_status(
    status: int,
    payload: Any,
    *,
    what: str,
    rate_limit_reset: float | None = None,
) -> GaamaError:
    """Map an HTTP error answer about ``what`` (e.g. "release 'v1' of acme/models")."""
    detail = error_message(payload) or f"HTTP {status}"
    if status == 401:
        return AuthenticationError(
            f"GitHub refused the credentials for {what} ({detail}): "
            "check that GITHUB_TOKEN holds a valid, unexpired token.",
            status=status,
            details=payload,
        )
    if status == 404:
        return NotFoundError(
            f"Not found: {what}. Check the name, and that the token can see the repository.",
            status=status,
            details=payload,
        )
    if status in (403, 429) and rate_limit_reset is not None:
        return RateLimitError(
            f"GitHub's rate limit stopped {what} ({detail}); retry after it resets.",
            status=status,
            reset_at=rate_limit_reset,
        )
    if status == 403:
        return AuthenticationError(
            f"GitHub denied {what} ({detail}): the token lacks the permission "
            "(classic: 'repo' scope; fine-grained: Contents read/write).",
            status=status,
            details=payload,
        )
    return GaamaError(
        f"GitHub answered HTTP {status} for {what}: {detail}.", status=status, details=payload
    )
