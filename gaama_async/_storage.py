"""Reading an asset's bytes from storage: where they live (``StorageLink``), one ranged or
whole answer (``open_range``), and small whole reads into memory (``fetch_small``, the manifest).

GitHub answers an asset download on the API with a 302 to a signed storage URL (or, on GHES,
with the bytes). The link is resolved once per asset and again only when storage says the
signature expired or the blob is gone; the token never goes to storage. Every function here
makes one try: the transfer that calls it owns the retries.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import NoReturn, Protocol

import aiohttp
import anyio
from yarl import URL

from ._http import GitHubHTTP
from ._ranges import range_header
from ._record import FolderRecord
from ._responses import is_retryable_status, mapped_transport_errors
from ._retry import Corrupt, TransientError
from ._wire import WireResponse
from .errors import DownloadError, GaamaError
from .manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, ManifestError
from .models import Asset

log = logging.getLogger("gaama_async")

OCTET_STREAM = {"Accept": "application/octet-stream"}
# Asking where an asset's bytes are: github.com answers with a redirect whatever the Range,
# but an API that serves the bytes itself (GHES) would otherwise send the whole asset to a
# request that only wanted to learn that it does.
WHERE_ARE_THE_BYTES = {**OCTET_STREAM, "Range": "bytes=0-0"}
REDIRECTS = (301, 302, 303, 307, 308)


class _Where:
    """One asset's resolved location, shared by every live ``StorageLink`` of that asset in
    one client (see ``StorageLink``): the URL, whether it is the API's own, and the lock
    under which it is resolved."""

    __slots__ = ("__weakref__", "direct", "lock", "url")

    def __init__(self) -> None:
        self.url: str | None = None
        self.direct = False
        self.lock = anyio.Lock()


def _where(http: GitHubHTTP, asset: Asset) -> _Where:
    found = http.storage_links.get(asset.url)
    if not isinstance(found, _Where):
        found = http.storage_links[asset.url] = _Where()
    return found


class StorageLink:
    """Where one asset's bytes are fetched: a signed storage URL, or the API URL itself.

    Links of the same asset alive at once share one resolution (``GitHubHTTP.storage_links``
    holds it weakly): a link resolved ahead (``resolve_early``) hands its URL to the one the
    transfer makes, and a transfer arriving while that resolution is in flight waits for
    it rather than asking again. Once no link of an asset is left, its URL is forgotten, so
    a signed URL never outlives the download that asked for it.
    """

    def __init__(self, http: GitHubHTTP, asset: Asset) -> None:
        self.http = http
        self.asset = asset
        self._where = _where(http, asset)

    async def current(self) -> tuple[str, bool]:
        """The URL and whether it is the API itself (then the token goes with it)."""
        where = self._where
        async with where.lock:
            if where.url is None:
                await self._resolve()
            assert where.url is not None
            return where.url, where.direct

    async def expire(self, url: str) -> None:
        """Forget ``url`` so the next request asks the API for a fresh one."""
        async with self._where.lock:
            if self._where.url == url:
                self._where.url = None

    def _found(self, url: str, *, direct: bool) -> None:
        self._where.url, self._where.direct = url, direct

    async def _resolve(self) -> None:
        if await self._resolve_on_web():
            return
        await self._resolve_on_api()

    async def _resolve_on_web(self) -> bool:
        """Take the link from ``browser_download_url`` when the repository is public.

        The web host answers a public repository's download with the same 302 to storage as
        the API, without a token and without touching the API's rate limit, so a fleet of
        hosts starting at once spends one API call each (the release). A private repository
        answers 404 there; the first such answer sends this client to the API for the rest.
        Whether a repository is public is learnt once, under one lock, so concurrent links
        do not all probe it.
        """
        page = repository_page(self.asset.browser_download_url)
        if page is None:
            return False
        http = self.http
        known = http.web_links.get(page)
        if known is None:
            async with http.web_probe:
                known = http.web_links.get(page)
                if known is None:
                    try:
                        found = await self._ask_web()
                    finally:
                        http.web_probed.setdefault(page, anyio.Event()).set()
                    if found is not None:
                        http.web_links[page] = found
                    return bool(found)
        return known and bool(await self._ask_web())

    async def _ask_web(self) -> bool | None:
        """True when the web host gave a storage link, False when it does not serve this
        repository anonymously (404), None when it could not say (the API decides)."""
        url = self.asset.browser_download_url
        try:
            with mapped_transport_errors(f"asking GitHub's web host for '{self.asset.name}'"):
                async with self.http.session.get(
                    url, allow_redirects=False, **self.http.proxy_for(url)
                ) as answer:
                    location = answer.headers.get("Location")
                    if answer.status in (302, 303, 307) and location:
                        self._found(str(answer.url.join(URL(location))), direct=False)
                        return True
                    return False if answer.status == 404 else None
        except TransientError:
            return None

    async def _resolve_on_api(self) -> None:
        what = f"download of asset '{self.asset.name}'"
        headers = WHERE_ARE_THE_BYTES  # every asset has a byte 0: GitHub refuses empty ones
        async with self.http.open("GET", self.asset.url, what=what, headers=headers) as api:
            location = api.headers.get("Location")
            if api.status in (200, 206):
                self._found(self.asset.url, direct=True)
            elif api.status in REDIRECTS and location:
                self._found(str(api.url.join(URL(location))), direct=False)
            else:
                raise DownloadError(f"GitHub answered HTTP {api.status} for {what} without a link.")


async def web_probed(link: StorageLink) -> None:
    """Wait until a probe has learnt whether the web host serves ``link``'s repository.

    For links resolved on speculation (``_downloading._LinksAhead``): one of them taking the
    probe made the manifest's link, which the download needs first, wait a round trip
    behind it (measured under 20 ms latency: the first range went out at 101 ms, three
    round trips after the release at 23 ms, where two suffice). The caller must not hold
    the link's own lock meanwhile: whoever probes may be waiting for it."""
    page = repository_page(link.asset.browser_download_url)
    http = link.http
    if page is None or page in http.web_links:
        return
    await http.web_probed.setdefault(page, anyio.Event()).wait()


async def resolve_early(link: StorageLink) -> None:
    """Resolve ``link`` ahead of its transfer, so the transfer's first request does not wait
    for the API (or web host) round trip. An optimisation only: a failure is left for the
    transfer to meet, which resolves again under its own retries."""
    try:
        await link.current()
    except (GaamaError, TransientError) as exc:
        log.debug("resolving '%s' early failed (%s); the transfer asks again", link.asset.name, exc)


def repository_page(browser_download_url: str) -> str | None:
    """The repository's web page a ``browser_download_url`` belongs to
    (``https://github.com/o/r/releases/download/v1/x`` → ``https://github.com/o/r``), or None
    for anything not shaped like one (drafts' ``untagged-…`` URLs included: the web host
    never serves drafts, so they would only teach us that a public repository is private)."""
    head, marker, tail = browser_download_url.partition("/releases/download/")
    if not marker or not head.startswith(("https://", "http://")) or "/" not in tail:
        return None
    if tail.startswith("untagged-"):
        return None
    return head


def storage_problem(status: int, content_type: str, name: str) -> str | None:
    """Why a storage answer cannot be the asset's bytes (None when it can).

    An HTML page with status 200 is a captive portal's or a broken proxy's error page, never
    an asset: storage always answers ``application/octet-stream``.
    """
    if status not in (200, 206):
        return f"storage answered HTTP {status} for '{name}'"
    if content_type.split(";")[0].strip().lower() == "text/html":
        return f"storage sent an HTML page instead of '{name}'"
    return None


class Answer(Protocol):
    """What the checks read of a storage answer: aiohttp's, or a ``WireResponse``."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def _range_headers(byte_range: tuple[int, int] | None, etag: str | None) -> dict[str, str]:
    headers = {"Range": range_header(*byte_range)} if byte_range else {}
    if etag and byte_range:
        headers["If-Range"] = etag
    return headers


async def refuse_wire_answer(link: StorageLink, url: str, response: WireResponse) -> NoReturn:
    """Raise what ``open_range`` raises for an answer that carries no bytes to read
    (refused, expired, moved, an error page), opened on a worker thread (``_wire``)."""
    await _check_storage_answer(link, url, response, link.asset.name)
    raise TransientError(f"storage answered HTTP {response.status} for '{link.asset.name}'")


def wire_answer_has_bytes(response: WireResponse, name: str) -> bool:
    """Whether a storage answer is the asset's bytes (206, or 200), not an error page."""
    content_type = response.headers.get("Content-Type", "")
    return storage_problem(response.status, content_type, name) is None


@asynccontextmanager
async def open_range(
    link: StorageLink, byte_range: tuple[int, int] | None, etag: str | None = None
) -> AsyncIterator[aiohttp.ClientResponse]:
    """Yield the answer for bytes ``[start, stop)`` (206, or 200 if the range was ignored),
    or for the whole asset when ``byte_range`` is None (200). One try."""
    url, direct = await link.current()
    headers = _range_headers(byte_range, etag)
    name = link.asset.name
    if direct:
        what = f"download of '{name}'"
        async with link.http.open(
            "GET", url, what=what, headers={**OCTET_STREAM, **headers}
        ) as response:
            _check_bytes_answer(response, name)
            yield response
        return
    with mapped_transport_errors(f"fetching '{name}' from storage"):
        response = await link.http.session.get(url, headers=headers, **link.http.proxy_for(url))
    try:
        await _check_storage_answer(link, url, response, name)
        yield response
    finally:
        response.release()


async def _check_storage_answer(link: StorageLink, url: str, response: Answer, name: str) -> None:
    if response.status in (403, 404):
        # 403: the signature expired; 404: the blob moved (a re-upload). Ask the API again:
        # it gives a fresh URL, or says the asset is gone.
        await link.expire(url)
        raise TransientError(f"storage answered HTTP {response.status} for '{name}'")
    if is_retryable_status(response.status):
        raise TransientError(f"storage answered HTTP {response.status} for '{name}'")
    if response.status not in (200, 206):
        raise DownloadError(f"Storage refused '{name}' with HTTP {response.status}.")
    _check_bytes_answer(response, name)


def _check_bytes_answer(response: Answer, name: str) -> None:
    problem = storage_problem(response.status, response.headers.get("Content-Type", ""), name)
    if problem is not None:
        raise TransientError(problem)


async def fetch_small(http: GitHubHTTP, asset: Asset, *, limit: int) -> bytes:
    """Read a small asset (the manifest) into memory, refusing anything over ``limit``."""
    if asset.size > limit:
        raise DownloadError(f"Asset '{asset.name}' is too large to be a manifest.")
    link = StorageLink(http, asset)
    return await http.retry.run(
        lambda: _fetch_small_once(link, limit), what=f"reading '{asset.name}'"
    )


async def _fetch_small_once(link: StorageLink, limit: int) -> bytes:
    asset = link.asset
    async with open_range(link, None) as response:
        with mapped_transport_errors(f"reading '{asset.name}'"):
            data = await read_at_most(response, limit)
    if len(data) != asset.size:
        raise TransientError(f"got {len(data)} of {asset.size} bytes of '{asset.name}'")
    if asset.sha256 and hashlib.sha256(data).hexdigest() != asset.sha256:
        raise Corrupt(f"'{asset.name}' did not match its sha256 digest")
    return data


async def read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, stopping once it passes ``limit`` bytes (the caller checks the length)."""
    data = bytearray()
    async for chunk in response.content.iter_any():
        data += chunk
        if len(data) > limit:
            break
    return bytes(data)


def manifest_asset(assets: Sequence[Asset]) -> Asset | None:
    """The release's uploaded manifest asset, if it has one."""
    return next((a for a in assets if a.name == MANIFEST_NAME and a.is_uploaded), None)


async def read_manifest(
    http: GitHubHTTP, assets: Sequence[Asset], record: FolderRecord | None = None
) -> Manifest | None:
    """The release's manifest; a folder's record may hold it from the last download."""
    asset = manifest_asset(assets)
    if asset is None:
        return None
    raw = record.cached_manifest(asset) if record else None
    if raw is None:
        raw = await fetch_small(http, asset, limit=MAX_MANIFEST_BYTES)
        if record is not None:
            record.remember_manifest(asset, raw)
    try:
        return Manifest.from_bytes(raw)
    except ManifestError as exc:
        raise DownloadError(f"The release's {MANIFEST_NAME} is unreadable: {exc}.") from exc
