"""Putting local files onto a release: splitting past the size limit, uploading the pieces
concurrently, skipping identical files, replacing changed ones, and writing the manifest."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._concurrency import run_all
from ._context import Context
from ._files import file_size, is_dir, is_file, open_for_reading, sha256_of
from ._names import (
    REPLACING_SUFFIX,
    is_leftover,
    name_problem,
    normalize_asset_name,
    printable_name,
)
from .errors import AssetConflictError, PublishError
from .manifest import MANIFEST_NAME, Manifest, ManifestEntry, ManifestPart
from .models import Asset, Release
from .upload import Sent, UploadSource, upload_asset

log = logging.getLogger("gaama_async")

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file to publish, checked to exist before anything is created on GitHub."""

    path: Path
    name: str
    size: int

    def pieces(self, max_asset_size: int) -> list[UploadSource]:
        """One upload, or ``NAME.part001``… of at most ``max_asset_size`` bytes each, so
        ``cat NAME.part* > NAME`` rebuilds the file without gaama_async."""
        if self.size <= max_asset_size:
            return [UploadSource(self.name, self.size, path=self.path)]
        count = -(-self.size // max_asset_size)
        width = max(3, len(str(count)))
        return [
            UploadSource(
                f"{self.name}.part{index + 1:0{width}d}",
                min(max_asset_size, self.size - offset),
                path=self.path,
                offset=offset,
                file=self.name,
            )
            for index, offset in enumerate(range(0, self.size, max_asset_size))
        ]


async def local_files(files: Iterable[str | os.PathLike[str]]) -> list[LocalFile]:
    """Check every file (exists, is a file, has a name GitHub can take, no two share a
    stored name) up front, so a refused publish creates nothing on GitHub."""
    found: list[LocalFile] = []
    seen: dict[str, str] = {}
    for item in files:
        path = Path(item)
        if not await is_file(path, follow_links=True):
            problem = (
                "is a directory" if await is_dir(path, follow_links=True) else "does not exist"
            )
            raise PublishError(f"Cannot publish '{printable_name(str(path))}': it {problem}.")
        if refusal := name_problem(path.name):
            shown = printable_name(path.name)
            raise PublishError(f"Cannot publish '{shown}': {refusal}; rename the file.")
        stored = normalize_asset_name(path.name)
        if stored in seen or stored == MANIFEST_NAME:
            clash = f"'{seen[stored]}' also becomes" if stored in seen else "gaama reserves"
            raise PublishError(
                f"'{path.name}' would be stored as '{stored}', which {clash}; rename one of them."
            )
        seen[stored] = path.name
        await (await open_for_reading(path)).close()  # unreadable: refused before any write
        found.append(LocalFile(path, path.name, await file_size(path)))
    if not found:
        raise PublishError("Nothing to publish: pass at least one file.")
    return found


class Publisher:
    """Uploads files to one release under the client's one limiter, and keeps its manifest."""

    def __init__(self, ctx: Context, release: Release) -> None:
        self.http = ctx.http
        self.release = release
        self.limiter = ctx.limiter
        self.max_asset_size = ctx.limits.max_asset_size
        self.progress = ctx.progress

    async def put_files(
        self, files: Sequence[LocalFile], replacing: dict[str, Asset] | None = None
    ) -> list[ManifestEntry]:
        """Upload every file's pieces concurrently; an asset in ``replacing`` (by stored
        name) is swapped for the new bytes rather than uploaded beside."""
        replacing = replacing or {}
        return await run_all([self._put_job(f, replacing) for f in files])

    def _put_job(self, file: LocalFile, replacing: dict[str, Asset]) -> Any:
        async def run() -> ManifestEntry:
            if file.size == 0:
                return ManifestEntry(file.name, None, 0, EMPTY_SHA256)
            pieces = file.pieces(self.max_asset_size)
            jobs = [self._piece_job(p, replacing) for p in pieces]
            if len(pieces) > 1:
                jobs.append(lambda: sha256_of(file.path))
            results = await run_all(jobs)
            if len(pieces) == 1:
                stored, sent = results[0]
                return ManifestEntry(file.name, stored, file.size, sent.sha256, blocks=sent.blocks)
            parts = tuple(
                ManifestPart(stored, piece.offset, piece.size, sent.sha256, sent.blocks)
                for piece, (stored, sent) in zip(pieces, results, strict=False)
            )
            return ManifestEntry(file.name, None, file.size, results[-1], parts)

        return run

    def _piece_job(self, piece: UploadSource, replacing: dict[str, Asset]) -> Any:
        async def run() -> tuple[str, Sent]:
            stored = normalize_asset_name(piece.name)
            async with self.limiter:
                old = replacing.get(stored)
                if old is not None:
                    return stored, await self.replace(piece, old)
                _, sent = await upload_asset(self.http, self.release, piece, progress=self.progress)
            return stored, sent

        return run

    async def replace(self, source: UploadSource, old: Asset) -> Sent:
        """Replace ``old``: upload under a temporary name, verify, delete old, rename.

        The name is missing only between the delete and the rename; returns what was sent.
        """
        temporary = f"{old.name}{REPLACING_SUFFIX}"
        new, sent = await upload_asset(
            self.http, self.release, source, stored_name=temporary, progress=self.progress
        )
        await self.http.json("DELETE", old.url, what=f"old asset '{old.name}'")
        await self.http.json(  # uploaded moments ago: GitHub may not show it yet (spec 9.3)
            "PATCH", new.url, what=f"renaming asset '{temporary}'", json={"name": old.name},
            after_write=True,
        )  # fmt: skip
        return sent

    async def write_manifest(self, manifest: Manifest, old: Asset | None) -> None:
        data = manifest.to_bytes()
        source = UploadSource(MANIFEST_NAME, len(data), data=data)
        if old is None:
            await upload_asset(self.http, self.release, source)
        else:
            await self.replace(source, old)

    async def delete(self, assets: Iterable[Asset]) -> None:
        for asset in assets:
            await self.http.json("DELETE", asset.url, what=f"asset '{asset.name}'")


@dataclass(slots=True)
class AdditionPlan:
    """What adding files to an existing release does: upload, replace, skip, clean up."""

    upload: list[LocalFile]
    replace: list[LocalFile]
    replacing: dict[str, Asset]
    obsolete: list[Asset]
    empty: list[ManifestEntry]


async def plan_additions(
    files: Sequence[LocalFile],
    assets: Sequence[Asset],
    manifest: Manifest,
    *,
    overwrite: bool,
    max_asset_size: int,
    tag: str,
) -> AdditionPlan:
    """Decide per file: skip (identical), upload (new), or replace (``overwrite``).

    Every conflict is found before anything is uploaded, so a refused publish changes nothing.
    """
    by_name = {a.name: a for a in assets if a.is_uploaded and not is_leftover(a)}
    entries = manifest.by_name()
    plan = AdditionPlan([], [], {}, [], [])
    for file in files:
        entry = entries.get(file.name)
        stored = [normalize_asset_name(p.name) for p in file.pieces(max_asset_size)]
        old_names = set(entry.asset_names if entry else ()) | {s for s in stored if s in by_name}
        if file.size == 0:
            if entry is None or entry.size != 0:
                plan.empty.append(ManifestEntry(file.name, None, 0, EMPTY_SHA256))
                plan.obsolete += [by_name[n] for n in old_names if n in by_name]
            continue
        if not old_names:
            plan.upload.append(file)
            continue
        if await _same_content(file, entry, by_name, stored):
            log.info("skipping '%s': identical file already on '%s'", file.name, tag)
            continue
        if not overwrite:
            raise AssetConflictError(
                f"Release '{tag}' already has a different '{stored[0]}' (for '{file.name}'): "
                "pass overwrite=True to replace it."
            )
        plan.replace.append(file)
        plan.replacing.update({s: by_name[s] for s in stored if s in by_name})
        plan.obsolete += [by_name[n] for n in old_names - set(stored) if n in by_name]
    return plan


async def _same_content(
    file: LocalFile, entry: ManifestEntry | None, by_name: dict[str, Asset], stored: list[str]
) -> bool:
    if entry is not None:
        present = all(n in by_name for n in entry.asset_names)
        if not present or entry.size != file.size:
            return False
        return entry.sha256 == await sha256_of(file.path)
    old = by_name.get(stored[0])
    if len(stored) != 1 or old is None or old.size != file.size or old.sha256 is None:
        return False
    return old.sha256 == await sha256_of(file.path)
