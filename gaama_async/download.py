"""Verified download of one asset: resolve the storage URL, stream to a temporary file,
check size and sha256, and only then move it into place."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from ._files import CHUNK_SIZE, PartialFile
from ._http import GitHubHTTP
from ._retry import RETRYABLE_STATUSES, TRANSPORT_ERRORS, TransientError
from .errors import DownloadError, IntegrityError
from .models import Asset
from .progress import ProgressCallback, ProgressEvent

log = logging.getLogger("gaama_async")

OCTET_STREAM = {"Accept": "application/octet-stream"}
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    """An asset, where it goes, and what its bytes must hash to (None: no sha256 known)."""

    asset: Asset
    path: Path
    sha256: str | None


class _CorruptDownload(TransientError):
    """The bytes did not hash to the expected sha256: worth one fresh try, not more."""


@asynccontextmanager
async def open_asset(http: GitHubHTTP, asset: Asset) -> AsyncIterator[aiohttp.ClientResponse]:
    """Yield the response carrying ``asset``'s bytes.

    GitHub answers the API URL with a 302 to signed storage, or streams a 200 itself (GHES).
    The storage request never carries the token.
    """
    what = f"download of asset '{asset.name}'"
    async with http.open("GET", asset.url, what=what, headers=OCTET_STREAM, retry=False) as api:
        if api.status == 200:
            yield api
            return
        location = api.headers.get("Location")
        if api.status not in REDIRECTS or not location:
            raise DownloadError(f"GitHub answered HTTP {api.status} for {what} without a link.")
    try:
        storage = await http.session.get(location, allow_redirects=True)
    except TRANSPORT_ERRORS as exc:
        raise TransientError(f"{type(exc).__name__} fetching '{asset.name}' from storage") from exc
    try:
        if storage.status != 200:
            _raise_for_storage(storage.status, asset)
        yield storage
    finally:
        storage.release()


def _raise_for_storage(status: int, asset: Asset) -> None:
    # 403 is how storage says a signed URL expired: a fresh one from the API fixes it.
    if status == 403 or status in RETRYABLE_STATUSES:
        raise TransientError(f"storage answered HTTP {status} for '{asset.name}'")
    raise DownloadError(
        f"Storage refused asset '{asset.name}' with HTTP {status}; try the download again."
    )


async def download_asset(
    http: GitHubHTTP, target: DownloadTarget, *, progress: ProgressCallback | None = None
) -> Path:
    """Download ``target`` with retries; a corrupt copy gets one fresh try, then IntegrityError."""
    asset = target.asset
    if progress:
        progress(ProgressEvent("start", "download", target.path.name, asset.size))
    corrupt_tries = 0
    try:
        async for attempt in http.retry.retrying():
            with attempt:
                try:
                    path = await _download_once(http, target, progress)
                except _CorruptDownload:
                    corrupt_tries += 1
                    if corrupt_tries > 1:
                        raise IntegrityError(
                            f"Asset '{asset.name}' did not match its sha256 twice; the copy on "
                            "GitHub may be corrupt: publish it again.",
                        ) from None
                    raise
    except TransientError as exc:
        raise DownloadError(
            f"Downloading '{asset.name}' failed after {http.retry.attempts} tries ({exc}); "
            "run the download again."
        ) from exc
    if progress:
        progress(ProgressEvent("done", "download", target.path.name, asset.size))
    return path


async def _download_once(
    http: GitHubHTTP, target: DownloadTarget, progress: ProgressCallback | None
) -> Path:
    partial = PartialFile(target.path)
    await partial.open()
    try:
        async with open_asset(http, target.asset) as response:
            await _stream_into(response, partial, target, progress)
        _verify(partial, target)
        return await partial.commit()
    except BaseException:
        if progress and partial.size:
            progress(ProgressEvent("retry", "download", target.path.name, 0, partial.size))
        await partial.discard()
        raise


async def _stream_into(
    response: aiohttp.ClientResponse,
    partial: PartialFile,
    target: DownloadTarget,
    progress: ProgressCallback | None,
) -> None:
    buffer = bytearray()
    try:
        async for data in response.content.iter_any():
            buffer += data
            if len(buffer) >= CHUNK_SIZE:
                await _flush(buffer, partial, target, progress)
        await _flush(buffer, partial, target, progress)
    except TRANSPORT_ERRORS as exc:
        raise TransientError(f"connection lost downloading '{target.asset.name}'") from exc


async def _flush(
    buffer: bytearray,
    partial: PartialFile,
    target: DownloadTarget,
    progress: ProgressCallback | None,
) -> None:
    if not buffer:
        return
    if partial.size + len(buffer) > target.asset.size:
        raise TransientError(f"storage sent more bytes than '{target.asset.name}' has")
    await partial.write(bytes(buffer))
    if progress:
        progress(ProgressEvent("advance", "download", target.path.name, 0, len(buffer)))
    buffer.clear()


def _verify(partial: PartialFile, target: DownloadTarget) -> None:
    if partial.size != target.asset.size:
        raise TransientError(
            f"got {partial.size} of {target.asset.size} bytes of '{target.asset.name}'"
        )
    if target.sha256 is not None and partial.hasher.hexdigest() != target.sha256:
        log.warning("sha256 mismatch for '%s'; discarding the copy", target.asset.name)
        raise _CorruptDownload(f"sha256 mismatch for '{target.asset.name}'")


async def fetch_small(http: GitHubHTTP, asset: Asset, *, limit: int) -> bytes:
    """Read a small asset (the manifest) into memory, refusing anything over ``limit``."""
    if asset.size > limit:
        raise DownloadError(f"Asset '{asset.name}' is too large to be a manifest.")
    try:
        async for attempt in http.retry.retrying():
            with attempt:
                async with open_asset(http, asset) as response:
                    try:
                        data = await _read_at_most(response, limit)
                    except TRANSPORT_ERRORS as exc:
                        raise TransientError(f"connection lost reading '{asset.name}'") from exc
                if len(data) != asset.size:
                    raise TransientError(f"got {len(data)} of {asset.size} bytes")
                if asset.sha256 and hashlib.sha256(data).hexdigest() != asset.sha256:
                    raise TransientError("its sha256 does not match its digest")
    except TransientError as exc:
        raise DownloadError(f"Could not read '{asset.name}' ({exc}); try again.") from exc
    return data


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.content.iter_any():
        data += chunk
        if len(data) > limit:
            break
    return bytes(data)
