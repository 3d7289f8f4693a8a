"""The release manifest: every published file's name, stored asset name, size and sha256.

It lets a release be verified without GitHub's optional ``digest``, carries empty files (which
GitHub refuses as assets), and maps stored names back to the original file names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ._blocks import BlockDigests, BlockError

MANIFEST_NAME = "gaama-manifest.json"
MANIFEST_FORMAT = 1
# 1000 assets of nearly 2 GiB carry 256 block digests each: about 18 MB of manifest.
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """The manifest asset is not a manifest this version understands."""


@dataclass(frozen=True, slots=True)
class ManifestPart:
    """One asset holding bytes ``[offset, offset + size)`` of a file split past 2 GiB."""

    asset: str
    offset: int
    size: int
    sha256: str
    blocks: BlockDigests | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "asset": self.asset,
            "offset": self.offset,
            "size": self.size,
            "sha256": self.sha256,
        }
        return _with_blocks(data, self.blocks)

    @classmethod
    def from_json(cls, data: Any) -> ManifestPart:
        if not isinstance(data, dict):
            raise ManifestError("manifest part is not an object")
        asset, offset, size, sha = (data.get(k) for k in ("asset", "offset", "size", "sha256"))
        if not (
            isinstance(asset, str)
            and isinstance(offset, int)
            and isinstance(size, int)
            and offset >= 0
            and size > 0
            and isinstance(sha, str)
            and _SHA256.match(sha)
        ):
            raise ManifestError(f"malformed manifest part {data!r:.200}")
        return cls(asset, offset, size, sha, _blocks_of(data, size, asset))


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One published file: in one asset, in ``parts`` (split), or in none (empty file)."""

    name: str
    asset: str | None
    size: int
    sha256: str
    parts: tuple[ManifestPart, ...] = ()
    #: The block digests of the file's one asset (a split file has them per part).
    blocks: BlockDigests | None = None

    @property
    def asset_names(self) -> tuple[str, ...]:
        """Every asset holding this file's bytes, in file order."""
        if self.parts:
            return tuple(p.asset for p in self.parts)
        return (self.asset,) if self.asset else ()

    def to_json(self) -> dict[str, Any]:
        """The entry as stored in the manifest (``parts`` only for split files)."""
        data: dict[str, Any] = {
            "name": self.name, "asset": self.asset, "size": self.size, "sha256": self.sha256,
        }  # fmt: skip
        if self.parts:
            data["parts"] = [p.to_json() for p in self.parts]
        return _with_blocks(data, self.blocks)

    @property
    def piece_blocks(self) -> tuple[BlockDigests | None, ...]:
        """The block digests of each asset holding this file, in file order."""
        return tuple(p.blocks for p in self.parts) or (self.blocks,)

    @classmethod
    def from_json(cls, data: Any) -> ManifestEntry:
        """Parse and check an entry: a manifest is untrusted input."""
        if not isinstance(data, dict):
            raise ManifestError("manifest entry is not an object")
        name, asset, size, sha = (data.get(k) for k in ("name", "asset", "size", "sha256"))
        valid = (
            isinstance(name, str)
            and (asset is None or isinstance(asset, str))
            and isinstance(size, int)
            and size >= 0
            and isinstance(sha, str)
            and _SHA256.match(sha)
        )
        if not valid:
            raise ManifestError(f"malformed manifest entry {data!r:.200}")
        assert isinstance(size, int)
        parts = tuple(ManifestPart.from_json(p) for p in data.get("parts") or ())
        offset = 0
        for part in parts:
            if part.offset != offset:
                raise ManifestError(f"parts of {name!r} do not cover the file in order")
            offset += part.size
        if parts and offset != size:
            raise ManifestError(f"parts of {name!r} do not add up to its size")
        blocks = None if parts else _blocks_of(data, size, str(name))
        return cls(str(name), asset, size, str(sha), parts, blocks)


def _with_blocks(data: dict[str, Any], blocks: BlockDigests | None) -> dict[str, Any]:
    if blocks is not None:
        data["blocks"] = blocks.to_json()
    return data


def _blocks_of(data: dict[str, Any], size: int, name: str) -> BlockDigests | None:
    """The optional ``blocks`` of an entry or part (added after format 1 first shipped:
    readers that predate them ignore the key)."""
    raw = data.get("blocks")
    if raw is None:
        return None
    try:
        return BlockDigests.from_json(raw, size)
    except BlockError as exc:
        raise ManifestError(f"blocks of {name!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Manifest:
    """All files of a release, keyed by original file name."""

    files: tuple[ManifestEntry, ...] = ()

    def by_asset(self) -> dict[str, ManifestEntry]:
        """Each asset name to the file it belongs to (split files appear once per part)."""
        return {name: e for e in self.files for name in e.asset_names}

    def by_name(self) -> dict[str, ManifestEntry]:
        """Each file name to its entry."""
        return {e.name: e for e in self.files}

    def merged(self, updates: list[ManifestEntry]) -> Manifest:
        """This manifest with ``updates`` replacing entries of the same file name."""
        entries = self.by_name()
        entries.update({e.name: e for e in updates})
        return Manifest(tuple(sorted(entries.values(), key=lambda e: e.name)))

    def to_bytes(self) -> bytes:
        """The manifest asset's content (JSON, UTF-8)."""
        document = {
            "format": MANIFEST_FORMAT,
            "tool": "gaama_async",
            "files": [e.to_json() for e in self.files],
        }
        return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        """Parse a manifest asset; raise ``ManifestError`` for anything malformed."""
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ManifestError("manifest is not valid JSON") from exc
        if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
            raise ManifestError("manifest has an unknown format")
        files = document.get("files")
        if not isinstance(files, list):
            raise ManifestError("manifest has no file list")
        entries = tuple(ManifestEntry.from_json(f) for f in files)
        _refuse_duplicates(entries)
        return cls(entries)


def _refuse_duplicates(entries: tuple[ManifestEntry, ...]) -> None:
    """Two entries for one file, or one asset claimed twice, leave no single truth to
    download: which bytes belong at that path would be a guess."""
    seen: set[str] = set()
    for name in (e.name for e in entries):
        if name in seen:
            raise ManifestError(f"manifest lists {name!r} twice")
        seen.add(name)
    claimed: set[str] = set()
    for asset in (a for e in entries for a in e.asset_names):
        if asset in claimed:
            raise ManifestError(f"manifest gives asset {asset!r} to two files")
        claimed.add(asset)
