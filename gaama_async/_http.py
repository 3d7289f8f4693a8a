"""Requests to GitHub: auth, the rate-limit gate, redirects of renamed repositories.

Everything that talks HTTP goes through ``GitHubHTTP`` so that the token is attached in one
place, and only for the API origin and the uploads host GitHub names for it — never for
storage or redirect targets. ``open`` makes exactly one try; ``json`` and ``paginate`` retry
through the client's one ``RetryPolicy`` (and make one try when called inside another run).
Failures are mapped to exceptions in ``_responses``, the one error mapping.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json as jsonlib
import logging
import os
import random
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, NoReturn, TypeVar

import aiohttp
import anyio
from yarl import URL

from ._concurrency import run_all
from ._config import DEFAULT_API_CONCURRENCY, Pacing, Timeouts
from ._netenv import Proxy, TrustStore, proxy_for, trust_store
from ._ratelimit import (
    AdaptiveConcurrency,
    RateLimit,
    RateLimitGate,
    ServerClock,
    WritePacer,
    classify_rate_limit,
    server_clock,
)
from ._responses import error_for_status, is_retryable_status, mapped_transport_errors
from ._retry import RateLimited, RetryPolicy, StaleRead, TransientError
from ._version import __version__
from ._wire import WirePool
from .errors import GaamaError, NotFoundError, RateLimitError

log = logging.getLogger("gaama_async")
# The paths aiohttp's default context loaded when it was imported (above, with the others).
_DEFAULTS_AT_IMPORT = ssl.get_default_verify_paths()

API_VERSION = "2022-11-28"
JSON_ACCEPT = "application/vnd.github+json"
MAX_ERROR_BODY = 64 * 1024
MAX_API_REDIRECTS = 3
PER_PAGE = 100  # GitHub's documented maximum (spec 5)
# Pages of one list asked at once when their count is known: GitHub's secondary limits
# allow 100 concurrent requests, and this stays well inside the client's own budget.
PAGES_AT_ONCE = 8
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# GitHub's "repeat the request verbatim" redirects (a renamed or transferred repository).
VERBATIM_REDIRECTS = frozenset({301, 307, 308})

BodyFactory = Callable[[], Any]
T = TypeVar("T")


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


def is_uploads_host_of(api_url: str | URL, upload_url: str | URL) -> bool:
    """Whether ``upload_url`` is where GitHub takes uploads for ``api_url``: the API's own
    host (GitHub Enterprise), its ``uploads.`` sibling (github.com's ``api.github.com`` →
    ``uploads.github.com``), or, for an API on loopback, another loopback address (the local
    server's default layout; such traffic never leaves the machine). Never over a weaker
    scheme."""
    api, upload = URL(api_url), URL(upload_url)
    if not upload.host or (api.scheme == "https" and upload.scheme != "https"):
        return False
    api_host, upload_host = api.host or "", upload.host
    if upload_host == api_host or (is_loopback(api_host) and is_loopback(upload_host)):
        return True
    return api_host.startswith("api.") and upload_host == "uploads." + api_host[4:]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine's loopback interface: ``localhost`` or 127.0.0.0/8, ::1."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_redirect(
    status: int, location: str | None, url: str, trusted: set[tuple[str, str, int | None]]
) -> str | None:
    """Where to repeat a request GitHub redirected verbatim, or None to hand the answer back
    (a 302 to storage is the caller's business, and the token never follows it)."""
    if status not in VERBATIM_REDIRECTS or not location:
        return None
    target = URL(url).join(URL(location))
    return str(target) if origin(target) in trusted else None


class GitHubHTTP:
    """One aiohttp session, one rate-limit gate, and the token, for one client."""

    def __init__(
        self,
        *,
        api_url: str,
        authorization: str | None,
        retry: RetryPolicy,
        pacing: Pacing,
        timeouts: Timeouts,
        concurrency: AdaptiveConcurrency,
        api_concurrency: int = DEFAULT_API_CONCURRENCY,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._env = dict(os.environ if env is None else env)
        self._ssl = ssl_context(trust_store(self._env))
        self._authorization = authorization
        self._api_origin = origin(self.api_url)
        self._trusted = {self._api_origin}
        self.retry = retry
        self.gate = RateLimitGate(pacing.max_rate_limit_wait)
        self.clock = ServerClock()
        self.concurrency = concurrency
        # Requests in flight to the API host: GitHub's concurrent-request limit is per token.
        self._api_slots = anyio.Semaphore(api_concurrency)
        self.pacer = WritePacer(pacing.write_interval)
        self._secondary_wait = pacing.secondary_wait
        self._strikes = 0  # rate limits in a row, for exponential backoff
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeouts.connect, sock_read=timeouts.read
        )
        self._session: aiohttp.ClientSession | None = None
        # Storage bodies are read on worker threads (see _wire), on their own connections.
        self.wire = WirePool(
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.read,
            user_agent=f"gaama-async/{__version__}",
            context=self._ssl if isinstance(self._ssl, ssl.SSLContext) else None,
        )
        # Whether a repository's web host hands out storage links anonymously (public
        # repositories do), keyed by its web page URL; see ``_storage.StorageLink``.
        self.web_links: dict[str, bool] = {}
        self.web_probe = anyio.Lock()
        # Set, per web page URL, once a probe of it has ended (whatever it learnt).
        self.web_probed: dict[str, anyio.Event] = {}
        # Each asset's storage location while some ``_storage.StorageLink`` of it is alive,
        # by the asset's API URL: shared, so a link resolved ahead serves the transfer's own.
        self.storage_links: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()

    def trust(self, url: str) -> None:
        """Allow the token on ``url``'s origin: the uploads host a release's ``upload_url``
        names. Any host but the API's own or its ``uploads.`` sibling is refused."""
        if not is_uploads_host_of(self.api_url, url):
            raise GaamaError(
                f"GitHub named {URL(url).host or url!r} as the uploads host for "
                f"{self.api_url}; refusing to send the token there. Check --api-url."
            )
        self._trusted.add(origin(url))

    def is_trusted(self, url: str) -> bool:
        """Whether the token may go to ``url`` (the API, or a trusted uploads host)."""
        return origin(url) in self._trusted

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={
                    "User-Agent": f"gaama-async/{__version__}",
                    "X-GitHub-Api-Version": API_VERSION,
                },
                connector=aiohttp.TCPConnector(limit=0, ssl=self._ssl),
            )
        return self._session

    def proxy_for(self, url: str) -> dict[str, Any]:
        """The ``proxy``/``proxy_auth`` arguments for a request to ``url``: the proxy the
        environment names for it (``HTTPS_PROXY``, ``NO_PROXY``, ...; see ``_netenv``)."""
        proxy = proxy_for(url, self._env)
        return {} if proxy is None else _proxy_arguments(proxy)

    async def aclose(self) -> None:
        self.wire.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, url: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Accept": JSON_ACCEPT, **(extra or {})}
        if self._authorization and self.is_trusted(url):
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
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request and yield a successful (< 400) response; raise a typed error else.

        One try, always: callers retry through ``RetryPolicy.run``. Verbatim redirects of a
        renamed repository are followed on trusted origins; a 302 is handed back (storage).
        ``body`` makes a fresh request body for each try.
        """
        for _ in range(MAX_API_REDIRECTS + 1):
            response = await self._send(method, url, what, params, json, body, headers)
            target = api_redirect(
                response.status, response.headers.get("Location"), url, self._trusted
            )
            if target is None:
                break
            response.release()
            log.info("GitHub moved %s to %s", url, target)
            url, params = target, None
        else:
            raise GaamaError(f"GitHub redirected {what} more than {MAX_API_REDIRECTS} times.")
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
        await self.gate.wait()
        if method in WRITE_METHODS:
            await self.pacer.wait()
        async with self._slot_for(url):
            await self.gate.wait()
            with mapped_transport_errors(what):
                response = await self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=body() if body is not None else None,
                    headers=self._headers(url, headers),
                    allow_redirects=False,
                    **self.proxy_for(url),
                )
        self.clock.observe(response.headers.get("Date"))
        if response.status < 400:
            self._strikes = 0
            self.concurrency.note_success()
            return response
        payload = await _read_error_payload(response)
        self._raise_for(response, payload, what)

    def _slot_for(self, url: str) -> AbstractAsyncContextManager[Any]:
        """A place among the API host's requests in flight; other hosts (uploads, the web
        host) are not held to it. Held until the answer's headers are in."""
        if origin(url) == self._api_origin:
            return self._api_slots
        return nullcontext()

    def _raise_for(self, response: aiohttp.ClientResponse, payload: Any, what: str) -> NoReturn:
        limit = self._rate_limit_of(response, payload)
        if limit is not None:
            self._hold_for(limit, response.status, what)
        if is_retryable_status(response.status):
            raise TransientError(f"HTTP {response.status} during {what}")
        raise error_for_status(response.status, payload, what=what)

    def _rate_limit_of(self, response: aiohttp.ClientResponse, payload: Any) -> RateLimit | None:
        message = str(payload.get("message", "")) if isinstance(payload, dict) else ""
        return classify_rate_limit(
            response.status,
            response.headers,
            message,
            now=server_clock(response.headers.get("Date"), time.time()),
            secondary_wait=self._secondary_wait,
            strikes=self._strikes,
            jitter=random.random(),
        )

    def _hold_for(self, limit: RateLimit, status: int, what: str) -> NoReturn:
        """Shut the client's gate for the limit's wait and ask for another try, or give up
        when the client's total wait would pass ``max_rate_limit_wait``."""
        self._strikes += 1
        if not self.gate.fits(limit.wait):
            reset = limit.reset_at or time.time() + limit.wait
            stamp = time.strftime("%H:%M:%S UTC", time.gmtime(reset))
            raise RateLimitError(
                f"GitHub's {limit.kind} rate limit stopped {what}; it lifts around {stamp}: "
                "retry then, or raise max_rate_limit_wait.",
                status=status,
                reset_at=reset,
            )
        log.warning("%s rate limit during %s: waiting %.1f s", limit.kind, what, limit.wait)
        self.gate.block_for(limit.wait)
        if limit.kind == "secondary":
            self.concurrency.back_off()
        raise RateLimited(f"{limit.kind} rate limit during {what}")

    async def json(
        self, method: str, url: str, *, what: str, after_write: bool = False, **kwargs: Any
    ) -> Any:
        """Send a request and return its decoded JSON body (None for 204), with retries.

        ``after_write``: the request reads back (or edits) what this client has just
        written, so a 404 is GitHub's read-after-write lag, retried briefly (``StaleRead``).
        """

        async def once() -> Any:
            return await self._json_once(method, url, what, kwargs, after_write)

        return await self.retry.run(once, what=what)

    async def parsed(
        self,
        parse: Callable[[Any], T],
        method: str,
        url: str,
        *,
        what: str,
        after_write: bool = False,
        **kwargs: Any,
    ) -> T:
        """Like ``json``, then ``parse`` the answer (e.g. ``Release.from_json``); an answer of
        the wrong shape is a fault worth another try, never a ``KeyError``."""

        async def once() -> T:
            answer = await self._json_once(method, url, what, kwargs, after_write)
            return _parse(parse, answer, what)

        return await self.retry.run(once, what=what)

    async def _json_once(
        self, method: str, url: str, what: str, kwargs: dict[str, Any], after_write: bool
    ) -> Any:
        try:
            async with self.open(method, url, what=what, **kwargs) as response:
                if response.status == 204:
                    return None
                with mapped_transport_errors(what):
                    raw = await response.read()
        except NotFoundError as exc:
            if after_write:
                raise StaleRead(f"GitHub does not show yet what was just written ({what})") from exc
            raise
        return _decode_json(raw, what)

    async def paginate(
        self, url: str, *, what: str, parse: Callable[[Any], T], at_least: int = 0
    ) -> list[T]:
        """Every item of a paginated list, following ``Link: rel="next"`` exactly as given,
        each ``parse``d (an item of the wrong shape is retried like a malformed page).

        ``at_least``: how many items are known to exist (a release's inline assets). Their
        pages are then asked all at once (``page=1..n``, a few at a time), one round trip
        instead of one per page; the last one's ``next`` is followed as usual."""
        pages = pages_holding(at_least)
        items: list[T] = []
        next_url: str | None = url
        params: Mapping[str, str] | None = {"per_page": str(PER_PAGE)}
        if pages > 1:
            items, next_url = await self._pages_at_once(url, pages, what, parse)
            params = None
        while next_url is not None:
            fetch_page = functools.partial(self._page_once, next_url, params, what, parse)
            page, next_url = await self.retry.run(fetch_page, what=what)
            items.extend(page)
            params = None
        return items

    async def _pages_at_once(
        self, url: str, pages: int, what: str, parse: Callable[[Any], T]
    ) -> tuple[list[T], str | None]:
        """Pages ``1..pages`` of ``url``, concurrently: their items in order, and the last
        page's ``next`` link (None when it has none)."""
        jobs = [
            functools.partial(
                self.retry.run,
                functools.partial(
                    self._page_once, url, {"per_page": str(PER_PAGE), "page": str(n)}, what, parse
                ),
                what=what,
            )
            for n in range(1, pages + 1)
        ]
        answers = await run_all(jobs, anyio.CapacityLimiter(PAGES_AT_ONCE))
        return [item for page, _ in answers for item in page], answers[-1][1]

    async def _page_once(
        self,
        url: str,
        params: Mapping[str, str] | None,
        what: str,
        parse: Callable[[Any], T],
    ) -> tuple[list[T], str | None]:
        async with self.open("GET", url, what=what, params=params) as response:
            with mapped_transport_errors(what):
                raw = await response.read()
            next_link = next(
                (v for k, v in response.links.items() if str(k).lower() == "next"), None
            )
        page = _decode_json(raw, what)
        if not isinstance(page, list):
            raise TransientError(f"GitHub sent a malformed list for {what}")
        items = [_parse(parse, item, what) for item in page]
        return items, str(next_link["url"]) if next_link else None


def pages_holding(count: int, per_page: int = PER_PAGE) -> int:
    """How many pages of ``per_page`` items ``count`` items fill (at least one)."""
    return max(1, -(-count // per_page))


def _proxy_arguments(proxy: Proxy) -> dict[str, Any]:
    auth = None
    if proxy.login is not None:
        auth = aiohttp.BasicAuth(proxy.login, proxy.password or "")
    return {"proxy": proxy.url, "proxy_auth": auth}


def ssl_context(store: TrustStore) -> ssl.SSLContext | bool:
    """A verifying context over the CA bundle the environment names, or True (aiohttp's
    default, the system store) when it names none, or just the system store as OpenSSL
    finds it. Verification is never turned off.

    Why the last: aiohttp builds its default context when imported, loading the system
    store (about 30 ms for Debian's 140 certificates); a second context loading the same
    file cost every process as much again before its first request."""
    if store.default or _names_aiohttp_default(store):
        return True
    # Not create_default_context(): with no file given it loads the system's store, which
    # the named bundles replace (as requests and OpenSSL do). TLS_CLIENT verifies hostnames.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    locations = [(name, {"cafile": path}) for name, path in store.cafiles]
    if store.capath is not None:
        locations.append(("SSL_CERT_DIR", {"capath": store.capath}))
    for name, where in locations:
        try:
            context.load_verify_locations(**where)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"{name} names {next(iter(where.values()))!r}, which is not a readable file "
                f"of PEM certificates ({exc})"
            ) from exc
    return context


def _names_aiohttp_default(store: TrustStore) -> bool:
    """Whether ``store`` is what aiohttp's default context loaded: OpenSSL's default paths
    (which follow ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``) now, as when aiohttp was
    imported, just before this module."""
    now = ssl.get_default_verify_paths()
    return now == _DEFAULTS_AT_IMPORT and store.names_only(now.cafile, now.capath)


def _parse(parse: Callable[[Any], T], data: Any, what: str) -> T:
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TransientError(f"GitHub sent an answer of the wrong shape for {what}") from exc


def _decode_json(raw: bytes, what: str) -> Any:
    """GitHub's JSON; anything else (a proxy's HTML page, a cut body) is worth another try."""
    try:
        return jsonlib.loads(raw)
    except ValueError as exc:
        raise TransientError(f"GitHub sent a malformed answer for {what}") from exc


async def _read_error_payload(response: aiohttp.ClientResponse) -> Any:
    """A small error body as JSON when it is JSON, else as text; never the whole stream."""
    try:
        with mapped_transport_errors("reading an error answer"):
            raw = await response.content.read(MAX_ERROR_BODY)
    except TransientError:
        raw = b""
    finally:
        response.release()
    try:
        return jsonlib.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
