"""A content-addressed cache of downloaded files, shared across tags and repositories.

A file whose sha256 is already cached is placed from the cache instead of being downloaded.
Placing never makes two paths share writable bytes: the file is a copy-on-write clone where
the filesystem can (btrfs, XFS: no extra disk), else a copy. Only with ``link=True`` (or
``GAAMA_CACHE_LINK=1``) are entries hard-linked, and then the entry and every placed name are
made read-only (0o444), so an edit fails instead of changing every download folder at once.

A sidecar notes each entry's size and mtime (an entry changed anyway is dropped, not trusted)
and when it was last used; past ``max_bytes`` the least recently used entries are evicted at
the end of each download (``settle``), and on the way once a tenth of ``max_bytes`` was added:
one pass over the cache per download, not one per file. The cache also remembers which files
each release holds, so ``GAAMA_OFFLINE=1`` can serve from it alone. All disk work goes
through ``_files``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from ._concurrency import run_all
from ._files import (
    copy_file,
    copy_into,
    copy_into_if_hashes,
    files_under,
    make_folder,
    read_and_look,
    read_bytes_if_any,
    read_many_if_any,
    remove_files,
    sha256_of,
    stat_or_none,
    write_bytes_atomically,
)
from .errors import DownloadError, IntegrityError

log = logging.getLogger("gaama_async")
OFF = ("off", "0", "false", "no", "none")
ON = ("on", "1", "true", "yes")
DEFAULT_MAX_BYTES = 50 * 1024**3
SIDECAR = ".json"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Entries re-hashed at once by ``verify`` (each reads in chunks on the worker threads).
VERIFY_WORKERS = 4


def default_cache_dir() -> Path | None:
    """``$GAAMA_CACHE_DIR`` (``off`` disables it), else the platform's user cache folder."""
    configured = os.environ.get("GAAMA_CACHE_DIR")
    if configured is not None:
        return (
            None
            if configured.strip().lower() in OFF or not configured.strip()
            else Path(configured)
        )
    import platformdirs

    return Path(platformdirs.user_cache_dir("gaama-async"))


def parse_size(text: str) -> int:
    """``20G``, ``512M``, ``1.5T``, ``20GiB``, ``20GB`` or plain bytes, as bytes (binary units)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not found:
        raise ValueError(f"not a size: {text!r} (try 20G or 500M)")
    return int(float(found[1]) * _UNITS[found[2]])


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` or plain seconds, as seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not found:
        raise ValueError(f"not an age: {text!r} (try 30d, 12h or 90m)")
    return float(found[1]) * _SECONDS[found[2] or "s"]


def _flag(value: str | None) -> bool | None:
    if value is None or not value.strip():
        return None
    return value.strip().lower() in ON


def cache_from_settings(
    cache_dir: str | os.PathLike[str] | bool | None = None,
    *,
    link: bool | None = None,
    max_bytes: int | None = None,
) -> ContentCache | None:
    """The cache a client should use: arguments win, then ``GAAMA_CACHE_DIR``,
    ``GAAMA_CACHE_LINK`` and ``GAAMA_CACHE_MAX_SIZE``, then the defaults (copies, 50 GiB).

    ``cache_dir=False`` (or ``""``) turns the cache off; None means the default folder.
    """
    if cache_dir is False or cache_dir == "":
        return None
    root = default_cache_dir() if cache_dir is None or cache_dir is True else Path(cache_dir)
    if root is None:
        return None
    if link is None:
        link = bool(_flag(os.environ.get("GAAMA_CACHE_LINK")))
    if max_bytes is None:
        configured = os.environ.get("GAAMA_CACHE_MAX_SIZE", "").strip()
        max_bytes = parse_size(configured) if configured else DEFAULT_MAX_BYTES
    return ContentCache(root, link=link, max_bytes=max_bytes)


@dataclass(frozen=True, slots=True)
class CachedFile:
    """One file of a release as the cache remembers it."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Note:
    """An entry's sidecar: what the entry was when added, and when it was last used."""

    size: int
    mtime_ns: int
    used_ns: int

    def to_bytes(self) -> bytes:
        return json.dumps(
            {"size": self.size, "mtime_ns": self.mtime_ns, "used_ns": self.used_ns}
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Note | None:
        try:
            data = json.loads(raw or b"")
            return cls(int(data["size"]), int(data["mtime_ns"]), int(data.get("used_ns", 0)))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def vouches_for(self, found: os.stat_result | None, size: int) -> bool:
        """Whether the entry (its ``lstat``) is still what was added, of the expected size."""
        return (
            found is not None
            and stat.S_ISREG(found.st_mode)
            and found.st_size == size == self.size
            and found.st_mtime_ns == self.mtime_ns
        )


def evictions(entries: list[tuple[Path, int, int]], max_bytes: int) -> list[Path]:
    """Which entries to drop, least recently used first, to fit ``max_bytes``; pure.

    ``entries`` are ``(entry, size, used_ns)``.
    """
    total = sum(size for _, size, _ in entries)
    dropped = []
    for entry, size, _ in sorted(entries, key=lambda e: e[2]):
        if total <= max_bytes:
            break
        dropped.append(entry)
        total -= size
    return dropped


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached file: its digest, where it is, its size, when it was last placed (ns since
    the epoch; 0 if never noted) and the file names releases gave it."""

    sha256: str
    path: Path
    size: int
    used_ns: int
    names: tuple[str, ...] = ()


def stale_entries(
    entries: Sequence[CacheEntry], *, max_bytes: int | None, older_than: float | None, now: float
) -> list[CacheEntry]:
    """What ``prune`` removes (pure): entries unused for ``older_than`` seconds, then the
    least recently used until the rest fits ``max_bytes``."""
    cutoff = None if older_than is None else int((now - older_than) * 1e9)
    gone = [e for e in entries if cutoff is not None and e.used_ns < cutoff]
    kept = [e for e in entries if e not in gone]
    if max_bytes is not None:
        over = evictions([(e.path, e.size, e.used_ns) for e in kept], max_bytes)
        gone += [e for e in kept if e.path in set(over)]
    return gone


class ContentCache:
    """Files by sha256 under ``root/sha256/``; release contents under ``root/releases/``."""

    def __init__(
        self, root: Path, *, link: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.root = root
        self.link = link
        self.max_bytes = max_bytes
        self._added = 0  # bytes added since the last eviction pass

    def entry(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    @staticmethod
    def _sidecar(entry: Path) -> Path:
        return entry.with_name(entry.name + SIDECAR)

    async def place(self, sha256: str, size: int, final: Path) -> bool:
        """Put the cached file with this digest at ``final``; False when it is not cached."""
        entry = self.entry(sha256)
        sidecar = self._sidecar(entry)
        try:  # two trips to the pool: look, then place and note the use
            raw, found = await read_and_look(sidecar, entry)
            note = Note.from_bytes(raw)
            if note is None or not note.vouches_for(found, size):
                return False
            used = Note(note.size, note.mtime_ns, time.time_ns())
            await copy_file(entry, final, link=self.link, then=(sidecar, used.to_bytes()))
        except OSError:
            return False
        return True

    async def add(self, final: Path, sha256: str, *, hashed: bool = True) -> None:
        """Remember a verified file (a cache that cannot be written is not an error).

        ``hashed=False``: the file was verified by its blocks, not by ``sha256``; it is hashed
        here first, since an entry must hold what its name says for every release that
        names that digest (a manifest whose blocks and sha256 disagree must not plant other
        bytes under the digest of someone else's file).

        Eviction waits for ``settle``, or until a tenth of ``max_bytes`` was added since the
        last pass: a pass lists the whole cache, and one per file made a cold download of
        500 small files take 35 s instead of 1."""
        entry = self.entry(sha256)
        with contextlib.suppress(OSError):
            try:
                found = await self._enter(final, entry, sha256, hashed=hashed)
            except IntegrityError:
                log.warning("'%s' does not hash to its manifest's sha256: not cached", final.name)
                return
            if found is not None:
                # The entry is durable before its sidecar vouches for it; the sidecar need
                # not be: one lost in a crash only makes the entry untrusted (re-downloaded).
                note = Note(found.st_size, found.st_mtime_ns, time.time_ns())
                await write_bytes_atomically(self._sidecar(entry), note.to_bytes(), durable=False)
                self._added += found.st_size
            if self._added > self.max_bytes // 10:
                await self.evict()

    async def _enter(
        self, final: Path, entry: Path, sha256: str, *, hashed: bool
    ) -> os.stat_result | None:
        """Copy (or link) ``final`` to ``entry``; a file not yet hashed whole is hashed here,
        while it is copied (a link makes it read-only: the hash comes first)."""
        if hashed:
            return await copy_into(final, entry, link=self.link)
        if not self.link:
            return await copy_into_if_hashes(final, entry, sha256)
        if await sha256_of(final) != sha256:
            raise IntegrityError(f"'{final.name}' does not hash to {sha256}")
        return await copy_into(final, entry, link=True)

    async def settle(self) -> None:
        """Evict past ``max_bytes`` if anything was added since the last pass."""
        if self._added:
            with contextlib.suppress(OSError):
                await self.evict()

    async def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first, with the names releases gave it."""
        names = await self._names_by_digest()
        found = []
        for sidecar, _ in await files_under(self.root / "sha256", SIDECAR):
            entry = sidecar.with_name(sidecar.name.removesuffix(SIDECAR))
            note = Note.from_bytes(await read_bytes_if_any(sidecar))
            info = await stat_or_none(entry)
            size = info.st_size if info is not None else 0
            used = note.used_ns if note else 0
            found.append(CacheEntry(entry.name, entry, size, used, names.get(entry.name, ())))
        return sorted(found, key=lambda e: (e.used_ns, e.sha256))

    async def _names_by_digest(self) -> dict[str, tuple[str, ...]]:
        names: dict[str, set[str]] = {}
        for path, _ in await files_under(self.root / "releases", ".json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                for file in json.loads(await read_bytes_if_any(path) or b""):
                    names.setdefault(str(file["sha256"]), set()).add(str(file["name"]))
        return {digest: tuple(sorted(found)) for digest, found in names.items()}

    async def verify(self, *, workers: int = VERIFY_WORKERS) -> list[CacheEntry]:
        """Re-hash every entry (``workers`` at a time) and remove those whose bytes are not
        their name's sha256, or that changed since they were added; return the removed."""
        limiter = anyio.CapacityLimiter(workers)
        entries = await self.entries()
        good = await run_all([functools.partial(self._sound, e) for e in entries], limiter)
        corrupt = [e for e, ok in zip(entries, good, strict=True) if not ok]
        await self.remove(corrupt)
        return corrupt

    async def _sound(self, entry: CacheEntry) -> bool:
        note = Note.from_bytes(await read_bytes_if_any(self._sidecar(entry.path)))
        if note is None or not note.vouches_for(await stat_or_none(entry.path), entry.size):
            return False
        try:
            return await sha256_of(entry.path) == entry.sha256
        except OSError:
            return False

    async def remove(self, entries: Sequence[CacheEntry]) -> None:
        """Drop ``entries`` and their sidecars."""
        await remove_files([p for e in entries for p in (self._sidecar(e.path), e.path)])

    async def evict(self) -> None:
        """Drop least recently used entries until the cache fits ``max_bytes``.

        One listing with sizes decides whether anything must go; the sidecars (when each
        entry was last used) are read only then. Staging files of another process's add are
        never entries (not named by a digest), so they are never evicted."""
        self._added = 0
        listed = await files_under(self.root / "sha256", "")
        sizes = {p: info.st_size for p, info in listed if _DIGEST.fullmatch(p.name)}
        if sum(sizes.values()) <= self.max_bytes:
            return
        notes = await read_many_if_any([self._sidecar(entry) for entry in sizes])
        entries = []
        for (entry, size), raw in zip(sizes.items(), notes, strict=True):
            note = Note.from_bytes(raw)
            entries.append((entry, size, note.used_ns if note else 0))
        dropped = evictions(entries, self.max_bytes)
        await remove_files([p for e in dropped for p in (self._sidecar(e), e)])

    def _release_path(self, api_url: str, repo: str, tag: str | None) -> Path:
        key = hashlib.sha256(f"{api_url}|{repo}|{tag or '@latest'}".encode()).hexdigest()
        return self.root / "releases" / f"{key}.json"

    async def remember_release(
        self, api_url: str, repo: str, tag: str | None, files: list[CachedFile]
    ) -> None:
        data = [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in files]
        path = self._release_path(api_url, repo, tag)
        with contextlib.suppress(OSError, DownloadError):
            await make_folder(path.parent)
            await write_bytes_atomically(path, json.dumps(data).encode(), durable=False)

    async def release(self, api_url: str, repo: str, tag: str | None) -> list[CachedFile] | None:
        """What the release held at the last online download, or None if never seen."""
        try:
            raw = await read_bytes_if_any(self._release_path(api_url, repo, tag))
            return [
                CachedFile(str(f["name"]), int(f["size"]), str(f["sha256"]))
                for f in json.loads(raw or b"")
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return None
