"""What a destination folder already holds, verified: the record behind warm restarts.

A service restarting with its models already downloaded should transfer nothing and hash
nothing. After each verified download we note the file's size, mtime, inode, ctime and sha256
and the assets it came from; a later download trusts a file whose ``lstat`` and assets still
match, and re-hashes any other.

Why the record can be trusted: a file is noted only after its commit returned, and commits
``fsync`` the bytes before the rename and the folder after it; the record itself is written
the same way (a temporary file in the private folder, fsync, rename, fsync of the folder).
So after a power cut the record never describes a file whose bytes did not reach the disk.
A file replaced by anything else (another tool, an editor saving by rename, a restore from
backup keeping mtimes) has a new inode or ctime, which no tool can set back, so it is
re-hashed. A link planted at a final path is never a regular file to ``lstat``: never present.
The record lives in the private folder (``.gaama/record.json``, see ``_files``).
"""

from __future__ import annotations

import json
import os
import stat as stats
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._filenames import PRIVATE_FOLDER
from ._files import (
    folder_lock,
    read_private_file,
    sha256_of,
    stat_or_none,
    tidy_folder,
    write_private_file,
)
from .models import Asset

RECORD_NAME = "record.json"  # in the private folder
RECORD_FORMAT = 2  # 1 (no inode, no ctime) is ignored: its files are verified by hash once


def asset_identity(assets: tuple[Asset, ...]) -> list[list[Any]]:
    """Enough to tell that the remote bytes are still the ones recorded."""
    return [[a.id, a.size, a.updated_at, a.digest] for a in assets]


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One verified file in the folder."""

    size: int
    mtime_ns: int
    sha256: str | None
    assets: list[list[Any]]
    ino: int = 0
    ctime_ns: int = 0

    @classmethod
    def of(cls, found: os.stat_result, sha256: str | None, assets: tuple[Asset, ...]) -> FileRecord:
        identity = asset_identity(assets)
        return cls(
            found.st_size, found.st_mtime_ns, sha256, identity, found.st_ino, found.st_ctime_ns
        )

    def matches(self, size: int, mtime_ns: int, assets: tuple[Asset, ...]) -> bool:
        return (self.size, self.mtime_ns, self.assets) == (size, mtime_ns, asset_identity(assets))

    def describes(self, found: os.stat_result, assets: tuple[Asset, ...]) -> bool:
        """Whether ``found`` (an ``lstat``) is the very file noted, from the same assets."""
        same = (self.ino, self.ctime_ns) == (found.st_ino, found.st_ctime_ns)
        return same and self.matches(found.st_size, found.st_mtime_ns, assets)


Manifests = dict[str, dict[str, Any]]  # manifest asset id -> {"identity", "text"}
MAX_MANIFESTS = 8


def parse_record(raw: bytes | None) -> tuple[dict[str, FileRecord], Manifests]:
    """The records of a folder; empty for a missing or damaged record file."""
    try:
        data = json.loads(raw or b"")
        if data.get("format") != RECORD_FORMAT:
            return {}, {}
        files = {
            str(name): FileRecord(
                int(r["size"]),
                int(r["mtime_ns"]),
                r["sha256"],
                r["assets"],
                int(r["ino"]),
                int(r["ctime_ns"]),
            )
            for name, r in data["files"].items()
        }
        manifests = data.get("manifests") or {}
        return files, manifests if isinstance(manifests, dict) else {}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}, {}


def render_record(records: dict[str, FileRecord], manifests: Manifests) -> bytes:
    files = {
        name: {
            "size": r.size,
            "mtime_ns": r.mtime_ns,
            "ino": r.ino,
            "ctime_ns": r.ctime_ns,
            "sha256": r.sha256,
            "assets": r.assets,
        }
        for name, r in sorted(records.items())
    }
    kept = dict(list(manifests.items())[-MAX_MANIFESTS:])
    document = {"format": RECORD_FORMAT, "files": files, "manifests": kept}
    return json.dumps(document, indent=1, ensure_ascii=False).encode()


class FolderRecord:
    """The record file of one destination folder, loaded once per download call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / PRIVATE_FOLDER / RECORD_NAME
        self.files: dict[str, FileRecord] = {}
        self.manifests: Manifests = {}
        self._mine: dict[str, FileRecord] = {}
        self._my_manifests: Manifests = {}

    async def load(self) -> None:
        self.files, self.manifests = parse_record(await read_private_file(self.folder, RECORD_NAME))

    async def refresh(self) -> None:
        """Take in what other processes recorded since ``load`` (ours win on conflict)."""
        await self.load()
        self.files.update(self._mine)
        self.manifests.update(self._my_manifests)

    def cached_manifest(self, asset: Asset) -> bytes | None:
        """The manifest's text as last downloaded, if the asset is unchanged since."""
        cached = self.manifests.get(str(asset.id))
        if not isinstance(cached, dict) or cached.get("identity") != asset_identity((asset,)):
            return None
        text = cached.get("text")
        return text.encode() if isinstance(text, str) else None

    def remember_manifest(self, asset: Asset, raw: bytes) -> None:
        entry = {"identity": asset_identity((asset,)), "text": raw.decode()}
        self.manifests[str(asset.id)] = self._my_manifests[str(asset.id)] = entry

    def label_manifest(self, asset: Asset, repo: str, tags: list[str]) -> None:
        """Note which repository and tags (as asked, and as resolved) a remembered manifest
        belongs to, for ``verify --offline``; written only when that changed, so a warm
        restart still writes nothing."""
        entry = self.manifests.get(str(asset.id))
        label = {"repo": repo, "tags": sorted(set(tags))}
        if isinstance(entry, dict) and {k: entry.get(k) for k in label} != label:
            entry = {**entry, **label}
            self.manifests[str(asset.id)] = self._my_manifests[str(asset.id)] = entry

    def manifest_for(self, repo: str, tag: str | None) -> bytes | None:
        """The newest remembered manifest of ``repo`` for ``tag`` (any tag when None)."""
        for entry in reversed(list(self.manifests.values())):
            if not isinstance(entry, dict) or entry.get("repo") != repo:
                continue
            if tag is None or tag in (entry.get("tags") or ()):
                text = entry.get("text")
                return text.encode() if isinstance(text, str) else None
        return None

    async def is_present(
        self,
        path: Path,
        size: int,
        sha256: str | None,
        assets: tuple[Asset, ...],
        *,
        stat: os.stat_result | Literal["unknown"] | None = "unknown",
    ) -> bool:
        """Whether ``path`` already holds these bytes: by record (no hashing), else by hash.

        ``stat`` may be passed when the caller already has it (checking many files at once).
        """
        if stat == "unknown":
            stat = await stat_or_none(path)
        if not isinstance(stat, os.stat_result) or not stats.S_ISREG(stat.st_mode):
            return False  # missing, or a link (never followed), a folder, a device
        if stat.st_size != size:
            return False
        known = self.files.get(path.name)
        if known is not None and known.describes(stat, assets):
            return True
        if sha256 is None or await sha256_of(path) != sha256:
            return False
        await self.note(path, sha256, assets)
        return True

    async def note(self, path: Path, sha256: str | None, assets: tuple[Asset, ...]) -> None:
        """Remember a file just verified."""
        self.note_found(path, await stat_or_none(path), sha256, assets)

    def note_found(
        self,
        path: Path,
        found: os.stat_result | None,
        sha256: str | None,
        assets: tuple[Asset, ...],
    ) -> None:
        """``note`` with the file's ``lstat`` already taken (``found``)."""
        if found is not None and stats.S_ISREG(found.st_mode):
            record = FileRecord.of(found, sha256, assets)
            self.files[path.name] = self._mine[path.name] = record

    async def save(self, *, durable: bool = True) -> None:
        """Write the record, merged with what other processes wrote meanwhile, atomically and
        (by default) durably; then tidy the folder (``_files.tidy_folder``)."""
        if not (self._mine or self._my_manifests):
            return
        async with folder_lock(self.folder, "record"):
            await self.refresh()
            document = render_record(self.files, self.manifests)
            await write_private_file(self.folder, RECORD_NAME, document, durable=durable)
        await tidy_folder(self.folder)
