"""The only module that touches the disk: chunked reads and writes, hashing, atomic moves.

File I/O runs on the event loop's default executor, the pool aiofiles uses, so there is one
thread pool for all of it. Hashing runs there too: hashlib releases the GIL on large buffers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiofiles
import anyio
import filelock

CHUNK_SIZE = 1024 * 1024
PARTIAL_SUFFIX = ".gaama-partial"
LOCKS_FOLDER = ".gaama-locks"


class UnsafeNameError(ValueError):
    """A name from the server that would not land as a plain file inside the target folder."""


def safe_filename(name: str) -> str:
    """Return ``name`` if it is a plain file name, else raise ``UnsafeNameError``.

    Asset names and manifest entries are untrusted: a hostile mirror could send ``../x``,
    an absolute path, a backslash path (Windows), a NUL, or a control character.
    """
    bad = (
        not name
        or name in (".", "..")
        or any(sep in name for sep in ("/", "\\", "\x00"))
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or (len(name) >= 2 and name[1] == ":")
    )
    if bad:
        raise UnsafeNameError(f"refusing unsafe file name {name!r}")
    return name


async def _in_pool(func: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


class ReadHandle:
    """A file being read in chunks; each chunk is read and hashed in one trip to the pool."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    async def seek(self, offset: int) -> None:
        await _in_pool(self._raw.seek, offset)

    async def read(self, size: int, hasher: Any = None) -> bytes:
        return bytes(await _in_pool(_read_and_feed, self._raw, size, hasher))

    async def close(self) -> None:
        await _in_pool(self._raw.close)


def _read_and_feed(raw: Any, size: int, hasher: Any) -> bytes:
    data: bytes = raw.read(size)
    if hasher is not None:
        hasher.update(data)
    return data


async def open_for_reading(path: Path) -> ReadHandle:
    """An open file to read with ``read_from``; the caller closes it."""
    with anyio.CancelScope(shield=True):  # a cancelled open must not leak the handle
        raw = await _in_pool(open, path, "rb", 0)
    return ReadHandle(raw)


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
    handle = await open_for_reading(path)
    try:
        await handle.seek(offset)
        remaining = length if length is not None else (await file_size(path)) - offset
        async for _ in read_from(handle, remaining, hasher=hasher, chunk_size=4 * CHUNK_SIZE):
            pass
    finally:
        with anyio.CancelScope(shield=True):
            await handle.close()
    return hasher.hexdigest()


class PartialFile:
    """A download in progress: a hidden temporary file beside its final path.

    The final path only ever receives a complete, verified file (``commit`` is an atomic
    rename); anything else is removed by ``discard``.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        token = secrets.token_hex(4)
        self.path = final.with_name(f".{final.name}.{token}{PARTIAL_SUFFIX}")
        self.hasher = hashlib.sha256()
        self.size = 0
        self._handle: Any = None

    async def open(self) -> None:
        with anyio.CancelScope(shield=True):  # a cancelled open must not leak the handle
            self._handle = await aiofiles.open(self.path, "wb")

    async def write(self, data: bytes) -> None:
        """Append ``data`` and hash it."""
        await self._handle.write(data)
        await _in_pool(self.hasher.update, data)
        self.size += len(data)

    async def close(self) -> None:
        if self._handle is not None:
            await self._handle.close()
            self._handle = None

    async def commit(self) -> Path:
        """Move the finished file into place atomically."""
        await self.close()
        await _in_pool(os.replace, self.path, self.final)
        return self.final

    async def discard(self) -> None:
        """Remove the temporary file (even while being cancelled); never the final path."""
        with anyio.CancelScope(shield=True):
            await self.close()
            with contextlib.suppress(FileNotFoundError):
                await _in_pool(os.unlink, self.path)


async def write_empty(final: Path) -> Path:
    """Create an empty file atomically (GitHub cannot store empty assets)."""
    partial = PartialFile(final)
    await partial.open()
    return await partial.commit()


async def file_size(path: Path) -> int:
    stat = await _in_pool(os.stat, path)
    return int(stat.st_size)


def _preallocate(fd: int, size: int) -> None:
    """Reserve ``size`` bytes, so a full disk fails now rather than mid-download."""
    os.ftruncate(fd, size)
    if size and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
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


def _pread_into(fd: int, offset: int, length: int, feed: Callable[[bytes], None]) -> int:
    data = os.pread(fd, length, offset)
    feed(data)
    return len(data)


def _write_atomically(path: Path, data: bytes) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_bytes(data)
    os.replace(staging, path)


class ResumableFile:
    """A large download in progress: a preallocated hidden file written at offsets, and a
    small state record beside it so the next run continues where this one stopped."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final.with_name(f".{final.name}{PARTIAL_SUFFIX}")
        self.state_path = final.with_name(f".{final.name}{PARTIAL_SUFFIX}.json")
        self._fd = -1

    async def read_state(self) -> bytes | None:
        """The saved state record, if a partial file of the same size is still there."""
        try:
            return bytes(await _in_pool(self.state_path.read_bytes))
        except FileNotFoundError:
            return None

    async def save_state(self, data: bytes) -> None:
        await _in_pool(_write_atomically, self.state_path, data)

    async def open(self, size: int, *, fresh: bool) -> None:
        """Open the partial file, creating and preallocating it when ``fresh`` or missing."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        with anyio.CancelScope(shield=True):  # a cancelled open must not leak the descriptor
            self._fd = await _in_pool(os.open, self.path, flags, 0o644)
        current = (await _in_pool(os.fstat, self._fd)).st_size
        if fresh or current != size:
            await _in_pool(_preallocate, self._fd, size)

    async def write_at(self, chunks: list[bytes], offset: int) -> None:
        """Write ``chunks`` consecutively from ``offset``."""
        await _in_pool(_pwrite_all, self._fd, chunks, offset)

    async def feed_range(self, offset: int, length: int, feed: Callable[[bytes], None]) -> int:
        """Read ``length`` bytes at ``offset`` and pass them to ``feed`` (in the pool)."""
        return int(await _in_pool(_pread_into, self._fd, offset, length, feed))

    async def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with anyio.CancelScope(shield=True):
                await _in_pool(os.close, fd)

    async def commit(self) -> Path:
        """Move the verified file into place and forget the state record."""
        await self.close()
        await _in_pool(os.replace, self.path, self.final)
        with contextlib.suppress(FileNotFoundError):
            await _in_pool(os.unlink, self.state_path)
        return self.final

    async def discard(self) -> None:
        """Remove the partial file and its record (a changed or corrupt asset)."""
        await self.close()
        with anyio.CancelScope(shield=True):
            for path in (self.path, self.state_path):
                with contextlib.suppress(FileNotFoundError):
                    await _in_pool(os.unlink, path)


async def read_bytes_if_any(path: Path) -> bytes | None:
    """A small file's bytes, or None when it does not exist."""
    try:
        return bytes(await _in_pool(path.read_bytes))
    except FileNotFoundError:
        return None


async def write_bytes_atomically(path: Path, data: bytes) -> None:
    await _in_pool(_write_atomically, path, data)


def _stat_all(paths: list[Path]) -> list[os.stat_result | None]:
    found: list[os.stat_result | None] = []
    for path in paths:
        try:
            found.append(os.stat(path))
        except FileNotFoundError:
            found.append(None)
    return found


async def stat_many(paths: list[Path]) -> list[os.stat_result | None]:
    """Stat many files in one trip to the thread pool (None for a missing one)."""
    return list(await _in_pool(_stat_all, paths))


async def stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return await _in_pool(os.stat, path)  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def file_lock(final: Path) -> filelock.AsyncFileLock:
    """A lock beside ``final`` so that processes downloading into one folder fetch each
    file once and never write the same partial file at the same time."""
    locks = final.parent / LOCKS_FOLDER
    locks.mkdir(exist_ok=True)
    return filelock.AsyncFileLock(locks / f"{final.name}.lock")


def _write_new_file(final: Path, data: bytes) -> Path:
    staging = final.with_name(f".{final.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    try:
        staging.write_bytes(data)
        os.replace(staging, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        raise
    return final


async def write_file_atomically(final: Path, data: bytes) -> Path:
    """Write a small file under a temporary name and move it into place, in one pool call."""
    with anyio.CancelScope(shield=True):  # never leave the temporary file behind
        written = await _in_pool(_write_new_file, final, data)
    return Path(written)


async def in_pool(func: Callable[..., Any], *args: Any) -> Any:
    """Run blocking file work (e.g. archive extraction) on the one file I/O pool."""
    return await _in_pool(func, *args)
