"""Verified download of one asset: resolve the storage URL, stream to a temporary file,
check size and sha256, and only then move it into place."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import anyio

from ._files import CHUNK_SIZE, PartialFile, ResumableFile, write_empty, write_file_atomically
from ._http import GitHubHTTP
from ._ranged import AssetChanged, CorruptDownload, RangedDownload, RangesIgnored
from ._retry import TRANSPORT_ERRORS, TransientError
from ._storage import StorageLink, open_range, read_at_most
from .errors import DownloadError, IntegrityError
from .models import Asset
from .progress import ProgressCallback, ProgressEvent

log = logging.getLogger("gaama_async")
# Files up to this size are downloaded into memory (at most one per connection in flight).
IN_MEMORY_LIMIT = CHUNK_SIZE


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    """One file to write: the asset(s) it is made of, in order, and the digests to check.

    A file published whole has one piece; a file split past GitHub's size limit has several.
    """

    path: Path
    size: int
    sha256: str | None
    pieces: tuple[Asset, ...]
    piece_sha256: tuple[str | None, ...]

    @classmethod
    def whole(cls, asset: Asset, path: Path, sha256: str | None) -> DownloadTarget:
        return cls(path, asset.size, sha256, (asset,), (sha256,))

    @property
    def label(self) -> str:
        return self.path.name


async def download_file(
    http: GitHubHTTP,
    target: DownloadTarget,
    *,
    limiter: anyio.CapacityLimiter,
    part_size: int,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download ``target`` and move it into place only once its size and sha256 check out.

    Small single-asset files take one stream; larger or split files take parallel ranges
    and resume from what an earlier run left. A corrupt copy gets one fresh try.
    """
    if target.size == 0:
        return await write_empty(target.path)
    if progress:
        progress(ProgressEvent("start", "download", target.label, target.size))
    if len(target.pieces) == 1 and target.size <= part_size:
        link = StorageLink(http, target.pieces[0])
        await link.current()  # resolved while earlier files still download
        async with limiter:
            path = await _download_whole(http, target, link, progress)
    else:
        path = await _download_ranged(http, target, limiter, part_size, progress)
    if progress:
        progress(ProgressEvent("done", "download", target.label, target.size))
    return path


async def _download_whole(
    http: GitHubHTTP, target: DownloadTarget, link: StorageLink, progress: ProgressCallback | None
) -> Path:
    asset = target.pieces[0]
    corrupt_tries = 0
    try:
        async for attempt in http.retry.retrying():
            with attempt:
                try:
                    return await _download_once(target, link, progress)
                except CorruptDownload:
                    corrupt_tries += 1
                    if corrupt_tries > 1:
                        raise _integrity_error(target) from None
                    raise
    except TransientError as exc:
        raise DownloadError(
            f"Downloading '{asset.name}' failed after {http.retry.attempts} tries ({exc}); "
            "run the download again."
        ) from exc
    raise AssertionError("tenacity re-raises the last error")  # pragma: no cover


def _integrity_error(target: DownloadTarget) -> IntegrityError:
    return IntegrityError(
        f"'{target.label}' did not match its sha256 twice; the copy on GitHub may be "
        "corrupt: publish it again."
    )


async def _download_ranged(
    http: GitHubHTTP,
    target: DownloadTarget,
    limiter: anyio.CapacityLimiter,
    part_size: int,
    progress: ProgressCallback | None,
) -> Path:
    file = ResumableFile(target.path)
    restarts = corrupt = 0
    try:
        while True:
            download = RangedDownload(
                http, target.pieces, file, limiter=limiter, part_size=part_size,
                progress=progress, label=target.label,
            )  # fmt: skip
            try:
                whole, pieces = await download.run()
            except AssetChanged as exc:
                restarts += 1
                if restarts > 2:
                    raise DownloadError(f"{exc}, again and again; try later.") from exc
                log.warning("%s; starting over", exc)
                await _restart(file, target, progress)
                continue
            except RangesIgnored:
                await _restart(file, target, progress)
                async with limiter:
                    link = StorageLink(http, target.pieces[0])
                    return await _download_whole(http, target, link, progress)
            except TransientError as exc:
                raise DownloadError(
                    f"Downloading '{target.label}' failed ({exc}); run the download again: "
                    "it resumes from what is on disk."
                ) from exc
            if _digests_match(target, whole, pieces):
                return await file.commit()
            corrupt += 1
            if corrupt > 1:
                await file.discard()
                raise _integrity_error(target)
            log.warning("sha256 mismatch for '%s'; discarding the copy", target.label)
            await _restart(file, target, progress)
    finally:
        await file.close()


async def _restart(
    file: ResumableFile, target: DownloadTarget, progress: ProgressCallback | None
) -> None:
    await file.discard()
    if progress:
        progress(ProgressEvent("retry", "download", target.label, 0, target.size))


def _digests_match(target: DownloadTarget, whole: str, pieces: list[str]) -> bool:
    expected = [(target.sha256, whole)]
    expected += list(zip(target.piece_sha256, pieces, strict=True))
    return all(want is None or want == got for want, got in expected)


async def _download_once(
    target: DownloadTarget, link: StorageLink, progress: ProgressCallback | None
) -> Path:
    if target.size <= IN_MEMORY_LIMIT:
        return await _download_small(target, link, progress)
    partial = PartialFile(target.path)
    await partial.open()
    try:
        async with open_range(link, None) as response:
            await _stream_into(response, partial, target, progress)
        _verify(partial, target)
        return await partial.commit()
    except BaseException:
        if progress and partial.size:
            progress(ProgressEvent("retry", "download", target.label, 0, partial.size))
        await partial.discard()
        raise


async def _download_small(
    target: DownloadTarget, link: StorageLink, progress: ProgressCallback | None
) -> Path:
    """A small file is held in memory and written in one go: many small files then cost
    one trip to the thread pool each instead of six."""
    async with open_range(link, None) as response:
        try:
            data = await read_at_most(response, target.size)
        except TRANSPORT_ERRORS as exc:
            raise TransientError(f"connection lost downloading '{target.label}'") from exc
    if len(data) != target.size:
        raise TransientError(f"got {len(data)} of {target.size} bytes of '{target.label}'")
    if target.sha256 is not None and hashlib.sha256(data).hexdigest() != target.sha256:
        log.warning("sha256 mismatch for '%s'; discarding the copy", target.label)
        raise CorruptDownload(f"sha256 mismatch for '{target.label}'")
    if progress:
        progress(ProgressEvent("advance", "download", target.label, 0, len(data)))
    return await write_file_atomically(target.path, data)


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
        raise TransientError(f"connection lost downloading '{target.label}'") from exc


async def _flush(
    buffer: bytearray,
    partial: PartialFile,
    target: DownloadTarget,
    progress: ProgressCallback | None,
) -> None:
    if not buffer:
        return
    if partial.size + len(buffer) > target.size:
        raise TransientError(f"storage sent more bytes than '{target.label}' has")
    await partial.write(bytes(buffer))
    if progress:
        progress(ProgressEvent("advance", "download", target.label, 0, len(buffer)))
    buffer.clear()


def _verify(partial: PartialFile, target: DownloadTarget) -> None:
    if partial.size != target.size:
        raise TransientError(f"got {partial.size} of {target.size} bytes of '{target.label}'")
    if target.sha256 is not None and partial.hasher.hexdigest() != target.sha256:
        log.warning("sha256 mismatch for '%s'; discarding the copy", target.label)
        raise CorruptDownload(f"sha256 mismatch for '{target.label}'")
