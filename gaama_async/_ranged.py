"""Parallel, resumable Range download of one file made of one or more assets.

The storage URL of each asset is resolved once and again only when storage says it expired.
Segments are fetched by concurrent workers sharing the client's connection budget and are
written in place at their offsets into a preallocated hidden file. A hasher follows the
written prefix of the file, so the sha256 is ready moments after the last byte. Progress is
checkpointed to a small record beside the file, so a later run continues where this stopped.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import anyio

from ._concurrency import first_error
from ._files import CHUNK_SIZE, ResumableFile
from ._http import GitHubHTTP
from ._ranges import Segment, partial_answer_matches, plan_segments, written_prefix
from ._resume import ResumeState, fingerprint
from ._retry import TRANSPORT_ERRORS, TransientError
from ._storage import StorageLink, open_range
from .errors import DownloadError
from .models import Asset
from .progress import ProgressCallback, ProgressEvent

log = logging.getLogger("gaama_async")

CHECKPOINT_BYTES = 4 * CHUNK_SIZE  # at most, between two saves of the resume record
HASH_CHUNK = CHUNK_SIZE
# Received bytes are written once this much has arrived on a connection: memory stays at
# about this much per connection, and a killed run loses at most this much per range.
WRITE_BATCH = CHUNK_SIZE // 2


class AssetChanged(Exception):
    """The remote asset is not the one the partial data came from: start over."""


class RangesIgnored(Exception):
    """Storage answered a Range request with the whole body: fetch the file in one stream."""


class CorruptDownload(TransientError):
    """The bytes did not hash to the expected sha256: worth one fresh try, not more."""


class _Progressed(Exception):
    """A try failed after moving bytes: the retry budget starts afresh."""


class _FrontierHasher:
    """Hashes the file from its start as far as it is written, per piece and whole."""

    def __init__(
        self, file: ResumableFile, segments: Sequence[Segment], state: ResumeState, sizes: list[int]
    ) -> None:
        self.file = file
        self.segments = segments
        self.state = state
        self.size = sum(sizes)
        self.starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self.sizes = sizes
        self.whole = hashlib.sha256()
        self.pieces = [hashlib.sha256() for _ in sizes] if len(sizes) > 1 else [self.whole]
        self.position = 0
        self._wake = anyio.Event()

    def notify(self) -> None:
        self._wake.set()

    def _feed_at(self, position: int) -> Any:
        def feed(data: bytes) -> None:
            self.whole.update(data)
            if len(self.sizes) == 1:
                return
            view, offset = memoryview(data), position
            while view:
                index = bisect.bisect_right(self.starts, offset) - 1
                take = min(len(view), self.starts[index] + self.sizes[index] - offset)
                self.pieces[index].update(view[:take])
                view, offset = view[take:], offset + take

        return feed

    async def run(self) -> None:
        while self.position < self.size:
            frontier = written_prefix(self.segments, self.state.done)
            if frontier <= self.position:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            length = min(frontier - self.position, HASH_CHUNK)
            read = await self.file.feed_range(self.position, length, self._feed_at(self.position))
            if read == 0:
                raise DownloadError(f"'{self.file.path}' is shorter than what was written.")
            self.position += read


class RangedDownload:
    """One file, fetched as concurrent segments of its assets, resumable across runs."""

    def __init__(
        self,
        http: GitHubHTTP,
        pieces: Sequence[Asset],
        file: ResumableFile,
        *,
        limiter: anyio.CapacityLimiter,
        part_size: int,
        progress: ProgressCallback | None,
        label: str,
    ) -> None:
        self.http = http
        self.pieces = list(pieces)
        self.file = file
        self.limiter = limiter
        self.part_size = part_size
        self.progress = progress
        self.label = label
        self.sizes = [a.size for a in self.pieces]
        self.links = [StorageLink(http, a) for a in self.pieces]
        self._unsaved = 0
        self._saving = False
        # Save progress every 1% of the file (within 256 KiB..4 MiB): a killed run then
        # re-fetches little more than what was still in flight.
        self._checkpoint_every = min(CHECKPOINT_BYTES, max(CHUNK_SIZE // 4, sum(self.sizes) // 100))

    async def run(self) -> tuple[str, list[str]]:
        """Fetch every missing byte; return the whole file's sha256 and each piece's."""
        state, segments = await self._open_state()
        hasher = _FrontierHasher(self.file, segments, state, self.sizes)
        self._state, self._segments, self._hasher = state, segments, hasher
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(hasher.run)
                for index, segment in enumerate(segments):
                    if state.done[index] < segment.length:
                        group.start_soon(self._fetch, index)
        except BaseExceptionGroup as failures:
            raise first_error(failures) from None
        finally:
            with anyio.CancelScope(shield=True):
                await self.file.save_state(state.to_bytes())
        return hasher.whole.hexdigest(), [h.hexdigest() for h in hasher.pieces]

    async def _open_state(self) -> tuple[ResumeState, list[Segment]]:
        expected = fingerprint(self.pieces, sum(self.sizes))
        state = ResumeState.from_bytes(await self.file.read_state())
        if state is not None and state.fingerprint == expected:
            segments = plan_segments(self.sizes, state.part_size)
            if len(segments) == len(state.done):
                await self._open_file(fresh=False)
                resumed = sum(min(d, s.length) for d, s in zip(state.done, segments, strict=True))
                if resumed:
                    log.info("resuming '%s' with %d bytes already on disk", self.label, resumed)
                    self._report("advance", resumed)
                return state, segments
        segments = plan_segments(self.sizes, self.part_size)
        state = ResumeState(expected, self.part_size, [0] * len(segments))
        await self._open_file(fresh=True)
        await self.file.save_state(state.to_bytes())
        return state, segments

    async def _open_file(self, *, fresh: bool) -> None:
        try:
            await self.file.open(sum(self.sizes), fresh=fresh)
        except OSError as exc:
            await self.file.discard()
            raise DownloadError(
                f"Cannot write '{self.label}' ({sum(self.sizes):,} bytes) in "
                f"'{self.file.final.parent}': {exc.strerror or exc}; free some space."
            ) from exc

    def _report(self, kind: str, size: int) -> None:
        if self.progress:
            self.progress(ProgressEvent(kind, "download", self.label, 0, size))  # type: ignore[arg-type]

    async def _fetch(self, index: int) -> None:
        """Fetch one segment, continuing from its last written byte after a failure."""
        async with self.limiter:
            while self._state.done[index] < self._segments[index].length:
                try:
                    async for attempt in self.http.retry.retrying():
                        with attempt:
                            before = self._state.done[index]
                            try:
                                await self._stream(index)
                            except TransientError:
                                if self._state.done[index] > before:
                                    raise _Progressed from None
                                raise
                except _Progressed:
                    continue

    async def _stream(self, index: int) -> None:
        segment = self._segments[index]
        link = self.links[segment.piece]
        asset = link.asset
        start = segment.start + self._state.done[index]
        etag = self._state.etags.get(str(asset.id))
        async with open_range(link, (start, segment.stop), etag) as response:
            self._check_answer(response, asset, start, segment.stop, etag)
            pending: list[bytes] = []  # received chunks, written together without joining
            size = 0
            try:
                async for data in response.content.iter_any():
                    pending.append(data)
                    size += len(data)
                    if size >= WRITE_BATCH:
                        await self._write(index, pending, size)
                        size = 0
                await self._write(index, pending, size)
            except TRANSPORT_ERRORS as exc:
                await self._write(index, pending, size)
                raise TransientError(f"connection lost downloading '{asset.name}'") from exc
        if self._state.done[index] < segment.length:
            raise TransientError(f"storage sent a short range of '{asset.name}'")

    def _check_answer(
        self,
        response: aiohttp.ClientResponse,
        asset: Asset,
        start: int,
        stop: int,
        etag: str | None,
    ) -> None:
        if response.status == 200:
            if etag is not None:
                raise AssetChanged(f"'{asset.name}' changed since the partial download")
            if (start, stop) != (0, asset.size):
                raise RangesIgnored(f"storage ignored the Range request for '{asset.name}'")
        elif not partial_answer_matches(
            response.headers.get("Content-Range"), start, stop, asset.size
        ):
            raise DownloadError(f"Storage sent the wrong byte range of '{asset.name}'.")
        answered = response.headers.get("ETag")
        if answered:
            if etag is not None and answered != etag:
                raise AssetChanged(f"'{asset.name}' changed since the partial download")
            self._state.etags.setdefault(str(asset.id), answered)

    async def _write(self, index: int, pending: list[bytes], size: int) -> None:
        if not pending:
            return
        segment = self._segments[index]
        done = self._state.done[index]
        if done + size > segment.length:
            raise TransientError("storage sent more bytes than were asked for")
        await self.file.write_at(pending, segment.file_offset + done)
        self._state.done[index] = done + size
        self._report("advance", size)
        self._hasher.notify()
        self._unsaved += size
        pending.clear()
        if self._unsaved >= self._checkpoint_every and not self._saving:
            self._saving, self._unsaved = True, 0
            try:
                await self.file.save_state(self._state.to_bytes())
            finally:
                self._saving = False
