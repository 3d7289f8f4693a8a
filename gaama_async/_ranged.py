"""Parallel, resumable Range download of one file made of one or more assets.

The storage URL of each asset is resolved once and again only when storage says it expired.
Segments are fetched by concurrent workers sharing the client's connection budget and are
written in place at their offsets into a preallocated hidden file. A hasher follows the
written prefix of the file, so the sha256 is ready moments after the last byte. Progress is
checkpointed to a small record beside the file, so a later run continues where this stopped.

``attempt`` is one pass over the missing segments: a segment that fails does not stop the
others, and the pass then fails as a whole, to be retried by the caller's one retry layer
(``RetryPolicy.run``, whose budget resets as ``bytes_done`` grows). Nothing here retries.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import threading
from collections.abc import Callable
from functools import partial

import aiohttp
import anyio
import anyio.to_thread

from ._concurrency import first_error
from ._files import CHUNK_SIZE, ResumableFile, in_pool
from ._http import GitHubHTTP
from ._ranges import Segment, partial_answer_matches, plan_segments, written_prefix
from ._responses import mapped_transport_errors
from ._resume import ResumeState, fingerprint
from ._retry import Corrupt, TransientError, notes
from ._storage import Answer, StorageLink, open_range, open_wire_range
from ._wire import WireResponse, interruptible, raise_mapped
from .errors import DownloadError
from .models import Asset, DownloadTarget
from .progress import ProgressCallback, ProgressEvent, ProgressKind

log = logging.getLogger("gaama_async")


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


CHECKPOINT_BYTES = 4 * CHUNK_SIZE  # at most, between two saves of the resume record
HASH_CHUNK = 4 * CHUNK_SIZE  # read back and hashed per trip to the pool
# Written but unhashed bytes past which receiving threads stop to hash (see _FrontierHasher).
MAX_HASH_LAG = 8 * CHUNK_SIZE
# Bytes a worker thread moves from socket to file per trip (then progress is accounted).
RECEIVE_BATCH = 2 * CHUNK_SIZE
# Received bytes are written once this much has arrived on a connection: memory stays at
# about this much per connection, and a killed run loses at most this much per range.
WRITE_BATCH = CHUNK_SIZE // 2


class AssetChanged(TransientError):
    """The remote asset is not the one the partial data came from: start over."""


class RangesIgnored(Exception):
    """Storage answered a Range request with the whole body: fetch the file in one stream."""


class _FrontierHasher:
    """Hashes the file from its start as far as it is written, per piece and whole.

    sha256 is sequential, so one hasher follows the written prefix (``frontier``, set by the
    event loop as ranges land). Profiling showed that a hasher on a thread of its own starves
    while sixteen receiving threads share two cores, and then hashes most of the file after
    the last byte arrived. So whoever has the CPU hashes: the ``run`` task, and every
    receiving thread after each buffer it writes (``hash_some(wait=False)``), one at a time
    under a lock, from the page cache: hashing keeps pace with receiving.
    """

    def __init__(self, file: ResumableFile, sizes: list[int]) -> None:
        self.file = file
        self.size = sum(sizes)
        self.starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self.sizes = sizes
        self.whole = hashlib.sha256()
        self.pieces = [hashlib.sha256() for _ in sizes] if len(sizes) > 1 else [self.whole]
        self.position = 0
        self.frontier = 0  # written prefix, published by the event loop
        self._lock = threading.Lock()
        self._buffer = memoryview(bytearray(HASH_CHUNK))  # only used under the lock
        self._wake = anyio.Event()
        self._stopped = False

    def advance_to(self, frontier: int) -> None:
        """The written prefix now ends at ``frontier``."""
        self.frontier = frontier
        self._wake.set()

    def stop(self) -> None:
        """End ``run`` at its next wake-up: the pass failed, the frontier will not move."""
        self._stopped = True
        self._wake.set()

    def _feed_at(self, position: int) -> Callable[[memoryview], None]:
        def feed(data: memoryview) -> None:
            self.whole.update(data)
            if len(self.sizes) == 1:
                return
            view, offset = data, position
            while view:
                index = bisect.bisect_right(self.starts, offset) - 1
                take = min(len(view), self.starts[index] + self.sizes[index] - offset)
                self.pieces[index].update(view[:take])
                view, offset = view[take:], offset + take

        return feed

    def hash_some(self, *, wait: bool = False) -> int:
        """Blocking: hash up to ``HASH_CHUNK`` more bytes of the written prefix; 0 when there
        is none or (unless ``wait``) another thread is hashing."""
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            length = min(self.frontier - self.position, HASH_CHUNK)
            if length <= 0:
                return 0
            view = self._buffer[:length]
            read = self.file.read_into(view, self.position)
            self._feed_at(self.position)(view[:read])
            if read == 0:
                raise DownloadError(f"'{self.file.path}' is shorter than what was written.")
            self.position += read
            return read
        finally:
            self._lock.release()

    def keep_pace(self) -> None:
        """Blocking, for a receiving thread after each buffer it wrote: hash a chunk if no one
        else is, and once the hasher lags ``MAX_HASH_LAG`` behind, queue for a turn (so the
        receivers pause, and the hashing gets the CPU it needs to keep up)."""
        self.hash_some(wait=self.frontier - self.position > MAX_HASH_LAG)

    async def run(self) -> None:
        """Hash up to the frontier until the whole file is hashed or ``stop`` is called."""
        self._stopped = False
        while self.position < self.size and not self._stopped:
            if self.frontier <= self.position:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            # Shielded: a read fed to the hasher must also advance the position.
            with anyio.CancelScope(shield=True):
                await in_pool(partial(self.hash_some, wait=True))

    def digests(self) -> tuple[str, list[str]]:
        return self.whole.hexdigest(), [h.hexdigest() for h in self.pieces]


class RangedDownload:
    """One file, fetched as concurrent segments of its assets, resumable across runs."""

    def __init__(
        self,
        http: GitHubHTTP,
        target: DownloadTarget,
        file: ResumableFile,
        *,
        limiter: anyio.CapacityLimiter,
        part_size: int,
        progress: ProgressCallback | None,
        whole_parts: bool = False,
    ) -> None:
        self.target = target
        # Each part in one request, for storage that ignores ranges: then a 200 to the
        # request that resumes a part means starting the file over, not a mode switch.
        self.whole_parts = whole_parts
        self.pieces = list(target.pieces)
        self.file = file
        self.limiter = limiter
        self.part_size = part_size
        self.progress = progress
        self.label = target.label
        self.sizes = [a.size for a in self.pieces]
        self.links = [StorageLink(http, a) for a in self.pieces]
        self._state: ResumeState | None = None
        self._segments: list[Segment] = []
        self._hasher = _FrontierHasher(file, self.sizes)
        self._unsaved = 0
        self._saving = False
        # Save progress every 1% of the file (within 256 KiB..4 MiB): a killed run then
        # re-fetches little more than what was still in flight.
        self._checkpoint_every = min(CHECKPOINT_BYTES, max(CHUNK_SIZE // 4, sum(self.sizes) // 100))

    def bytes_done(self) -> int:
        """Bytes written so far (what the retry budget watches for progress)."""
        if self._state is None:
            return 0
        return sum(min(d, s.length) for d, s in zip(self._state.done, self._segments, strict=True))

    async def attempt(self) -> None:
        """One pass: fetch every missing segment, then check the digests.

        Raises the first segment's ``TransientError`` once the other segments are done, so
        the caller retries only what is still missing; ``Corrupt`` after discarding bytes
        that did not hash right; ``AssetChanged`` after discarding a partial file whose
        asset changed meanwhile.
        """
        state = self._state or await self._open_state()
        try:
            failures = await self._one_pass(state)
        except AssetChanged as exc:
            log.warning("%s; starting over", exc)
            await self.discard()
            raise
        except RangesIgnored as exc:
            if not self.whole_parts:
                raise
            await self.discard()
            raise TransientError(f"{exc}, so a part cut short starts over") from exc
        finally:
            with anyio.CancelScope(shield=True):
                if self._state is not None:
                    await self.file.save_state(self._state.to_bytes())
        if failures:
            raise failures[0]
        if not self._digests_match():
            log.warning("sha256 mismatch for '%s'; discarding the copy", self.label)
            await self.discard()
            raise Corrupt(f"'{self.label}' did not match its sha256")

    async def _one_pass(self, state: ResumeState) -> list[TransientError]:
        failures: list[TransientError] = []
        missing = [i for i, s in enumerate(self._segments) if state.done[i] < s.length]
        try:
            async with anyio.create_task_group() as group:
                self._hasher.advance_to(self._frontier())
                group.start_soon(self._hasher.run)
                async with anyio.create_task_group() as fetchers:
                    for index in missing:
                        fetchers.start_soon(self._fetch, index, failures)
                if failures:
                    self._hasher.stop()
        except BaseExceptionGroup as errors:
            raise first_error(errors) from None
        return failures

    def _frontier(self) -> int:
        assert self._state is not None
        return written_prefix(self._segments, self._state.done)

    def _digests_match(self) -> bool:
        whole, pieces = self._hasher.digests()
        expected = [(self.target.sha256, whole)]
        expected += list(zip(self.target.piece_sha256, pieces, strict=True))
        return all(want is None or want == got for want, got in expected)

    async def discard(self) -> None:
        """Remove the partial file and its record, and un-report the bytes they held."""
        undone = self.bytes_done()
        await self.file.discard()
        self._forget()
        if undone:
            self._report("retry", undone)

    def _forget(self) -> None:
        """Start from nothing at the next attempt (the file on disk is stale)."""
        self._state = None
        self._hasher = _FrontierHasher(self.file, self.sizes)

    async def _open_state(self) -> ResumeState:
        expected = fingerprint(self.pieces, sum(self.sizes))
        saved = ResumeState.from_bytes(await self.file.read_state())
        if saved is not None and saved.fingerprint == expected:
            segments = plan_segments(self.sizes, saved.part_size)
            if len(segments) == len(saved.done):
                await self._open_file(fresh=False)
                self._state, self._segments = saved, segments
                if resumed := self.bytes_done():
                    notes.info("resuming '%s' with %s already on disk", self.label, _mib(resumed))
                    self._report("advance", resumed)
                return saved
        self._segments = plan_segments(self.sizes, self.part_size)
        state = ResumeState(expected, self.part_size, [0] * len(self._segments))
        await self._open_file(fresh=True)
        await self.file.save_state(state.to_bytes())
        self._state = state
        return state

    async def _open_file(self, *, fresh: bool) -> None:
        try:
            await self.file.open(sum(self.sizes), fresh=fresh)
        except OSError as exc:
            await self.file.discard()
            raise DownloadError(
                f"Cannot write '{self.label}' ({sum(self.sizes):,} bytes) in "
                f"'{self.file.final.parent}': {exc.strerror or exc}; free some space."
            ) from exc

    def _report(self, kind: ProgressKind, size: int) -> None:
        if self.progress:
            self.progress(ProgressEvent(kind, "download", self.label, 0, size))

    async def _fetch(self, index: int, failures: list[TransientError]) -> None:
        """Fetch what is missing of one segment; a transient failure is noted, not raised,
        so the other segments of this pass carry on."""
        async with self.limiter:
            try:
                await self._stream(index)
            except AssetChanged:
                raise
            except TransientError as exc:
                failures.append(exc)

    async def _stream(self, index: int) -> None:
        assert self._state is not None
        segment = self._segments[index]
        link = self.links[segment.piece]
        asset = link.asset
        start = segment.start + self._state.done[index]
        etag = self._state.etags.get(str(asset.id))
        await self.file.reserve(segment.file_offset + self._state.done[index], segment.stop - start)
        url, direct = await link.current()
        # The API serving the bytes itself (GHES), or a proxy in the way: through aiohttp,
        # which speaks to proxies; storage reached directly: on a worker thread (see _wire).
        if direct or link.http.proxy_for(url):
            async with open_range(link, (start, segment.stop), etag) as response:
                self._check_answer(response, asset, start, segment.stop, etag)
                await self._receive(index, response, asset)
        else:
            async with open_wire_range(link, (start, segment.stop), etag) as wire:
                self._check_answer(wire, asset, start, segment.stop, etag)
                await self._receive_on_thread(index, wire, asset)
        if self._state.done[index] < segment.length:
            raise TransientError(f"storage sent a short range of '{asset.name}'")

    async def _receive(self, index: int, response: aiohttp.ClientResponse, asset: Asset) -> None:
        pending: list[bytes] = []  # received chunks, written together without joining
        size = 0
        try:
            with mapped_transport_errors(f"downloading '{asset.name}'"):
                async for data in response.content.iter_any():
                    pending.append(data)
                    size += len(data)
                    if size >= WRITE_BATCH:
                        await self._write(index, pending, size)
                        size = 0
        except TransientError:
            await self._write(index, pending, size)  # keep what arrived before the break
            raise
        await self._write(index, pending, size)

    async def _receive_on_thread(self, index: int, wire: WireResponse, asset: Asset) -> None:
        """Move the body from socket to file on a worker thread, a batch per trip, and account
        for each batch here (progress, hasher, checkpoints) as ``_write`` does."""
        assert self._state is not None
        segment = self._segments[index]
        left = segment.length - self._state.done[index]
        if wire.length is not None and wire.length > left:
            raise TransientError("storage sent more bytes than were asked for")
        while left > 0:
            offset = segment.file_offset + self._state.done[index]
            receive = partial(
                anyio.to_thread.run_sync, wire.receive, self.file.write_blocking, offset,
                min(left, RECEIVE_BATCH), self._hasher.keep_pace,
            )  # fmt: skip
            size, error = await interruptible(receive, wire.interrupt)
            if size:
                await self._advance(index, size)
                left -= size
            if error is not None:
                raise_mapped(error, f"downloading '{asset.name}'")
            if size == 0:
                return

    def _check_answer(
        self,
        response: Answer,
        asset: Asset,
        start: int,
        stop: int,
        etag: str | None,
    ) -> None:
        assert self._state is not None
        answered = response.headers.get("ETag")
        if response.status == 200:
            # A 200 to If-Range means the blob changed, unless its ETag is still ours: then
            # storage (or a proxy) merely ignores ranges.
            if etag is not None and answered != etag:
                raise AssetChanged(f"'{asset.name}' changed since the partial download")
            if (start, stop) != (0, asset.size):
                raise RangesIgnored(f"storage ignored the Range request for '{asset.name}'")
        elif not partial_answer_matches(
            response.headers.get("Content-Range"), start, stop, asset.size
        ):
            raise DownloadError(f"Storage sent the wrong byte range of '{asset.name}'.")
        if answered:
            if etag is not None and answered != etag:
                raise AssetChanged(f"'{asset.name}' changed since the partial download")
            self._state.etags.setdefault(str(asset.id), answered)

    async def _write(self, index: int, pending: list[bytes], size: int) -> None:
        assert self._state is not None
        if not pending:
            return
        segment = self._segments[index]
        done = self._state.done[index]
        if done + size > segment.length:
            raise TransientError("storage sent more bytes than were asked for")
        await self.file.write_at(pending, segment.file_offset + done)
        pending.clear()
        await self._advance(index, size)

    async def _advance(self, index: int, size: int) -> None:
        """``size`` more bytes of segment ``index`` are on disk: report, wake the hasher, and
        save the resume record now and then."""
        assert self._state is not None
        self._state.done[index] += size
        self._report("advance", size)
        self._hasher.advance_to(self._frontier())
        self._unsaved += size
        if self._unsaved >= self._checkpoint_every and not self._saving:
            self._saving, self._unsaved = True, 0
            try:
                await self.file.save_state(self._state.to_bytes(), flush=True)
            finally:
                self._saving = False
