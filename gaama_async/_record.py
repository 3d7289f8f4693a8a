"""What a destination folder already holds, verified: the record behind warm restarts.

A service restarting with its models already downloaded should transfer nothing and hash
nothing. After each verified download we note the file's size, mtime and sha256 and the
assets it came from; a later download trusts a file whose stat and assets still match.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._files import (
    file_lock,
    read_bytes_if_any,
    sha256_of,
    stat_or_none,
    write_bytes_atomically,
)
from .models import Asset

RECORD_NAME = ".gaama-downloads.json"
RECORD_FORMAT = 1


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

    def matches(self, size: int, mtime_ns: int, assets: tuple[Asset, ...]) -> bool:
        return (self.size, self.mtime_ns, self.assets) == (size, mtime_ns, asset_identity(assets))


Manifests = dict[str, dict[str, Any]]  # manifest asset id -> {"identity", "text"}
MAX_MANIFESTS = 8


def parse_record(raw: bytes | None) -> tuple[dict[str, FileRecord], Manifests]:
    """The records of a folder; empty for a missing or damaged record file."""
    try:
        data = json.loads(raw or b"")
        if data.get("format") != RECORD_FORMAT:
            return {}, {}
        files = {
            str(name): FileRecord(int(r["size"]), int(r["mtime_ns"]), r["sha256"], r["assets"])
            for name, r in data["files"].items()
        }
        manifests = data.get("manifests") or {}
        return files, manifests if isinstance(manifests, dict) else {}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}, {}


def render_record(records: dict[str, FileRecord], manifests: Manifests) -> bytes:
    files = {
        name: {"size": r.size, "mtime_ns": r.mtime_ns, "sha256": r.sha256, "assets": r.assets}
        for name, r in sorted(records.items())
    }
    kept = dict(list(manifests.items())[-MAX_MANIFESTS:])
    document = {"format": RECORD_FORMAT, "files": files, "manifests": kept}
    return json.dumps(document, indent=1, ensure_ascii=False).encode()


class FolderRecord:
    """The record file of one destination folder, loaded once per download call."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / RECORD_NAME
        self.files: dict[str, FileRecord] = {}
        self.manifests: Manifests = {}
        self._mine: dict[str, FileRecord] = {}
        self._my_manifests: Manifests = {}

    async def load(self) -> None:
        self.files, self.manifests = parse_record(await read_bytes_if_any(self.path))

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
        if not isinstance(stat, os.stat_result) or stat.st_size != size:
            return False
        known = self.files.get(path.name)
        if known is not None and known.matches(size, stat.st_mtime_ns, assets):
            return True
        if sha256 is None or await sha256_of(path) != sha256:
            return False
        await self.note(path, sha256, assets)
        return True

    async def note(self, path: Path, sha256: str | None, assets: tuple[Asset, ...]) -> None:
        """Remember a file just verified."""
        stat = await stat_or_none(path)
        if stat is not None:
            identity = asset_identity(assets)
            record = FileRecord(stat.st_size, stat.st_mtime_ns, sha256, identity)
            self.files[path.name] = self._mine[path.name] = record

    async def save(self) -> None:
        """Write the record, merged with what other processes wrote meanwhile."""
        if not (self._mine or self._my_manifests):
            return
        async with file_lock(self.path):
            await self.refresh()
            await write_bytes_atomically(self.path, render_record(self.files, self.manifests))
