"""Verified download of one file: resolve the storage URL, stream to a temporary file, check
size and sha256, and only then move it into place.

Small single-asset files take one stream; larger or split files take parallel ranges and
resume from what an earlier run left (``_ranged``). Either way the whole file is one transfer
with one retry budget (``RetryPolicy.run``): nothing below retries on its own.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import aiohttp
import anyio

from ._files import CHUNK_SIZE, PartialFile, ResumableFile, write_empty, write_file_atomically
from ._http import GitHubHTTP
from ._ranged import RangedDownload, RangesIgnored
from ._responses import mapped_transport_errors
from ._retry import Corrupt, TransientError
from ._storage import StorageLink, open_range, read_at_most
from .models import DownloadTarget
from .progress import ProgressCallback, ProgressEvent, ProgressKind

log = logging.getLogger("gaama_async")
# Files up to this size are downloaded into memory (at most one per file in progress).
IN_MEMORY_LIMIT = CHUNK_SIZE
RESUME_ADVICE = "run the download again: it resumes from what is on disk"


async def download_file(
    http: GitHubHTTP,
    target: DownloadTarget,
    *,
    limiter: anyio.CapacityLimiter,
    part_size: int,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download ``target`` and move it into place only once its size and sha256 check out."""
    if target.size == 0:
        return await write_empty(target.path)
    _report(progress, "start", target, total=target.size)
    if len(target.pieces) == 1 and target.size <= part_size:
        path = await _download_whole(http, target, limiter, progress)
    else:
        path = await _download_ranged(http, target, limiter, part_size, progress)
    _report(progress, "done", target, total=target.size)
    return path


async def _download_whole(
    http: GitHubHTTP,
    target: DownloadTarget,
    limiter: anyio.CapacityLimiter,
    progress: ProgressCallback | None,
) -> Path:
    link = StorageLink(http, target.pieces[0])

    async def attempt() -> Path:
        await link.current()  # resolved while earlier files still download
        if target.size > IN_MEMORY_LIMIT:
            async with limiter:
                return await _fetch_whole(target, link, progress)
        async with limiter:
            data = await _receive_small(target, link, progress)
        # Written with the connection already free for the next file: the write's trip to
        # the pool held it ~3 ms of the ~30 a small file takes under 20 ms of latency.
        return await write_file_atomically(target.path, data)

    return await http.retry.run(
        attempt, what=f"Downloading '{target.label}'", advice="run the download again"
    )


async def _download_ranged(
    http: GitHubHTTP,
    target: DownloadTarget,
    limiter: anyio.CapacityLimiter,
    part_size: int,
    progress: ProgressCallback | None,
) -> Path:
    file = ResumableFile(target.path)
    try:
        try:
            await _fetch_ranges(http, target, file, limiter, part_size, progress)
        except RangesIgnored:
            if len(target.pieces) == 1:
                return await _download_whole(http, target, limiter, progress)
            # Storage ignores ranges: fetch each part whole, one request per part.
            whole_parts = max(p.size for p in target.pieces)
            await _fetch_ranges(http, target, file, limiter, whole_parts, progress, whole=True)
        return await file.commit()
    finally:
        await file.close()


async def _fetch_ranges(
    http: GitHubHTTP,
    target: DownloadTarget,
    file: ResumableFile,
    limiter: anyio.CapacityLimiter,
    part_size: int,
    progress: ProgressCallback | None,
    *,
    whole: bool = False,
) -> None:
    """Fill ``file`` with ``target``'s bytes in ranges of ``part_size`` (``whole``: one
    request per part), verified; a ``RangesIgnored`` leaves nothing on disk."""
    download = RangedDownload(
        http, target, file, limiter=limiter, part_size=part_size, progress=progress,
        whole_parts=whole,
    )  # fmt: skip
    try:
        await http.retry.run(
            download.attempt,
            what=f"Downloading '{target.label}'",
            moved=download.bytes_done,
            advice=RESUME_ADVICE,
        )
    except RangesIgnored:
        await download.discard()
        raise


async def _fetch_whole(
    target: DownloadTarget, link: StorageLink, progress: ProgressCallback | None
) -> Path:
    partial = PartialFile(target.path)
    await partial.open()
    try:
        async with open_range(link, None) as response:
            await _stream_into(response, partial, target, progress)
        _verify(partial.size, partial.hasher.hexdigest(), target)
        return await partial.commit()
    except BaseException:
        if partial.size:
            _report(progress, "retry", target, advanced=partial.size)
        await partial.discard()
        raise


async def _receive_small(
    target: DownloadTarget, link: StorageLink, progress: ProgressCallback | None
) -> bytes:
    """A small file's bytes, checked, held in memory to be written in one go: many small
    files then cost one trip to the thread pool each instead of six."""
    async with open_range(link, None) as response:
        with mapped_transport_errors(f"downloading '{target.label}'"):
            data = await read_at_most(response, target.size)
    _verify(len(data), hashlib.sha256(data).hexdigest(), target)
    _report(progress, "advance", target, advanced=len(data))
    return data


async def _stream_into(
    response: aiohttp.ClientResponse,
    partial: PartialFile,
    target: DownloadTarget,
    progress: ProgressCallback | None,
) -> None:
    buffer = bytearray()
    with mapped_transport_errors(f"downloading '{target.label}'"):
        async for data in response.content.iter_any():
            buffer += data
            if len(buffer) >= CHUNK_SIZE:
                await _flush(buffer, partial, target, progress)
    await _flush(buffer, partial, target, progress)


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
    _report(progress, "advance", target, advanced=len(buffer))
    buffer.clear()


def _verify(size: int, sha256: str, target: DownloadTarget) -> None:
    """A short body is worth another try; bytes that hash wrong are worth one fresh copy."""
    if size != target.size:
        raise TransientError(f"got {size} of {target.size} bytes of '{target.label}'")
    if target.sha256 is not None and sha256 != target.sha256:
        log.warning("sha256 mismatch for '%s'; discarding the copy", target.label)
        raise Corrupt(f"'{target.label}' did not match its sha256")


def _report(
    progress: ProgressCallback | None,
    kind: ProgressKind,
    target: DownloadTarget,
    *,
    total: int = 0,
    advanced: int = 0,
) -> None:
    if progress:
        progress(ProgressEvent(kind, "download", target.label, total, advanced))
