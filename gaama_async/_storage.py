"""Reading an asset's bytes from storage: where they live (``StorageLink``), one ranged or
whole answer (``open_range``), and small whole reads into memory (``fetch_small``, the manifest).

GitHub answers an asset download on the API with a 302 to a signed storage URL (or, on GHES,
with the bytes). The link is resolved once per asset and again only when storage says the
signature expired; the token never goes to storage.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
import anyio

from ._http import GitHubHTTP
from ._ranges import range_header
from ._record import FolderRecord
from ._retry import RETRYABLE_STATUSES, TRANSPORT_ERRORS, TransientError
from .errors import DownloadError
from .manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, ManifestError
from .models import Asset

OCTET_STREAM = {"Accept": "application/octet-stream"}
REDIRECTS = (301, 302, 303, 307, 308)


class StorageLink:
    """Where one asset's bytes are fetched: a signed storage URL, or the API URL itself."""

    def __init__(self, http: GitHubHTTP, asset: Asset) -> None:
        self.http = http
        self.asset = asset
        self._url: str | None = None
        self._direct = False
        self._lock = anyio.Lock()

    async def current(self) -> tuple[str, bool]:
        """The URL and whether it is the API itself (then the token goes with it)."""
        async with self._lock:
            if self._url is None:
                await self._resolve()
            assert self._url is not None
            return self._url, self._direct

    async def expire(self, url: str) -> None:
        """Forget ``url`` so the next request asks the API for a fresh one."""
        async with self._lock:
            if self._url == url:
                self._url = None

    async def _resolve(self) -> None:
        what = f"download of asset '{self.asset.name}'"
        async with self.http.open("GET", self.asset.url, what=what, headers=OCTET_STREAM) as api:
            location = api.headers.get("Location")
            if api.status == 200:
                self._url, self._direct = self.asset.url, True
            elif api.status in REDIRECTS and location:
                self._url, self._direct = location, False
            else:
                raise DownloadError(f"GitHub answered HTTP {api.status} for {what} without a link.")


@asynccontextmanager
async def open_range(
    link: StorageLink, byte_range: tuple[int, int] | None, etag: str | None = None
) -> AsyncIterator[aiohttp.ClientResponse]:
    """Yield the answer for bytes ``[start, stop)`` (206, or 200 if the range was ignored),
    or for the whole asset when ``byte_range`` is None (200)."""
    url, direct = await link.current()
    headers = {"Range": range_header(*byte_range)} if byte_range else {}
    if etag and byte_range:
        headers["If-Range"] = etag
    name = link.asset.name
    if direct:
        async with link.http.open(
            "GET",
            url,
            what=f"download of '{name}'",
            headers={**OCTET_STREAM, **headers},
            retry=False,
        ) as response:
            yield response
        return
    try:
        response = await link.http.session.get(url, headers=headers)
    except TRANSPORT_ERRORS as exc:
        raise TransientError(f"{type(exc).__name__} fetching '{name}' from storage") from exc
    try:
        if response.status == 403:  # how storage says the signed URL expired
            await link.expire(url)
            raise TransientError(f"storage refused the signed URL for '{name}'")
        if response.status in RETRYABLE_STATUSES:
            raise TransientError(f"storage answered HTTP {response.status} for '{name}'")
        if response.status not in (200, 206):
            raise DownloadError(f"Storage refused '{name}' with HTTP {response.status}.")
        yield response
    finally:
        response.release()


async def fetch_small(http: GitHubHTTP, asset: Asset, *, limit: int) -> bytes:
    """Read a small asset (the manifest) into memory, refusing anything over ``limit``."""
    if asset.size > limit:
        raise DownloadError(f"Asset '{asset.name}' is too large to be a manifest.")
    link = StorageLink(http, asset)
    try:
        async for attempt in http.retry.retrying():
            with attempt:
                async with open_range(link, None) as response:
                    try:
                        data = await read_at_most(response, limit)
                    except TRANSPORT_ERRORS as exc:
                        raise TransientError(f"connection lost reading '{asset.name}'") from exc
                if len(data) != asset.size:
                    raise TransientError(f"got {len(data)} of {asset.size} bytes")
                if asset.sha256 and hashlib.sha256(data).hexdigest() != asset.sha256:
                    raise TransientError("its sha256 does not match its digest")
    except TransientError as exc:
        raise DownloadError(f"Could not read '{asset.name}' ({exc}); try again.") from exc
    return data


async def read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.content.iter_any():
        data += chunk
        if len(data) > limit:
            break
    return bytes(data)


async def read_manifest(
    http: GitHubHTTP, assets: Sequence[Asset], record: FolderRecord | None = None
) -> Manifest | None:
    """The release's manifest; a folder's record may hold it from the last download."""
    asset = next((a for a in assets if a.name == MANIFEST_NAME and a.is_uploaded), None)
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
