"""Turn a GitHub error answer into the most specific public exception, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import (
    AuthenticationError,
    GaamaError,
    NotFoundError,
    RateLimitError,
)


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
