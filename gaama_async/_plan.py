"""What a download fetches: the plan from a release's assets and manifest, and the
include/exclude selection. Pure functions: no network, no disk."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from ._blocks import BlockDigests
from ._filenames import UnsafeNameError, safe_filename
from ._names import is_leftover
from .manifest import MANIFEST_NAME, Manifest, ManifestEntry
from .models import Asset, DownloadTarget

Patterns = str | Sequence[str] | None


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


def selected_files(files: Sequence[N], include: Patterns, exclude: Patterns) -> list[N]:
    """The files (of the cache's record of a release, offline) that the patterns select."""
    return [f for f in files if selected((f.name,), include, exclude)]


def plan_download(
    assets: Sequence[Asset], manifest: Manifest | None, destination: Path
) -> tuple[list[DownloadTarget], list[Path], list[str]]:
    """What to fetch, which empty files to recreate, and which files were refused (unsafe
    names, or parts missing from the release)."""
    targets: list[DownloadTarget] = []
    empties: list[Path] = []
    refused: list[str] = []
    usable = {a.name: a for a in assets if a.is_uploaded}
    claimed = {MANIFEST_NAME}
    for entry in manifest.files if manifest else ():
        claimed.update(entry.asset_names)
        try:
            final = destination / safe_filename(entry.name)
        except UnsafeNameError:
            refused.append(f"{entry.name!r} (unsafe name)")
            continue
        if entry.size == 0 and not entry.asset_names:
            empties.append(final)
        elif all(n in usable for n in entry.asset_names):
            pieces = tuple(usable[n] for n in entry.asset_names)
            piece_sha = tuple(p.sha256 for p in entry.parts) or (entry.sha256,)
            if disagreement := _digest_disagreement(entry.name, pieces, piece_sha):
                refused.append(disagreement)
                continue
            blocks = _blocks_of_every_piece(entry)
            targets.append(
                DownloadTarget(final, entry.size, entry.sha256, pieces, piece_sha, blocks)
            )
        else:
            refused.append(f"{entry.name!r} (assets missing from the release)")
    for asset in assets:
        if asset.name in claimed or not asset.is_uploaded or is_leftover(asset):
            continue
        try:
            targets.append(
                DownloadTarget.whole(asset, destination / safe_filename(asset.name), asset.sha256)
            )
        except UnsafeNameError:
            refused.append(f"{asset.name!r} (unsafe name)")
    return targets, empties, refused


def _blocks_of_every_piece(entry: ManifestEntry) -> tuple[BlockDigests, ...]:
    """Each piece's block digests, or none at all: a file is checked by blocks throughout
    or by its one sha256."""
    blocks = entry.piece_blocks
    return () if None in blocks else tuple(b for b in blocks if b is not None)


def _digest_disagreement(
    name: str, pieces: tuple[Asset, ...], promised: tuple[str | None, ...]
) -> str | None:
    """Why a file cannot be trusted when the manifest and GitHub's own ``digest`` name
    different bytes for one asset (None when they agree, or GitHub has no digest).

    Either may be the liar, and no download can tell which: refuse the file, not guess.
    """
    for asset, want in zip(pieces, promised, strict=True):
        if want is not None and asset.sha256 is not None and asset.sha256 != want:
            return f"{name!r} (manifest and GitHub's digest of '{asset.name}' disagree)"
    return None


def patterns_of(value: Patterns) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def selected(names: tuple[str, ...], include: Patterns, exclude: Patterns) -> bool:
    """Whether any of ``names`` matches ``include`` (all when None) and none ``exclude``."""

    def matches(patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)

    wanted = patterns_of(include)
    return (not wanted or matches(wanted)) and not matches(patterns_of(exclude))
