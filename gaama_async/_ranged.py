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

import asyncio
import bisect
import hashlib
import logging
import threading
from collections.abc import Callable
from functools import partial

import aiohttp
import anyio
import anyio.abc
import anyio.to_thread

from ._blocks import BlockChecker, BlockDigests
from ._concurrency import first_error
from ._files import CHUNK_SIZE, ResumableFile, in_pool
from ._http import GitHubHTTP
from ._ranges import (
    Segment,
    frontier_from,
    partial_answer_matches,
    piece_starts,
    plan_segments,
    range_request_headers,
    range_size,
    rewind,
)
from ._responses import mapped_transport_errors
from ._resume import ResumeState, fingerprint
from ._retry import Corrupt, TransientError, notes
from ._storage import (
    Answer,
    StorageLink,
    open_range,
    refuse_wire_answer,
    wire_answer_has_bytes,
)
from ._wire import FileSideError, WireCall, WireResponse, Writer, on_wire, open_blocking
from .errors import DownloadError
from .models import Asset, DownloadTarget
from .progress import ProgressCallback, ProgressEvent, ProgressKind

log = logging.getLogger("gaama_async")


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


CHECKPOINT_BYTES = 4 * CHUNK_SIZE  # at most, between two saves of the resume record
# Seconds at least between two saves: each is a trip to the thread pool and an fdatasync,
# whose Python waits for the GIL among sixteen receiving threads. Measured over TLS, 1 GiB,
# in the call, 6 alternating rounds: a save every 4 MiB (~125 per GiB) 1.86 s median, at most
# every 0.1 s 1.73 s, a single save 1.73 s. Against the commit before, 6 rounds each: TLS
# 1.56 s against 1.62, loopback 1.02 s against 1.06.
CHECKPOINT_INTERVAL = 0.1
HASH_CHUNK = 4 * CHUNK_SIZE  # hashed per turn (feed_range), read back HASH_READ at a time
HASH_READ = CHUNK_SIZE  # the hasher's buffer: small enough to stay in the CPU's cache
# Written but unhashed bytes past which receiving threads queue to hash (see _FrontierHasher).
# Measured on loopback, 1 GiB: at 8 MiB the sixteen threads spent 19 thread-seconds queued,
# a core idle while one hashed; with no limit 670 MiB were left to hash after the last byte.
MAX_HASH_LAG = 32 * CHUNK_SIZE
# Received bytes are written once this much has arrived on a connection: memory stays at
# about this much per connection, and a killed run loses at most this much per range.
WRITE_BATCH = CHUNK_SIZE // 2


def checkpoint_due(unsaved: int, every: int, since_last: float) -> bool:
    """Whether to save the resume record now: ``every`` bytes written since the last save,
    and ``CHECKPOINT_INTERVAL`` seconds passed."""
    return unsaved >= every and since_last >= CHECKPOINT_INTERVAL


class AssetChanged(TransientError):
    """The remote asset is not the one the partial data came from: start over."""


class RangesIgnored(Exception):
    """Storage answered a Range request with the whole body: fetch the file in one stream."""


class _FrontierHasher:
    """Hashes the file from its start as far as it is written, per piece and whole.

    sha256 is sequential, so one hasher follows the written prefix (``frontier``), which
    whoever wrote bytes moves forward (``note_written``, any thread). Profiling showed that a
    hasher on a thread of its own starves while sixteen receiving threads share two cores,
    and then hashes most of the file after the last byte arrived. So whoever has the CPU
    hashes: every thread after each buffer it writes (``keep_pace``), one at a time under a
    lock, from the page cache; what is left when the last range lands, ``catch_up`` hashes.
    """

    def __init__(self, file: ResumableFile, sizes: list[int]) -> None:
        self.file = file
        self.size = sum(sizes)
        self.starts = piece_starts(sizes)
        self.sizes = sizes
        self.whole = hashlib.sha256()
        self.pieces = [hashlib.sha256() for _ in sizes] if len(sizes) > 1 else [self.whole]
        self.position = 0
        self.frontier = 0  # the written prefix: bytes [0, frontier) are on disk
        self._lock = threading.Lock()
        self._frontier_lock = threading.Lock()
        self._segments: list[Segment] = []
        self._done: list[int] = []
        self._lowest = 0  # the first segment not yet fully written
        self._buffer = bytearray(HASH_READ)  # used under ``_lock``, by one thread at a time

    def follow(self, segments: list[Segment], done: list[int]) -> None:
        """Track the written prefix of ``segments``, of which ``done[i]`` bytes are written
        (the list is the resume record's, updated in place by the writers)."""
        self._segments, self._done, self._lowest = segments, done, 0
        self.note_written()

    def note_written(self) -> None:
        """Any thread, after raising a ``done`` count: move the frontier past what is written
        (amortised O(1): the first unfinished segment only moves forward)."""
        with self._frontier_lock:
            self._lowest, self.frontier = frontier_from(self._segments, self._done, self._lowest)

    def _feed_at(self, position: int) -> Callable[[memoryview], None]:
        """A feed for the bytes from ``position`` on, called with them in order, piece by
        piece (it keeps its own place)."""
        offset = position

        def feed(data: memoryview) -> None:
            nonlocal offset
            self.whole.update(data)
            if len(self.sizes) == 1:
                return
            view = data
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
            feed = self._feed_at(self.position)
            read = self.file.feed_range(self.position, length, feed, self._buffer)
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

    def catch_up(self) -> int:
        """Blocking: hash all of the written prefix that is not hashed yet (0 bytes undone:
        whether the whole hashed right is ``matches``' question)."""
        while self.hash_some(wait=True):
            pass
        return 0

    def checker(self, segment: Segment, start: int) -> BlockChecker | None:
        """Ranges carry no checks of their own here: the hash follows the file."""
        return None

    def matches(self, target: DownloadTarget) -> bool:
        whole = self.whole.hexdigest()
        pieces = [h.hexdigest() for h in self.pieces]
        expected = [(target.sha256, whole), *zip(target.piece_sha256, pieces, strict=True)]
        return all(want is None or want == got for want, got in expected)


class _BlockVerifier:
    """Checks a file by its pieces' block digests (see ``_blocks``).

    Each receiving thread checks the blocks its range completes, on bytes still in the
    CPU's cache (``checker``, ``check``); ``catch_up`` reads back and checks the rest: blocks
    written by an earlier run, or by a range that does not start on a block. A block that
    hashed wrong is rewound in the resume record, so only it is fetched again.
    """

    def __init__(self, file: ResumableFile, sizes: list[int], blocks: tuple[BlockDigests, ...]):
        self.file = file
        self.sizes = sizes
        self.blocks = blocks
        self.starts = piece_starts(sizes)
        self.good: list[set[int]] = [set() for _ in blocks]
        self._segments: list[Segment] = []
        self._done: list[int] = []

    def follow(self, segments: list[Segment], done: list[int]) -> None:
        self._segments, self._done = segments, done

    def note_written(self) -> None:
        """Nothing to follow: each range checks itself."""

    def keep_pace(self) -> None:
        """Nothing to keep pace with: each range checks itself."""

    def checker(self, segment: Segment, start: int) -> BlockChecker | None:
        """Blocking: a checker for a range of ``segment`` from ``start`` (of its piece), fed
        the head of its first block from disk; None when that block starts before the
        segment (its head is another range's to write)."""
        piece = segment.piece
        checker = BlockChecker(self.blocks[piece], self.sizes[piece], start)
        head_start, head_stop = checker.head
        if head_start < segment.start:
            return None
        if head_stop > head_start:
            buffer = bytearray(min(HASH_READ, head_stop - head_start))
            offset = self.starts[piece] + head_start
            try:
                self.file.feed_range(offset, head_stop - head_start, checker.update, buffer)
            except OSError:  # on a network thread an OSError reads as a failure to connect:
                return None  # leave the block to catch_up, which reports it as a disk error
        return checker

    def check(self, segment: Segment, checker: BlockChecker, data: memoryview) -> int:
        """Blocking: feed ``checker`` bytes just written; the bytes undone (rewound in the
        resume record) if a block they completed hashed wrong, else 0."""
        piece = segment.piece
        for index, good in checker.update(data):
            if not good:
                start, stop = self.blocks[piece].span(index, self.sizes[piece])
                return rewind(self._segments, self._done, piece, start, stop)
            self.good[piece].add(index)
        return 0

    def catch_up(self) -> int:
        """Blocking: read back and check every block no range checked; rewind those that
        hashed wrong and return the bytes undone."""
        undone = 0
        buffer = bytearray(HASH_READ)
        for piece, blocks in enumerate(self.blocks):
            for index in set(range(len(blocks.sha256))) - self.good[piece]:
                start, stop = blocks.span(index, self.sizes[piece])
                hasher = hashlib.sha256()
                self.file.feed_range(
                    self.starts[piece] + start, stop - start, hasher.update, buffer
                )
                if hasher.hexdigest() == blocks.sha256[index]:
                    self.good[piece].add(index)
                else:
                    undone += rewind(self._segments, self._done, piece, start, stop)
        return undone

    def matches(self, target: DownloadTarget) -> bool:
        return all(len(g) == len(b.sha256) for g, b in zip(self.good, self.blocks, strict=True))


def _verifier_for(
    file: ResumableFile, sizes: list[int], blocks: tuple[BlockDigests, ...]
) -> _FrontierHasher | _BlockVerifier:
    """Blocks when the manifest gives them for every piece, else one hash of the file."""
    return _BlockVerifier(file, sizes, blocks) if blocks else _FrontierHasher(file, sizes)


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
        self._verifier = _verifier_for(file, self.sizes, target.piece_blocks)
        self._unsaved = 0
        self._saving = False
        self._saved_at = -CHECKPOINT_INTERVAL  # on the event loop's clock
        self._group: anyio.abc.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Save progress every 1% of the file (within 256 KiB..4 MiB), and at most every
        # CHECKPOINT_INTERVAL: a killed run then re-fetches little more than what was still
        # in flight, or than a tenth of a second brings on a fast link.
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
        if not self._verifier.matches(self.target):
            log.warning("sha256 mismatch for '%s'; discarding the copy", self.label)
            await self.discard()
            raise Corrupt(f"'{self.label}' did not match its sha256")

    async def _one_pass(self, state: ResumeState) -> list[TransientError]:
        failures: list[TransientError] = []
        missing = [i for i, s in enumerate(self._segments) if state.done[i] < s.length]
        self._verifier.follow(self._segments, state.done)
        self._loop = asyncio.get_running_loop()
        try:
            async with anyio.create_task_group() as group:
                self._group = group  # where checkpoints are saved meanwhile
                for index in missing:
                    group.start_soon(self._fetch, index, failures)
        except BaseExceptionGroup as errors:
            raise first_error(errors) from None
        finally:
            self._group = None
        if not failures:  # the rest of the checks, after the last range landed
            self._corrupt_blocks(await in_pool(self._verifier.catch_up))
        return failures

    def _corrupt_blocks(self, undone: int) -> None:
        """After blocks that hashed wrong were rewound (``undone`` bytes): report the
        bytes to fetch again, and fail this pass so that the retry fetches just them."""
        if undone:
            self._report_rewound(undone)
            raise Corrupt(f"a block of '{self.label}' did not match its sha256")

    def _report_rewound(self, undone: int) -> None:
        log.warning("sha256 mismatch in a block of '%s'; fetching that block again", self.label)
        self._report("retry", undone)

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
        self._verifier = _verifier_for(self.file, self.sizes, self.target.piece_blocks)

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
        blocks = [b.size for b in self.target.piece_blocks]
        connections = int(self.limiter.total_tokens)
        part_size = range_size(self.part_size, sum(self.sizes), connections, blocks)
        self._segments = plan_segments(self.sizes, part_size)
        state = ResumeState(expected, part_size, [0] * len(self._segments))
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
        url, direct = await link.current()
        # The API serving the bytes itself (GHES), or a proxy in the way: through aiohttp,
        # which speaks to proxies; storage reached directly: on a worker thread (see _wire).
        if direct or link.http.proxy_for(url):
            offset = segment.file_offset + self._state.done[index]
            await self.file.reserve(offset, segment.stop - start)
            async with open_range(link, (start, segment.stop), etag) as response:
                self._check_answer(response, asset, start, segment.stop, etag)
                await self._receive(index, response, asset)
        else:
            what = f"downloading '{asset.name}'"
            unread = await on_wire(partial(self._range_on_thread, index, url, etag), url, what)
            if unread is not None:
                await refuse_wire_answer(link, url, unread)
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

    def _range_on_thread(
        self, index: int, url: str, etag: str | None, call: WireCall
    ) -> WireResponse | None:
        """Blocking, on a worker thread: ask storage for the rest of segment ``index``, check
        the answer, and move its body from socket to file, accounting for each buffer here
        (``_written_on_thread``): the event loop hears only of progress. One trip per range:
        profiling showed the event loop's share of every trip (a thread hand-off, a cancel
        scope, a task) as the largest Python cost of a download. Returns an answer that
        carries no bytes, unread, for the event loop to act on (a refresh of the link)."""
        assert self._state is not None
        segment = self._segments[index]
        asset = self.links[segment.piece].asset
        done = self._state.done[index]
        start, left = segment.start + done, segment.length - done
        headers = range_request_headers(start, segment.stop, etag)
        # On a disk filesystem the range's room is allocated while its request travels (a
        # full disk fails there, clearly); on tmpfs not at all (see _filesystems).
        reserve = partial(self.file.reserve_blocking, segment.file_offset + done, left)
        wire = self.links[segment.piece].http.wire
        response = open_blocking(wire, url, headers, call, reserve)
        try:
            if not wire_answer_has_bytes(response, asset.name):
                return response
            self._check_answer(response, asset, start, segment.stop, etag)
            if response.length is not None and response.length > left:
                raise TransientError("storage sent more bytes than were asked for")
            written = partial(self._written_on_thread, index)
            offset = segment.file_offset + done
            checker = self._verifier.checker(segment, start)
            # Checked blocks need the bytes in our buffer; unchecked ones are spliced.
            write, fd = self._writer(segment, checker), self.file.descriptor
            try:
                _, error = response.receive(write, offset, left, written, None if checker else fd)
            except FileSideError as exc:
                raise self.file.write_failure(exc.error) from exc
            if error is not None:
                raise error  # a transport error: on_wire maps it
            return None
        finally:
            response.close()

    def _writer(self, segment: Segment, checker: BlockChecker | None) -> Writer:
        """How a receiving thread writes a buffer: plainly, or checking the blocks it
        completes once written (a wrong one is rewound and ends the range: ``Corrupt``)."""
        if checker is None or not isinstance(self._verifier, _BlockVerifier):
            return self.file.write_blocking
        verifier = self._verifier

        def write_checked(data: memoryview, offset: int) -> None:
            self.file.write_blocking(data, offset)
            if undone := verifier.check(segment, checker, data):
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self._report_rewound, undone)
                raise Corrupt(f"a block of '{self.label}' did not match its sha256")

        return write_checked

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
        await in_pool(self._write_and_hash, index, list(pending), segment.file_offset + done)
        pending.clear()
        self._account(size)

    def _write_and_hash(self, index: int, chunks: list[bytes], offset: int) -> None:
        """Blocking: write ``chunks`` at ``offset``, count them, and take a turn hashing."""
        assert self._state is not None
        self.file.write_chunks_blocking(chunks, offset)
        self._state.done[index] += sum(len(c) for c in chunks)
        self._verifier.note_written()
        self._verifier.keep_pace()

    def _written_on_thread(self, index: int, size: int) -> None:
        """On the receiving thread, after each buffer it wrote: count it (the resume record
        reads these counts), move the hash frontier, take a turn hashing, and tell the event
        loop, which reports progress and saves checkpoints."""
        assert self._state is not None and self._loop is not None
        self._state.done[index] += size
        self._verifier.note_written()
        self._verifier.keep_pace()
        self._loop.call_soon_threadsafe(self._account, size)

    def _account(self, size: int) -> None:
        """On the event loop: ``size`` more bytes are on disk; report them, and save the
        resume record in the background now and then."""
        self._report("advance", size)
        self._unsaved += size
        if self._saving or self._group is None or self._loop is None:
            return
        now = self._loop.time()
        if checkpoint_due(self._unsaved, self._checkpoint_every, now - self._saved_at):
            self._saving, self._unsaved, self._saved_at = True, 0, now
            self._group.start_soon(self._checkpoint)

    async def _checkpoint(self) -> None:
        assert self._state is not None
        try:
            await self.file.save_state(self._state.to_bytes(), flush=True)
        finally:
            self._saving = False
