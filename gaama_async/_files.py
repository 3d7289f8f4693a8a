"""The only module that touches the disk: reads, writes at offsets, atomic and durable moves,
locks, copies and clones, and the one private folder gaama keeps in a destination.

**Two widths of one pool.** Every blocking call but a lock's (see ``FileLock``) runs through
``in_pool``, that is ``anyio.to_thread.run_sync`` on anyio's worker threads (the same threads
``anyio.Path`` uses, so nothing else spins up a pool for file work), at most ``FILE_WORKERS``
at once; calls that wait for the disk (``fsync``, reading contents) may use anyio's default
limiter of 40. Why two: a file call is mostly Python between short system calls, each of
which drops and retakes the GIL, and sixteen threads doing that fight the event loop for it
(strace: 205 futex calls per small file). 500 files of 64 KiB downloaded into tmpfs in 1.03 s
instead of 1.28 s (medians of 6 alternating runs); an ``fsync`` holds no GIL, and a slow disk
needs many in flight. A worker call is not abandoned when its task is cancelled: the task
waits for the system call in flight, so a cancelled open never leaks a descriptor and a
cancelled rename is either done or not. Hashing runs there too: hashlib releases the GIL on
large buffers.

**One private folder.** Everything a download keeps in a destination besides the files
themselves (partial files, resume states, the folder record, locks, extraction staging) lives
in ``DEST/.gaama/``: created with mode 0o700, opened with ``O_DIRECTORY | O_NOFOLLOW`` and
checked to be ours, and every entry in it is opened relative to that descriptor with
``O_NOFOLLOW`` (new files also ``O_EXCL``). A link planted there, or at the folder itself, is
refused, never followed. Files reach their final path by ``rename``, which replaces a link at
that path instead of writing through it. Presence checks use ``lstat``: a planted link at a
final path is never taken for a downloaded file.

**Durable.** Commits ``fsync`` the file before the rename and the folder after it (``durable``
keyword, on by default): once a commit returns, the final path holds the complete bytes even
after a power cut, which is what lets the folder record trust size, mtime, inode and ctime.

**Old layout.** Versions before the private folder left ``.gaama-downloads.json``, a
``.gaama-locks/`` folder and ``.NAME.gaama-partial[.json]`` files beside the finals. They are
never read or opened any more (a link planted there is inert); ``tidy_folder`` deletes them
(``unlink`` removes a link itself, never its target) when a folder record is saved, together
with temporary files a killed run left in the private folder more than a day ago.

POSIX only (``O_NOFOLLOW``, ``dir_fd``, ``flock``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from ._filenames import PRIVATE_FOLDER
from ._filesystems import keeps_files_in_memory
from .errors import DownloadError, IntegrityError, LocalFileError

T = TypeVar("T")
CHUNK_SIZE = 1024 * 1024
# The layout before the private folder; only ever deleted, never opened.
PARTIAL_SUFFIX = ".gaama-partial"
LOCKS_FOLDER = ".gaama-locks"
OLD_RECORD = ".gaama-downloads.json"

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = os.O_NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
STALE_AFTER = 24 * 3600.0  # seconds before a killed run's temporary file is deleted


class UnsafeFolderError(LocalFileError, DownloadError):
    """The private ``.gaama`` folder is a link, a file, or not ours: we refuse to write there."""


class DiskFullError(LocalFileError, DownloadError):
    """The destination ran out of space (or quota) while writing."""


def _key(name: str) -> str:
    """The private folder's name for things about file ``name``: ``f-`` keeps them apart from
    gaama's own entries; a very long name is hashed so the suffixes still fit NAME_MAX."""
    if len(os.fsencode(name)) <= 200:
        return f"f-{name}"
    return "f-~" + hashlib.sha256(os.fsencode(name)).hexdigest()


# -- the pool -------------------------------------------------------------------------------


FILE_WORKERS = 2  # see "Two widths of one pool" above
_FILE_WORKERS: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("file_workers")


def _file_workers() -> anyio.CapacityLimiter:
    """The event loop's own limiter of file calls (a limiter belongs to one loop)."""
    try:
        return _FILE_WORKERS.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(FILE_WORKERS)
        _FILE_WORKERS.set(limiter)
        return limiter


async def in_pool(func: Callable[..., T], *args: Any, disk_bound: bool = False) -> T:
    """Run blocking file work on the file workers; ``disk_bound``: the call waits for the
    disk (an ``fsync``, reading file contents), and may take one of anyio's default threads."""
    limiter = None if disk_bound else _file_workers()
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


# -- blocking primitives --------------------------------------------------------------------


def _no_space(folder: Path) -> DiskFullError:
    try:
        usage = os.statvfs(folder)
        free = f"{usage.f_bavail * usage.f_frsize:,} bytes free"
    except OSError:
        free = "free space unknown"
    return DiskFullError(
        f"Not enough free space in '{folder}' ({free}): free some space and run the download again."
    )


@contextlib.contextmanager
def _space_checked(folder: Path) -> Iterator[None]:
    """Turn a full disk into one clear ``DiskFullError`` that names the free space."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise _no_space(folder) from exc
        raise


def open_private(folder: Path) -> int:
    """A descriptor of ``folder/.gaama``, created 0o700 if missing; blocking.

    Opened with ``O_NOFOLLOW | O_DIRECTORY`` and checked with ``fstat`` (no race between check
    and use): a link, a file, or a folder of another user or writable by others is refused.
    """
    private = folder / PRIVATE_FOLDER
    with contextlib.suppress(FileExistsError):
        os.mkdir(private, 0o700)
    try:
        fd = os.open(private, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _unsafe_private(private, "is a link or a file") from exc
        raise
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        os.close(fd)
        raise _unsafe_private(private, "belongs to another user or is writable by others")
    return fd


def _unsafe_private(private: Path, why: str) -> UnsafeFolderError:
    return UnsafeFolderError(
        f"'{private}' {why}: gaama keeps its private files there and will not write through "
        "it; remove it and run the download again."
    )


@contextlib.contextmanager
def _folder_fd(folder: Path, *, private: bool) -> Iterator[int]:
    fd = open_private(folder) if private else os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(name: str | Path, dir_fd: int | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


def _move_into_place(fd: int, private: int, staged: str, final: Path, *, durable: bool) -> None:
    """fsync ``fd``, close it, rename ``staged`` (in the private folder) to ``final``, fsync
    the folder. ``rename`` replaces a link at ``final``; it never writes through it."""
    try:
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    with _folder_fd(final.parent, private=False) as parent:
        os.replace(staged, final.name, src_dir_fd=private, dst_dir_fd=parent)
        if durable:
            os.fsync(parent)


def _create_staged(private: int, key: str, mode: int = 0o644) -> tuple[int, str]:
    staged = f"{key}.{secrets.token_hex(4)}.tmp"
    return os.open(staged, _NEW_FILE, mode, dir_fd=private), staged


def _write_new_file(final: Path, data: bytes, durable: bool) -> Path:
    with _space_checked(final.parent), _folder_fd(final.parent, private=True) as private:
        fd, staged = _create_staged(private, _key(final.name))
        try:
            try:
                _write_all(fd, data)
            except BaseException:
                os.close(fd)
                raise
            _move_into_place(fd, private, staged, final, durable=durable)
        except BaseException:
            _unlink_quietly(staged, private)
            raise
    return final


def _write_atomically(path: Path, data: bytes, durable: bool) -> None:
    """Replace ``path`` (a file in a folder gaama owns: the cache)."""
    with _folder_fd(path.parent, private=False) as folder:
        _write_in(folder, path.name, data, durable)


def _write_in(dir_fd: int, name: str, data: bytes, durable: bool) -> None:
    """Replace ``name`` in the folder ``dir_fd`` atomically (fsync file, rename, fsync folder)."""
    fd, staged = _create_staged(dir_fd, f".{name}")
    try:
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(staged, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        if durable:
            os.fsync(dir_fd)
    except BaseException:
        _unlink_quietly(staged, dir_fd)
        raise


def _write_private(folder: Path, name: str, data: bytes, durable: bool) -> None:
    with _space_checked(folder), _folder_fd(folder, private=True) as private:
        _write_in(private, name, data, durable)


def _read_private(folder: Path, name: str) -> bytes | None:
    with _folder_fd(folder, private=True) as private:
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=private)
        except FileNotFoundError:
            return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


async def write_private_file(folder: Path, name: str, data: bytes, *, durable: bool = True) -> None:
    """Replace gaama's own file ``name`` in ``folder``'s private folder, atomically and (by
    default) durably."""
    await in_pool(_write_private, folder, name, data, durable, disk_bound=durable)


async def read_private_file(folder: Path, name: str) -> bytes | None:
    """Gaama's own file ``name`` in ``folder``'s private folder, None when missing."""
    return await in_pool(_read_private, folder, name)


def _fsync_folder(folder: Path) -> None:
    with _folder_fd(folder, private=False) as fd:
        os.fsync(fd)


def _read_nofollow(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _lstat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _make_folder(path: Path) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        raise DownloadError(
            f"Cannot create the folder '{path}': '{blocker}' is a file, not a folder."
        ) from exc


# -- reading --------------------------------------------------------------------------------


class ReadHandle:
    """A file being read in chunks; each chunk is read and hashed in one trip to the pool."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    async def seek(self, offset: int) -> None:
        await in_pool(self._raw.seek, offset)

    async def read(self, size: int, hasher: Any = None) -> bytes:
        # A read may wait for the disk; so may the upload it feeds (many at once).
        return bytes(await in_pool(_read_and_feed, self._raw, size, hasher, disk_bound=True))

    async def close(self) -> None:
        await in_pool(self._raw.close)


def _read_and_feed(raw: IO[bytes], size: int, hasher: Any) -> bytes:
    data = raw.read(size)
    if hasher is not None:
        hasher.update(data)
    return data


async def open_for_reading(path: Path) -> ReadHandle:
    """An open file to read with ``read_from``; the caller closes it."""
    raw: IO[bytes] = await in_pool(_open_binary, path)
    return ReadHandle(raw)


def _open_binary(path: Path) -> IO[bytes]:
    return open(path, "rb", 0)  # closed by ReadHandle.close


async def read_from(
    handle: ReadHandle, length: int, *, hasher: Any = None, chunk_size: int = CHUNK_SIZE
) -> AsyncIterator[bytes]:
    """Yield ``length`` bytes of an open handle from its position, feeding ``hasher``."""
    while length > 0 and (chunk := await handle.read(min(chunk_size, length), hasher)):
        length -= len(chunk)
        yield chunk


async def sha256_of(path: Path, *, offset: int = 0, length: int | None = None) -> str:
    """Hex sha256 of a file, or of ``length`` bytes of it from ``offset``, read in chunks."""
    hasher = hashlib.sha256()
    await hash_file(path, hasher, offset=offset, length=length)
    return hasher.hexdigest()


async def hash_file(path: Path, hasher: Any, *, offset: int = 0, length: int | None = None) -> None:
    """Feed ``hasher`` a file, or ``length`` bytes of it from ``offset``, read in chunks."""
    handle = await open_for_reading(path)
    try:
        await handle.seek(offset)
        remaining = length if length is not None else (await file_size(path)) - offset
        async for _ in read_from(handle, remaining, hasher=hasher, chunk_size=4 * CHUNK_SIZE):
            pass
    finally:
        with anyio.CancelScope(shield=True):
            await handle.close()


async def file_size(path: Path) -> int:
    return (await in_pool(os.stat, path)).st_size


async def read_bytes_if_any(path: Path) -> bytes | None:
    """A small file's bytes, or None when it does not exist; a link there is refused."""
    return await in_pool(_read_nofollow, path)


async def read_many_if_any(paths: Sequence[Path]) -> list[bytes | None]:
    """``read_bytes_if_any`` of each of ``paths``, in one worker-thread trip."""
    return await in_pool(lambda: [_read_nofollow(path) for path in paths])


# -- presence (never through a link) --------------------------------------------------------


def _lstat_all(paths: list[Path]) -> list[os.stat_result | None]:
    return [_lstat_or_none(path) for path in paths]


async def stat_many(paths: list[Path]) -> list[os.stat_result | None]:
    """``lstat`` many files in one trip to the pool (None for a missing one); a link is
    reported as a link, so it is never taken for a present file."""
    return await in_pool(_lstat_all, paths)


async def stat_or_none(path: Path) -> os.stat_result | None:
    """``lstat`` of ``path``, None when missing."""
    return await in_pool(_lstat_or_none, path)


async def exists(path: Path, *, follow_links: bool = False) -> bool:
    """Whether something is at ``path`` (a dangling link counts unless ``follow_links``)."""
    found = await in_pool(_stat_or_none if follow_links else _lstat_or_none, path)
    return found is not None


async def is_file(path: Path, *, follow_links: bool = False) -> bool:
    """Whether ``path`` is a regular file (through links only with ``follow_links``)."""
    found = await in_pool(_stat_or_none if follow_links else _lstat_or_none, path)
    return found is not None and stat.S_ISREG(found.st_mode)


async def is_dir(path: Path, *, follow_links: bool = False) -> bool:
    """Whether ``path`` is a folder (through links only with ``follow_links``)."""
    found = await in_pool(_stat_or_none if follow_links else _lstat_or_none, path)
    return found is not None and stat.S_ISDIR(found.st_mode)


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


async def make_folder(path: Path) -> None:
    """``mkdir -p``; a clear ``DownloadError`` when ``path`` or a parent is a file."""
    await in_pool(_make_folder, path)


# -- writing finals -------------------------------------------------------------------------


class PartialFile:
    """A download in progress: a file in the private folder, moved to its final path only
    when complete (``commit`` is an atomic rename); anything else is removed by ``discard``."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.hasher = hashlib.sha256()
        self.size = 0
        self._fd = -1
        self._staged = ""

    @property
    def path(self) -> Path:
        return self.final.parent / PRIVATE_FOLDER / self._staged

    async def open(self) -> None:
        self._fd, self._staged = await in_pool(self._create)

    def _create(self) -> tuple[int, str]:
        with _folder_fd(self.final.parent, private=True) as private:
            return _create_staged(private, _key(self.final.name))

    async def write(self, data: bytes) -> None:
        """Append ``data`` and hash it."""
        await in_pool(self._write, data)
        self.size += len(data)

    def _write(self, data: bytes) -> None:
        with _space_checked(self.final.parent):
            _write_all(self._fd, data)
        self.hasher.update(data)

    async def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            await in_pool(os.close, fd)

    async def commit(self, *, durable: bool = True) -> Path:
        """Move the finished file into place atomically (durably unless told otherwise)."""
        fd, self._fd = self._fd, -1
        await in_pool(self._commit, fd, durable, disk_bound=durable)
        return self.final

    def _commit(self, fd: int, durable: bool) -> None:
        with _space_checked(self.final.parent), _folder_fd(self.final.parent, private=True) as p:
            _move_into_place(fd, p, self._staged, self.final, durable=durable)

    async def discard(self) -> None:
        """Remove the temporary file (even while being cancelled); never the final path."""
        with anyio.CancelScope(shield=True):
            await self.close()
            if self._staged:
                await in_pool(self._remove)

    def _remove(self) -> None:
        with _folder_fd(self.final.parent, private=True) as private:
            _unlink_quietly(self._staged, private)


async def write_empty(final: Path, *, durable: bool = True) -> Path:
    """Create an empty file atomically (GitHub cannot store empty assets)."""
    return await write_file_atomically(final, b"", durable=durable)


async def write_file_atomically(final: Path, data: bytes, *, durable: bool = True) -> Path:
    """Write a small file in the private folder and move it into place, in one pool call."""
    return await in_pool(_write_new_file, final, data, durable, disk_bound=durable)


async def write_bytes_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace a file inside a folder gaama owns (the private folder, the cache)."""
    await in_pool(_write_atomically, path, data, durable, disk_bound=durable)


def _size_file(fd: int, size: int) -> None:
    """Give the file its final size, refusing now (``ENOSPC``) when the filesystem has no
    room for what is not allocated yet; on disk filesystems each range is reserved just
    before it is written (``ResumableFile.reserve``; not on tmpfs, see ``_filesystems``).

    Not one ``fallocate`` of the whole file up front any more: on tmpfs (and any filesystem
    without unwritten extents) that zeroes every page, 0.44 s per GiB here, all of it before
    the first byte is asked for. Reserved per range by the threads that receive them, the
    same work runs in parallel with the network.
    """
    os.ftruncate(fd, size)
    info = os.fstat(fd)
    usage = os.fstatvfs(fd)
    missing = size - info.st_blocks * 512
    if missing > usage.f_bavail * usage.f_frsize:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _reserve(fd: int, offset: int, length: int) -> None:
    """Allocate ``length`` bytes at ``offset`` (where the filesystem can)."""
    if length > 0 and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, offset, length)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise


def _pwrite_all(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write ``chunks`` back to back at ``offset``: one gathering system call, no joining."""
    total = sum(len(c) for c in chunks)
    written = os.pwritev(fd, chunks, offset) if hasattr(os, "pwritev") else 0
    if written < total:  # rare short write: finish the rest plainly
        view = memoryview(b"".join(chunks))[written:]
        offset += written
        while view:
            count = os.pwrite(fd, view, offset)
            view, offset = view[count:], offset + count


class ResumableFile:
    """A large download in progress: a file in the private folder written at offsets (each
    range reserved first, on disk filesystems), and a small state record beside it so the
    next run continues where this stopped.

    The state is saved without ``fsync``: after a power cut it may claim bytes that never
    reached the disk, but the hasher reads the written prefix back from the file, so such a
    loss shows as a sha256 mismatch and a fresh start, never as a verified file.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        self._name = f"{_key(final.name)}.partial"
        self._state = f"{self._name}.json"
        self.path = final.parent / PRIVATE_FOLDER / self._name
        self.state_path = final.parent / PRIVATE_FOLDER / self._state
        self._fd = -1
        self._reserving = True  # until the file is found to live in memory (_filesystems)

    async def read_state(self) -> bytes | None:
        """The saved state record, if any."""
        return await read_private_file(self.final.parent, self._state)

    async def save_state(self, data: bytes, *, flush: bool = False) -> None:
        """Save the resume record; with ``flush``, first push the bytes written so far to
        the disk, so the ``fsync`` before the final rename has little left to wait for."""
        if flush and self._fd >= 0:
            await in_pool(os.fdatasync, self._fd, disk_bound=True)
        await write_private_file(self.final.parent, self._state, data, durable=False)

    async def open(self, size: int, *, fresh: bool) -> None:
        """Open the partial file, creating and preallocating it when ``fresh`` or missing."""
        try:
            self._fd = await in_pool(self._open, size, fresh)
        except DiskFullError:
            await self.discard()
            raise

    def _open(self, size: int, fresh: bool) -> int:
        flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC
        with _folder_fd(self.final.parent, private=True) as private:
            fd = os.open(self._name, flags, 0o644, dir_fd=private)
        try:
            with _space_checked(self.final.parent):
                if fresh or os.fstat(fd).st_size != size:
                    _size_file(fd, size)
            self._reserving = not keeps_files_in_memory(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    async def write_at(self, chunks: list[bytes], offset: int) -> None:
        """Write ``chunks`` consecutively from ``offset``."""
        await in_pool(_pwrite_all, self._fd, chunks, offset)

    def write_chunks_blocking(self, chunks: list[bytes], offset: int) -> None:
        """``write_at`` for a caller already on a worker thread."""
        _pwrite_all(self._fd, chunks, offset)

    async def reserve(self, offset: int, length: int) -> None:
        """Allocate a range before its bytes are fetched: a full disk fails here, clearly.
        Not where files live in memory: nothing to lay out there, only a pass to pay."""
        if not self._reserving:
            return
        with _space_checked(self.final.parent):
            await in_pool(_reserve, self._fd, offset, length)

    @property
    def descriptor(self) -> int:
        """The open partial file, for a worker thread that splices bytes into it."""
        return self._fd

    def write_failure(self, error: OSError) -> LocalFileError:
        """The error to raise for a failed write into the partial file."""
        if error.errno in _NO_SPACE:
            return _no_space(self.final.parent)
        return LocalFileError(
            f"Cannot write '{self.final.name}' in '{self.final.parent}': {error.strerror or error}."
        )

    def reserve_blocking(self, offset: int, length: int) -> None:
        """``reserve`` for a caller on a worker thread; every failure is a ``GaamaError``
        (a full disk ``DiskFullError``), never an ``OSError`` a network caller would take
        for a failure to connect."""
        if not self._reserving:
            return
        try:
            with _space_checked(self.final.parent):
                _reserve(self._fd, offset, length)
        except OSError as exc:
            raise LocalFileError(
                f"Cannot allocate room for '{self.final.name}' in '{self.final.parent}': "
                f"{exc.strerror or exc}."
            ) from exc

    def write_blocking(self, data: memoryview, offset: int) -> None:
        """Write ``data`` at ``offset``, blocking: for a worker thread that received the bytes
        itself (``_wire``), so they never pass through the event loop."""
        while data:
            count = os.pwrite(self._fd, data, offset)
            data, offset = data[count:], offset + count

    def feed_range(
        self, offset: int, length: int, feed: Callable[[memoryview], object], buffer: bytearray
    ) -> int:
        """Blocking: pass bytes ``[offset, offset + length)`` of the file to ``feed``, read
        into ``buffer`` a piece at a time; returns ``length``, or 0 if the file ends first.
        The hasher asks only for the written prefix, so the bytes are in the page cache.

        A buffer of 1 MiB stays in the CPU's cache while it is hashed: 1 GiB from /dev/shm
        hashed in 0.75-0.81 s this way, against 0.92-1.01 s through 4 MiB read-only mappings
        (3 alternating rounds; an earlier session's VM measured mappings ahead, 0.73 against
        0.84 s, so the gap belongs to the machine). A whole 1 GiB download to /dev/shm:
        1.63 s through mappings, 1.49 s this way (medians of 6 alternating runs)."""
        view = memoryview(buffer)
        done = 0
        while done < length:
            count = os.preadv(self._fd, [view[: min(len(view), length - done)]], offset + done)
            if count <= 0:
                return 0
            feed(view[:count])
            done += count
        return length

    async def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            await in_pool(os.close, fd)

    async def commit(self, *, durable: bool = True) -> Path:
        """Move the verified file into place (durably unless told otherwise) and forget the
        state record."""
        if self._fd < 0:  # closed by the caller already: reopen to fsync it
            self._fd = await in_pool(self._reopen)
        fd, self._fd = self._fd, -1
        await in_pool(self._commit, fd, durable, disk_bound=durable)
        return self.final

    def _reopen(self) -> int:
        with _folder_fd(self.final.parent, private=True) as private:
            return os.open(self._name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=private)

    def _commit(self, fd: int, durable: bool) -> None:
        with _folder_fd(self.final.parent, private=True) as private:
            _move_into_place(fd, private, self._name, self.final, durable=durable)
            _unlink_quietly(self._state, private)
            _unlink_staged(private, self._state)
        for old in (
            f".{self.final.name}{PARTIAL_SUFFIX}",
            f".{self.final.name}{PARTIAL_SUFFIX}.json",
        ):
            _unlink_quietly(self.final.parent / old)  # the old layout's leftovers

    async def discard(self) -> None:
        """Remove the partial file and its record (a changed or corrupt asset)."""
        with anyio.CancelScope(shield=True):
            await self.close()
            await in_pool(self._remove)

    def _remove(self) -> None:
        with _folder_fd(self.final.parent, private=True) as private:
            for name in (self._name, self._state):
                _unlink_quietly(name, private)
            _unlink_staged(private, self._state)


def _unlink_staged(private: int, name: str) -> None:
    """Remove what a run killed while replacing ``name`` left staged (``_write_in``). Only
    the holder of the file's lock calls this, so no live writer's staging is among them."""
    prefix = f".{name}."
    for entry in os.listdir(private):
        if entry.startswith(prefix) and entry.endswith(".tmp"):
            _unlink_quietly(entry, private)


# -- locks ----------------------------------------------------------------------------------


class FileLock:
    """An exclusive ``flock`` on a file in the private folder, held across processes.

    The lock file is removed on release, so none pile up. That is safe because a taker checks,
    once it holds the lock, that the path still names the inode it locked (it may have been
    unlinked by the holder before): if not, it tries again.

    Taking and releasing run on the event loop thread, not in the pool: a few metadata calls
    in the private folder, none of which waits (``LOCK_NB``), about 50 µs on a local disk.
    Through the pool each was a hop that queued ~30 ms behind the others with many small
    files; inline, 500 files of 64 KiB downloaded in 0.69 s instead of 1.24 s (medians of 5
    alternating runs). On a network file system each call is a round trip that the loop
    waits for: the price of this choice there.
    """

    def __init__(self, folder: Path, name: str, watch: Path | None = None) -> None:
        self.folder = folder
        self.name = name
        self.watch = watch
        # What is at ``watch`` (its lstat) once the lock is taken, and just before it is
        # released, read with the lock's own calls: a download checks its file then and
        # notes it after, without trips to the pool of its own.
        self.found: os.stat_result | None = None
        self.left: os.stat_result | None = None
        self._fd = -1

    async def __aenter__(self) -> FileLock:
        delay = 0.002
        while (fd := self._try()) < 0:
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.05)
        self._fd = fd
        return self

    def _try(self) -> int:
        with _folder_fd(self.folder, private=True) as private:
            fd = os.open(self.name, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600,
                         dir_fd=private)  # fmt: skip
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                now = os.stat(self.name, dir_fd=private, follow_symlinks=False)
                if now.st_ino == os.fstat(fd).st_ino:
                    self.found = self._look()
                    return fd
            except (BlockingIOError, FileNotFoundError):
                pass
            os.close(fd)
            return -1

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        fd, self._fd = self._fd, -1
        self._release(fd)

    def _look(self) -> os.stat_result | None:
        if self.watch is None:
            return None
        try:
            return _lstat_or_none(self.watch)
        except OSError:
            return None

    def _release(self, fd: int) -> None:
        try:
            self.left = self._look()
            with _folder_fd(self.folder, private=True) as private:
                _unlink_quietly(self.name, private)
        finally:
            os.close(fd)


def file_lock(final: Path) -> FileLock:
    """A lock for ``final`` so that processes downloading into one folder fetch each file
    once and never write the same partial file at the same time. Nothing is created until
    the lock is taken, and nothing stays behind after it is released. The lock tells what
    is at ``final`` when taken (``found``) and when released (``left``)."""
    return FileLock(final.parent, f"{_key(final.name)}.lock", watch=final)


def folder_lock(folder: Path, what: str) -> FileLock:
    """A lock for gaama's own entry ``what`` in ``folder``'s private folder (no ``f-``)."""
    return FileLock(folder, f"{what}.lock")


# -- copies, clones and links ---------------------------------------------------------------


def _clone_or_copy(source: int, target: int) -> None:
    """Copy-on-write clone where the filesystem can (btrfs, XFS), else an in-kernel copy,
    else a plain one: never a shared inode."""
    try:
        fcntl.ioctl(target, _FICLONE, source)
        return
    except OSError:
        pass
    size = os.fstat(source).st_size
    try:
        if not hasattr(os, "copy_file_range"):  # Linux only
            raise OSError(errno.ENOSYS, "no copy_file_range")
        copied = 0
        while copied < size:
            count = os.copy_file_range(source, target, size - copied, copied, copied)
            if count == 0:
                break
            copied += count
        if copied == size:
            return
    except OSError:
        pass
    os.lseek(source, 0, os.SEEK_SET)
    os.lseek(target, 0, os.SEEK_SET)
    os.ftruncate(target, 0)
    with open(source, "rb", closefd=False) as src, open(target, "wb", closefd=False) as dst:
        shutil.copyfileobj(src, dst, CHUNK_SIZE)


def _open_source(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def _copy_file(source: Path, final: Path, link: bool, durable: bool) -> None:
    """``source`` to ``final`` through the private folder: a clone or copy, or with ``link`` a
    hard link made read-only (an edit then fails instead of changing every linked copy)."""
    with _space_checked(final.parent), _folder_fd(final.parent, private=True) as private:
        staged = _link_staged(source, private, _key(final.name)) if link else None
        if staged is not None:
            fd = os.open(staged, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=private)
        else:
            link = False
            fd, staged = _create_staged(private, _key(final.name))
        try:
            if not link:
                _copy_from(source, fd)
        except BaseException:
            os.close(fd)
            _unlink_quietly(staged, private)
            raise
        try:
            _move_into_place(fd, private, staged, final, durable=durable)  # closes fd
        except BaseException:
            _unlink_quietly(staged, private)
            raise


def _copy_from(source: Path, target: int) -> None:
    src = _open_source(source)
    try:
        _clone_or_copy(src, target)
    finally:
        os.close(src)


def _link_staged(source: Path, private: int, key: str) -> str | None:
    """Hard-link ``source`` (made read-only) into the private folder; None when the two are
    on different filesystems (then a copy it is)."""
    os.chmod(source, 0o444, follow_symlinks=False)
    staged = f"{key}.{secrets.token_hex(4)}.tmp"
    try:
        os.link(source, staged, dst_dir_fd=private, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return None
        raise
    return staged


def _copy_to(source: Path, entry: Path, link: bool, durable: bool) -> None:
    """``source`` into a folder gaama owns (the cache) at ``entry``, atomically."""
    if not link:
        _commit_staged(_stage_copy(source, _staging_for(entry), durable), entry, durable)
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_for(entry)
    try:
        os.chmod(source, 0o444, follow_symlinks=False)
        os.link(source, staging, follow_symlinks=False)
        os.replace(staging, entry)
        if durable:
            _fsync_folder(entry.parent)
    finally:
        _unlink_quietly(staging)


def _staging_for(entry: Path) -> Path:
    return entry.with_name(f".{entry.name}.{secrets.token_hex(4)}.tmp")


def _stage_copy(source: Path, staging: Path, durable: bool) -> Path:
    """A read-only copy (or clone) of ``source`` at ``staging``, beside its entry."""
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(staging, _NEW_FILE, 0o444)
        try:
            _copy_from(source, fd)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(staging)
        raise
    return staging


def _commit_staged(staging: Path, entry: Path, durable: bool) -> os.stat_result | None:
    """Move a staged copy to ``entry``; its ``lstat``."""
    try:
        os.replace(staging, entry)
        if durable:
            _fsync_folder(entry.parent)
    finally:
        _unlink_quietly(staging)
    return _lstat_or_none(entry)


async def copy_into_if_hashes(
    source: Path, entry: Path, sha256: str, *, durable: bool = True
) -> os.stat_result | None:
    """``copy_into`` (a copy, never a link) of a file not yet hashed whole, kept only when
    ``source`` hashes to ``sha256`` (else ``IntegrityError``, and nothing is left behind).

    The hash is taken while the copy is made, on a second thread: a 1 GiB file entered the
    cache in tmpfs in 0.80 s instead of 1.49 s hashed first and copied after."""
    digest: list[str] = []

    async def hash_source() -> None:
        digest.append(await sha256_of(source))

    staging = _staging_for(entry)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(hash_source)
            await in_pool(_stage_copy, source, staging, durable, disk_bound=True)
        if digest != [sha256]:
            raise IntegrityError(f"'{source.name}' does not hash to {sha256}")
        return await in_pool(_commit_staged, staging, entry, durable, disk_bound=durable)
    finally:  # gone already once committed; a cancelled copy's thread has finished
        with anyio.CancelScope(shield=True):
            await in_pool(_unlink_quietly, staging)


async def copy_file(
    source: Path,
    final: Path,
    *,
    link: bool = False,
    durable: bool = True,
    then: tuple[Path, bytes] | None = None,
) -> None:
    """Place a copy of ``source`` (a clone where the filesystem allows) at ``final``; with
    ``link``, a hard link, and both names become read-only. ``then``: a file in a folder
    gaama owns to replace (not durably) once the copy is in place, in the same trip (the
    cache's note of when an entry was last used)."""
    await in_pool(_copy_file_then, source, final, link, durable, then, disk_bound=durable)


def _copy_file_then(
    source: Path, final: Path, link: bool, durable: bool, then: tuple[Path, bytes] | None
) -> None:
    _copy_file(source, final, link, durable)
    if then is not None:
        _write_atomically(*then, durable=False)


async def read_and_look(path: Path, other: Path) -> tuple[bytes | None, os.stat_result | None]:
    """``read_bytes_if_any(path)`` and ``stat_or_none(other)`` in one trip (a cache
    entry's sidecar and the entry)."""
    return await in_pool(lambda: (_read_nofollow(path), _lstat_or_none(other)))


async def copy_into(
    source: Path, entry: Path, *, link: bool = False, durable: bool = True
) -> os.stat_result | None:
    """Copy ``source`` to ``entry`` in a folder gaama owns (the cache); see ``copy_file``.
    Returns the entry's ``lstat``, taken in the same trip to the pool."""
    return await in_pool(_copy_and_look, source, entry, link, durable, disk_bound=durable)


def _copy_and_look(source: Path, entry: Path, link: bool, durable: bool) -> os.stat_result | None:
    _copy_to(source, entry, link, durable)
    return _lstat_or_none(entry)


def _files_under(root: Path, suffix: str) -> list[tuple[Path, os.stat_result]]:
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(suffix):
                path = Path(folder, name)
                if (info := _lstat_or_none(path)) is not None:
                    found.append((path, info))
    return found


async def files_under(root: Path, suffix: str) -> list[tuple[Path, os.stat_result]]:
    """Every file below ``root`` whose name ends with ``suffix``, with its ``lstat``."""
    return await in_pool(_files_under, root, suffix)


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        _unlink_quietly(path)


async def remove_files(paths: list[Path]) -> None:
    """Unlink ``paths`` (a missing one is fine; a link is removed, never its target)."""
    await in_pool(_remove_all, paths)


# -- the old layout -------------------------------------------------------------------------


def _remove_old_layout(folder: Path) -> None:
    _unlink_quietly(folder / OLD_RECORD)
    with contextlib.suppress(OSError):  # missing, a link, or not only ours: left alone
        fd = os.open(folder / LOCKS_FOLDER, _DIR_FLAGS)
        try:
            for name in os.listdir(fd):
                if name.endswith(".lock"):
                    _unlink_quietly(name, fd)
        finally:
            os.close(fd)
        os.rmdir(folder / LOCKS_FOLDER)  # fails, harmlessly, if anything else is in there


def _remove_stale(folder: Path, now: float) -> None:
    """Delete temporary files and scratch folders that a killed run left in the private
    folder, once they are a day old (a younger one may belong to a run still going)."""
    with _folder_fd(folder, private=True) as private:
        for name in os.listdir(private):
            if not (name.endswith(".tmp") or name.startswith("x-")):
                continue
            found = os.stat(name, dir_fd=private, follow_symlinks=False)
            if now - found.st_mtime < STALE_AFTER:
                continue
            if stat.S_ISDIR(found.st_mode):
                _remove_scratch(private, name)
            else:
                _unlink_quietly(name, private)


def _remove_scratch(private: int, name: str) -> None:
    fd = os.open(name, _DIR_FLAGS, dir_fd=private)
    try:
        for entry in os.listdir(fd):
            _unlink_quietly(entry, fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=private)


def _tidy(folder: Path) -> None:
    _remove_old_layout(folder)
    _remove_stale(folder, time.time())


async def tidy_folder(folder: Path) -> None:
    """Delete what versions before the private folder left in ``folder`` (see the module
    docstring; their partial files go as each file is committed), and what killed runs left
    in the private folder more than a day ago."""
    await in_pool(_tidy, folder)


# -- archives -------------------------------------------------------------------------------


class Staging:
    """A scratch folder inside a destination's private folder (blocking; for extraction):
    files are written here in full, then moved to their final paths without following any
    link already in the destination."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with _folder_fd(folder, private=True) as private:
            self.name = f"x-{secrets.token_hex(6)}"
            os.mkdir(self.name, 0o700, dir_fd=private)
            self._fd = os.open(self.name, _DIR_FLAGS, dir_fd=private)

    @contextlib.contextmanager
    def create(self, name: str) -> Iterator[IO[bytes]]:
        """A new file in the scratch folder, open for writing; a full disk is DiskFullError."""
        with _space_checked(self.folder):
            fd = os.open(name, _NEW_FILE, 0o644, dir_fd=self._fd)
            with os.fdopen(fd, "wb") as handle:
                yield handle

    def check_route(self, parts: tuple[str, ...], *, is_dir: bool) -> str | None:
        """Why a member at ``parts`` cannot be placed safely (a link or a file on its way, a
        folder where the file goes), or None; looks, creates nothing."""
        path = self.folder
        for index, part in enumerate(parts):
            path = path / part
            found = _lstat_or_none(path)
            last = index == len(parts) - 1
            if found is None:
                return None
            if stat.S_ISLNK(found.st_mode) and not (last and not is_dir):
                return f"'{path}', which is a link"
            if not last and not stat.S_ISDIR(found.st_mode):
                return f"'{path}', which is not a folder"
            if last and stat.S_ISDIR(found.st_mode) != is_dir:
                return f"'{path}', which is {'not ' if is_dir else ''}a folder"
        return None

    def place(self, staged: str | None, parts: tuple[str, ...], *, durable: bool) -> None:
        """Move ``staged`` to ``parts`` below the folder (or just make the folder when
        ``staged`` is None), opening every folder on the way with ``O_NOFOLLOW``."""
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            route = parts if staged is None else parts[:-1]
            for part in route:
                child = _descend(fd, part)
                os.close(fd)
                fd = child
            if staged is not None:
                os.replace(staged, parts[-1], src_dir_fd=self._fd, dst_dir_fd=fd)
                if durable:
                    os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self) -> None:
        """Delete the scratch folder and whatever is left in it."""
        for name in os.listdir(self._fd):
            _unlink_quietly(name, self._fd)
        os.close(self._fd)
        with _folder_fd(self.folder, private=True) as private:
            os.rmdir(self.name, dir_fd=private)


def _descend(parent: int, part: str) -> int:
    """Open (making it if missing) folder ``part`` of ``parent``, never through a link."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o755, dir_fd=parent)
        return os.open(part, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise DownloadError(f"'{part}' in the destination is a link or a file.") from exc
        raise


def fsync_fd_of(handle: IO[bytes]) -> None:
    """Flush and fsync an open file (blocking)."""
    handle.flush()
    os.fsync(handle.fileno())


# -- verifying a folder ----------------------------------------------------------------------


def _hash_pieces(path: Path, bounds: list[tuple[int, int]]) -> tuple[str, list[str]]:
    """One sequential read of ``path`` in chunks: the whole file's sha256 and each piece's
    (``bounds`` are ``(offset, size)`` covering the file in order); constant memory."""
    whole = hashlib.sha256()
    digests = []
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags), "rb", buffering=0) as handle:
        for _, size in bounds or [(0, -1)]:
            piece = hashlib.sha256()
            remaining = size
            while remaining != 0:
                chunk = handle.read(
                    4 * CHUNK_SIZE if remaining < 0 else min(remaining, 4 * CHUNK_SIZE)
                )
                if not chunk:
                    break
                whole.update(chunk)
                piece.update(chunk)
                remaining = remaining - len(chunk) if remaining > 0 else remaining
            digests.append(piece.hexdigest())
    return whole.hexdigest(), digests


async def hash_pieces(path: Path, bounds: list[tuple[int, int]]) -> tuple[str, list[str]]:
    """The sha256 of ``path`` and of each ``(offset, size)`` piece, hashed on the pool."""
    return await in_pool(_hash_pieces, path, bounds)


async def folder_entries(folder: Path) -> list[str]:
    """The names of everything directly in ``folder`` (empty when it does not exist)."""

    def names() -> list[str]:
        try:
            return sorted(os.listdir(folder))
        except FileNotFoundError:
            return []

    return await in_pool(names)
