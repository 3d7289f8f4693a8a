"""A content-addressed cache of downloaded files, shared across tags and repositories.

A file whose sha256 is already cached is linked (or copied) into place instead of being
downloaded. Entries are hard links to files downloaded earlier, so caching costs no extra
disk while the downloaded copy exists; a sidecar notes each entry's size and mtime, so an
entry whose linked copy was edited in place is dropped rather than trusted. The cache also
remembers which files each release holds, so ``GAAMA_OFFLINE=1`` can serve from it alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._files import in_pool

OFF = ("off", "0", "false", "no", "none")


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


@dataclass(frozen=True, slots=True)
class CachedFile:
    """One file of a release as the cache remembers it."""

    name: str
    size: int
    sha256: str


def _link_or_copy(source: Path, final: Path, *, allow_copy: bool) -> bool:
    staging = final.with_name(f".{final.name}.{secrets.token_hex(4)}.gaama-partial")
    try:
        try:
            os.link(source, staging)
        except OSError:
            if not allow_copy:
                return False
            shutil.copyfile(source, staging)
        os.replace(staging, final)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()


def _sidecar(entry: Path) -> Path:
    return entry.with_name(entry.name + ".json")


def _usable(entry: Path, size: int) -> bool:
    try:
        stat = entry.stat()
        noted = json.loads(_sidecar(entry).read_text())
    except (OSError, ValueError):
        return False
    return bool(
        stat.st_size == size == noted.get("size") and stat.st_mtime_ns == noted.get("mtime_ns")
    )


def _place(entry: Path, size: int, final: Path) -> bool:
    if not _usable(entry, size):
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    return _link_or_copy(entry, final, allow_copy=True)


def _add(entry: Path, final: Path) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    if not _link_or_copy(final, entry, allow_copy=False):
        return  # another device: caching would double the disk used, so skip it
    stat = entry.stat()
    note = json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    staging = _sidecar(entry).with_suffix(f".{secrets.token_hex(4)}.tmp")
    staging.write_text(note)
    os.replace(staging, _sidecar(entry))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    staging.write_text(json.dumps(data))
    os.replace(staging, path)


class ContentCache:
    """Files by sha256 under ``root/sha256/``; release contents under ``root/releases/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    async def place(self, sha256: str, size: int, final: Path) -> bool:
        """Put the cached file with this digest at ``final``; False when it is not cached."""
        try:
            return bool(await in_pool(_place, self.entry(sha256), size, final))
        except OSError:
            return False

    async def add(self, final: Path, sha256: str) -> None:
        """Remember a verified file (a cache that cannot be written is not an error)."""
        with contextlib.suppress(OSError):
            await in_pool(_add, self.entry(sha256), final)

    def _release_path(self, api_url: str, repo: str, tag: str | None) -> Path:
        key = hashlib.sha256(f"{api_url}|{repo}|{tag or '@latest'}".encode()).hexdigest()
        return self.root / "releases" / f"{key}.json"

    async def remember_release(
        self, api_url: str, repo: str, tag: str | None, files: list[CachedFile]
    ) -> None:
        data = [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in files]
        with contextlib.suppress(OSError):
            await in_pool(_write_json, self._release_path(api_url, repo, tag), data)

    async def release(self, api_url: str, repo: str, tag: str | None) -> list[CachedFile] | None:
        """What the release held at the last online download, or None if never seen."""
        try:
            raw = await in_pool(self._release_path(api_url, repo, tag).read_text)
            return [
                CachedFile(str(f["name"]), int(f["size"]), str(f["sha256"]))
                for f in json.loads(raw)
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return None
