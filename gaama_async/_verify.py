"""``verify``: a folder against what was published, file by file (size, sha256, and the
parts of split files), hashed on the file pool in chunks (constant memory).

Online, the release is read as ``download`` reads it (aliases resolved, the manifest taken
from the folder record when unchanged); offline, the record's copy of the manifest is used
and nothing is asked of GitHub.
"""

from __future__ import annotations

import stat as stats
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from ._aliases import resolve_release
from ._concurrency import run_all
from ._context import Context
from ._files import folder_entries, hash_pieces, stat_or_none
from ._plan import plan_download
from ._record import FolderRecord
from ._releases import assets_to_download
from ._storage import read_manifest
from ._verifyplan import (
    ExpectedFile,
    FileMismatch,
    VerifyReport,
    expected_from_manifest,
    expected_from_plan,
    extra_names,
    judge,
)
from .errors import NotFoundError
from .manifest import Manifest, ManifestError

#: Files hashed at once: enough to keep a disk busy, few enough for two cores.
HASHERS = 4


async def verify_folder(
    ctx: Context, folder: Path, tag: str | None, *, offline: bool
) -> VerifyReport:
    """Compare ``folder`` with release ``tag`` (latest when None)."""
    record = FolderRecord(folder)
    await record.load()
    if offline:
        expected, shown = _expected_offline(ctx, record, tag)
        source = "record"
    else:
        release = await resolve_release(ctx, tag)
        assets = await assets_to_download(ctx, release)
        manifest = await read_manifest(ctx.http, assets, record)
        targets, empties, _ = plan_download(assets, manifest, folder)
        expected = expected_from_plan(targets, [p.name for p in empties])
        shown, source = release.tag, "github"
    outcomes = await run_all(
        [_checker(folder, e) for e in expected], anyio.CapacityLimiter(HASHERS)
    )
    return VerifyReport(
        tag=shown,
        source=source,
        verified=tuple(e.name for e, o in zip(expected, outcomes, strict=True) if o == "ok"),
        missing=tuple(e.name for e, o in zip(expected, outcomes, strict=True) if o == "missing"),
        modified=tuple(o for o in outcomes if isinstance(o, FileMismatch)),
        extra=tuple(extra_names(expected, await folder_entries(folder))),
        unchecked=tuple(e.name for e in expected if e.sha256 is None and e.size),
    )


def _expected_offline(
    ctx: Context, record: FolderRecord, tag: str | None
) -> tuple[list[ExpectedFile], str]:
    raw = record.manifest_for(ctx.repo.full_name, tag)
    what = f"release '{tag or 'latest'}' of {ctx.repo.full_name}"
    if raw is None:
        raise NotFoundError(
            f"Offline: the folder's record holds no manifest of {what}: verify online, "
            "or download the release into this folder first."
        )
    try:
        expected, _ = expected_from_manifest(Manifest.from_bytes(raw))
    except ManifestError as exc:
        raise NotFoundError(
            f"Offline: the folder's copy of the manifest is unreadable: {exc}."
        ) from exc
    return expected, tag or "latest"


def _checker(folder: Path, expected: ExpectedFile) -> Callable[[], Awaitable[str | FileMismatch]]:
    async def check() -> str | FileMismatch:
        path = folder / expected.name
        found = await stat_or_none(path)
        if found is None:
            return "missing"
        if not stats.S_ISREG(found.st_mode):
            return FileMismatch(expected.name, "is not a regular file (a link or a folder)")
        if found.st_size != expected.size:
            return FileMismatch(
                expected.name, f"has {found.st_size} bytes, expected {expected.size}"
            )
        if expected.sha256 is None:
            return "ok"
        whole, pieces = await hash_pieces(path, [(o, s) for o, s, _ in expected.pieces])
        mismatch = judge(expected, found.st_size, whole, pieces)
        return "ok" if mismatch is None else mismatch

    return check


__all__ = ["VerifyReport", "verify_folder"]
