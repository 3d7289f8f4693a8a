"""What ``verify`` expects of a folder, and how it judges what it found (pure).

The expected files come from a release's manifest (original names, sizes, sha256, the parts
of split files) or, for a release without one, from its assets' sizes and GitHub digests;
either way the same plan ``download`` follows (``_plan.plan_download``), so verify checks
exactly what a download would have written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._filenames import PRIVATE_FOLDER, UnsafeNameError, safe_filename
from .manifest import Manifest
from .models import DownloadTarget

#: A piece of a file: its offset, size and sha256 (None when nobody published one).
Piece = tuple[int, int, str | None]


@dataclass(frozen=True, slots=True)
class ExpectedFile:
    """One file the folder should hold; ``pieces`` has more than one entry for split files."""

    name: str
    size: int
    sha256: str | None
    pieces: tuple[Piece, ...] = ()


@dataclass(frozen=True, slots=True)
class FileMismatch:
    """A file present but not as published: why, and which parts of a split file differ."""

    name: str
    reason: str
    parts: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "parts": list(self.parts)}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The folder against the release: ``ok`` unless a file is missing or modified. Extra
    files are listed but do not fail the check (a folder may hold the user's own files)."""

    tag: str
    source: str  # "github", or "record" (offline: the folder record's copy of the manifest)
    verified: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    modified: tuple[FileMismatch, ...] = ()
    extra: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = field(default=())  # no sha256 published: size only

    @property
    def ok(self) -> bool:
        return not (self.missing or self.modified)

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "source": self.source,
            "ok": self.ok,
            "verified": list(self.verified),
            "missing": list(self.missing),
            "modified": [m.to_json() for m in self.modified],
            "extra": list(self.extra),
            "unchecked": list(self.unchecked),
        }


def expected_from_plan(
    targets: Iterable[DownloadTarget], empties: Iterable[str]
) -> list[ExpectedFile]:
    """The files a download of the release writes (``plan_download``'s targets)."""
    found = [ExpectedFile(name, 0, None) for name in empties]
    for target in targets:
        offsets = _offsets([p.size for p in target.pieces])
        pieces = tuple(
            (offset, piece.size, sha)
            for offset, piece, sha in zip(offsets, target.pieces, target.piece_sha256, strict=True)
        )
        found.append(ExpectedFile(target.path.name, target.size, target.sha256, pieces))
    return found


def expected_from_manifest(manifest: Manifest) -> tuple[list[ExpectedFile], list[str]]:
    """The files a manifest names, and the names refused as unsafe (offline verify)."""
    found, refused = [], []
    for entry in manifest.files:
        try:
            name = safe_filename(entry.name)
        except UnsafeNameError:
            refused.append(entry.name)
            continue
        pieces = tuple((p.offset, p.size, p.sha256) for p in entry.parts)
        if not pieces and entry.size:
            pieces = ((0, entry.size, entry.sha256),)
        found.append(ExpectedFile(name, entry.size, entry.sha256, pieces))
    return found, refused


def _offsets(sizes: Sequence[int]) -> list[int]:
    offsets, at = [], 0
    for size in sizes:
        offsets.append(at)
        at += size
    return offsets


def judge(
    expected: ExpectedFile, size: int, sha256: str, piece_sha256: Sequence[str]
) -> FileMismatch | None:
    """Whether a present file of ``size`` bytes with these digests is the one expected."""
    if size != expected.size:
        return FileMismatch(expected.name, f"has {size} bytes, expected {expected.size}")
    if expected.sha256 is None or sha256 == expected.sha256:
        return None
    parts = tuple(
        i + 1
        for i, ((_, _, want), got) in enumerate(zip(expected.pieces, piece_sha256, strict=True))
        if want is not None and want != got
    )
    shown = (
        f" (part {', '.join(map(str, parts))} of {len(expected.pieces)})"
        if len(expected.pieces) > 1 and parts
        else ""
    )
    return FileMismatch(
        expected.name, f"sha256 differs{shown}", parts if len(expected.pieces) > 1 else ()
    )


def extra_names(expected: Iterable[ExpectedFile], present: Iterable[str]) -> list[str]:
    """Entries of the folder no expected file accounts for (gaama's private folder aside)."""
    wanted = {e.name for e in expected} | {PRIVATE_FOLDER}
    return sorted(name for name in present if name not in wanted)
