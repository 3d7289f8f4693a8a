"""Requests to GitHub: auth, the rate-limit gate, retries of transient faults, error mapping.

Everything that talks HTTP goes through ``GitHubHTTP`` so that the token is attached in one
place, and only for the API and uploads origins — never for storage or redirect targets.
"""

from __future__ import annotations

import base64
import json as jsonlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from yarl import URL

from ._ratelimit import AdaptiveConcurrency, RateLimitGate, WritePacer, classify_rate_limit
from ._responses import error_for_status
from ._retry import RETRYABLE_STATUSES, TRANSPORT_ERRORS, RetryPolicy, TransientError
from ._version import __version__
from .errors import GaamaError, RateLimitError

log = logging.getLogger("gaama_async")

API_VERSION = "2022-11-28"
JSON_ACCEPT = "application/vnd.github+json"
MAX_ERROR_BODY = 64 * 1024
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

BodyFactory = Callable[[], Any]


def auth_header(token: str | None, username: str | None, password: str | None) -> str | None:
    """The ``Authorization`` value for a token, or Basic for gaama 0.7.2-style credentials."""
    if token:
        return f"Bearer {token}"
    if username and password:
        pair = f"{username}:{password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return None


def origin(url: str | URL) -> tuple[str, str, int | None]:
    """Scheme, host and port: the unit the token is trusted to."""
    parsed = URL(url)
    return (parsed.scheme, parsed.host or "", parsed.port)


class GitHubHTTP:
    """One aiohttp session, one rate-limit gate, and the token, for one client."""

    def __init__(
        self,
        *,
        api_url: str,
        authorization: str | None,
        retry: RetryPolicy,
        max_rate_limit_wait: float,
        secondary_wait: float,
        connect_timeout: float,
        read_timeout: float,
        concurrency: AdaptiveConcurrency,
        write_interval: float,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._authorization = authorization
        self._trusted = {origin(self.api_url)}
        self.retry = retry
        self.gate = RateLimitGate()
        self.concurrency = concurrency
        self.pacer = WritePacer(write_interval)
        self._max_rate_limit_wait = max_rate_limit_wait
        self._secondary_wait = secondary_wait
        self._strikes = 0  # rate limits in a row, for exponential backoff
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def trust(self, url: str) -> None:
        """Allow the token on ``url``'s origin (the uploads host named by ``upload_url``)."""
        self._trusted.add(origin(url))

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={
                    "User-Agent": f"gaama-async/{__version__}",
                    "X-GitHub-Api-Version": API_VERSION,
                },
                connector=aiohttp.TCPConnector(limit=0),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, url: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Accept": JSON_ACCEPT, **(extra or {})}
        if self._authorization and origin(url) in self._trusted:
            headers["Authorization"] = self._authorization
        return headers

    @asynccontextmanager
    async def open(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        body: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield a successful (< 400) response; raise a typed error else.

        Redirects are not followed: the caller decides where a 302 may lead (and the token
        never goes there). ``body`` makes a fresh request body for each try.
        """
        if not retry:
            response = await self._send(method, url, what, params, json, body, headers)
        else:
            try:
                async for attempt in self.retry.retrying():
                    with attempt:
                        response = await self._send(method, url, what, params, json, body, headers)
            except TransientError as exc:
                raise GaamaError(
                    f"GitHub kept failing ({exc}) after {self.retry.attempts} tries; "
                    "try again later."
                ) from exc
        try:
            yield response
        finally:
            response.release()

    async def _send(
        self,
        method: str,
        url: str,
        what: str,
        params: Mapping[str, str] | None,
        json: Any,
        body: BodyFactory | None,
        headers: Mapping[str, str] | None,
    ) -> aiohttp.ClientResponse:
        waited = 0.0
        while True:
            await self.gate.wait()
            if method in WRITE_METHODS:
                await self.pacer.wait()
                await self.gate.wait()
            try:
                response = await self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=body() if body is not None else None,
                    headers=self._headers(url, headers),
                    allow_redirects=False,
                )
            except TRANSPORT_ERRORS as exc:
                raise TransientError(f"{type(exc).__name__} during {what}") from exc
            if response.status < 400:
                self._strikes = 0
                self.concurrency.note_success()
                return response
            payload = await _read_error_payload(response)
            wait = self._rate_limit_wait(response, payload, what, waited)
            if wait is None:
                if response.status in RETRYABLE_STATUSES:
                    raise TransientError(f"HTTP {response.status} during {what}")
                raise error_for_status(response.status, payload, what=what)
            waited += wait

    def _rate_limit_wait(
        self, response: aiohttp.ClientResponse, payload: Any, what: str, waited: float
    ) -> float | None:
        message = str(payload.get("message", "")) if isinstance(payload, dict) else ""
        limit = classify_rate_limit(
            response.status,
            response.headers,
            message,
            now=time.time(),
            secondary_wait=self._secondary_wait,
            strikes=self._strikes,
            jitter=random.random(),
        )
        if limit is None:
            return None
        self._strikes += 1
        if waited + limit.wait > self._max_rate_limit_wait:
            reset = limit.reset_at or time.time() + limit.wait
            stamp = time.strftime("%H:%M:%S UTC", time.gmtime(reset))
            raise RateLimitError(
                f"GitHub's {limit.kind} rate limit stopped {what}; it lifts around {stamp}: "
                "retry then, or raise max_rate_limit_wait.",
                status=response.status,
                reset_at=reset,
            )
        log.warning("%s rate limit during %s: waiting %.1f s", limit.kind, what, limit.wait)
        self.gate.block_for(limit.wait)
        if limit.kind == "secondary":
            self.concurrency.back_off()
        return limit.wait

    async def json(self, method: str, url: str, *, what: str, **kwargs: Any) -> Any:
        """Send a request and return its decoded JSON body (None for 204)."""
        async with self.open(method, url, what=what, **kwargs) as response:
            if response.status == 204:
                return None
            try:
                return await response.json(content_type=None)
            except (ValueError, aiohttp.ClientPayloadError) as exc:
                raise GaamaError(f"GitHub sent a malformed answer for {what}.") from exc

    async def paginate(self, url: str, *, what: str) -> list[Any]:
        """Every item of a paginated list, following ``Link: rel="next"`` exactly as given."""
        items: list[Any] = []
        next_url: str | None = url
        params: Mapping[str, str] | None = {"per_page": "100"}
        while next_url is not None:
            async with self.open("GET", next_url, what=what, params=params) as response:
                page = await response.json(content_type=None)
                next_link = next(
                    (v for k, v in response.links.items() if str(k).lower() == "next"), None
                )
            if not isinstance(page, list):
                raise GaamaError(f"GitHub sent a malformed list for {what}.")
            items.extend(page)
            next_url = str(next_link["url"]) if next_link else None
            params = None
        return items


async def _read_error_payload(response: aiohttp.ClientResponse) -> Any:
    """A small error body as JSON when it is JSON, else as text; never the whole stream."""
    try:
        raw = await response.content.read(MAX_ERROR_BODY)
    except TRANSPORT_ERRORS:
        raw = b""
    finally:
        response.release()
    try:
        return jsonlib.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
