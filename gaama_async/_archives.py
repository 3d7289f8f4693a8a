"""Safe extraction of zip archives from a release: members are untrusted.

A hostile or broken archive may name files outside the target folder (``../x``, ``/etc/x``,
``C:\\x``, backslash paths), carry symlinks, be a decompression bomb, understate a member's
size, or aim at gaama's private folder or a file the download just verified; the destination
may already hold a link that a member's path would cross. Everything is checked, and every
member decompressed in full, before the first member reaches its final path.
"""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ._filenames import PRIVATE_FOLDER
from ._files import Staging, fsync_fd_of
from .errors import DownloadError

#: Names of files just verified, to their sha256 (None: never overwritten).
Protected = Mapping[str, str | None]
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How much an archive may expand to, in total, per member ratio, and in member count."""

    max_total_size: int = 64 * 1024**3
    max_ratio: int = 200
    max_members: int = 100_000


class UnsafeArchiveError(DownloadError):
    """The archive would write outside the folder, hold a link, or expand without bound."""


def member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, None for a directory; raise if it would escape."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchiveError(f"archive member {name!r} is a symbolic link")
    bad = (
        not name
        or "\x00" in name
        or "\\" in name
        or name.startswith("/")
        or (len(name) >= 2 and name[1] == ":")
    )
    parts = PurePosixPath(name).parts
    if bad or any(part in ("..", "") for part in parts):
        raise UnsafeArchiveError(f"archive member {name!r} would land outside the folder")
    return None if info.is_dir() else PurePosixPath(*parts)


def check_members(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    """Refuse the whole archive before writing anything if any member is unsafe."""
    if len(infos) > limits.max_members:
        raise UnsafeArchiveError(f"archive holds {len(infos)} members, over the limit")
    total = 0
    for info in infos:
        member_path(info)
        total += info.file_size
        big = info.file_size > COPY_CHUNK
        if big and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise UnsafeArchiveError(f"archive member {info.filename!r} expands too much")
    if total > limits.max_total_size:
        raise UnsafeArchiveError(f"archive would expand to {total:,} bytes, over the limit")


def check_placement(infos: list[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Each member with its path parts; refuse one that would land in gaama's private
    folder; pure."""
    placed = []
    for info in infos:
        relative = member_path(info)
        parts = relative.parts if relative else PurePosixPath(info.filename).parts
        if parts and parts[0].casefold() == PRIVATE_FOLDER:
            raise UnsafeArchiveError(f"archive member {info.filename!r} is in gaama's folder")
        placed.append((info, parts))
    return placed


def keeps_protected(
    info: zipfile.ZipInfo, parts: tuple[str, ...], sha256: str | None, protected: Protected
) -> bool:
    """Whether a member lands on a file the download just verified: True (skip it) when its
    bytes are the same, as in gaama 0.7.2's bundle of the release's own files; a refusal
    when they differ; False for any other member. Pure."""
    guarded = {name.casefold(): digest for name, digest in protected.items()}
    key = "/".join(parts).casefold()
    if info.is_dir() or key not in guarded:
        return False
    if sha256 is not None and guarded[key] == sha256:
        return True
    raise UnsafeArchiveError(
        f"archive member {info.filename!r} would overwrite a file just downloaded"
    )


def extract_zip(
    archive: Path,
    folder: Path,
    limits: ArchiveLimits,
    *,
    protected: Protected | None = None,
    durable: bool = True,
) -> list[Path]:
    """Extract ``archive`` into ``folder``; blocking, so run it with ``_files.in_pool``.

    Three passes, so a refusal leaves the folder as it was: check every member's name and
    declared size; decompress every member into a scratch folder inside the private folder,
    counting real bytes (headers can lie) and checking CRCs; check that no member's way
    crosses a link or a file already in ``folder``. Only then are members moved into place,
    each folder on the way opened with ``O_NOFOLLOW`` (a link planted meanwhile is refused,
    never followed) and a link at a member's own path replaced, never written through.
    ``protected`` maps the names of files just verified to their sha256: a member that
    would land on one is skipped when identical, refused otherwise; the archive itself is
    always protected.
    """
    try:
        with zipfile.ZipFile(archive) as zipped:
            infos = zipped.infolist()
            check_members(infos, limits)
            placed = check_placement(infos)
            guarded: Protected = {**(protected or {}), archive.name: None}
            staging = Staging(folder)
            try:
                staged, digests = _stage_all(zipped, placed, staging, limits)
                kept = [
                    keeps_protected(info, parts, digest, guarded)
                    for (info, parts), digest in zip(placed, digests, strict=True)
                ]
                placed = [p for p, skip in zip(placed, kept, strict=True) if not skip]
                staged = [s for s, skip in zip(staged, kept, strict=True) if not skip]
                _check_routes(placed, staging)
                _place_all(placed, staged, staging, durable)
            finally:
                staging.remove()
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"'{archive.name}' is not a valid zip archive: {exc}.") from exc
    return [folder.joinpath(*parts) for info, parts in placed if not info.is_dir()]


def _check_routes(placed: list[tuple[zipfile.ZipInfo, tuple[str, ...]]], staging: Staging) -> None:
    for info, parts in placed:
        problem = staging.check_route(parts, is_dir=info.is_dir())
        if problem is not None:
            raise UnsafeArchiveError(f"archive member {info.filename!r} crosses {problem}: refused")


def _place_all(
    placed: list[tuple[zipfile.ZipInfo, tuple[str, ...]]],
    staged: list[str | None],
    staging: Staging,
    durable: bool,
) -> None:
    for (info, parts), name in zip(placed, staged, strict=True):
        try:
            staging.place(name, parts, durable=durable)
        except DownloadError as exc:  # a link planted since the check: refused, not followed
            raise UnsafeArchiveError(f"archive member {info.filename!r}: {exc}") from exc


def _stage_all(
    zipped: zipfile.ZipFile,
    placed: list[tuple[zipfile.ZipInfo, tuple[str, ...]]],
    staging: Staging,
    limits: ArchiveLimits,
) -> tuple[list[str | None], list[str | None]]:
    """Decompress every file member into ``staging``; the scratch names and sha256s (None
    for folders)."""
    budget = limits.max_total_size
    names: list[str | None] = []
    digests: list[str | None] = []
    for index, (info, _) in enumerate(placed):
        if info.is_dir():
            names.append(None)
            digests.append(None)
            continue
        name, hasher = f"{index}", hashlib.sha256()
        with staging.create(name) as sink:
            budget -= _copy_member(zipped, info, sink, budget, hasher)
        names.append(name)
        digests.append(hasher.hexdigest())
    return names, digests


def _copy_member(
    zipped: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    sink: IO[bytes],
    budget: int,
    hasher: hashlib._Hash,
) -> int:
    written = 0
    with zipped.open(info) as source:
        while chunk := source.read(COPY_CHUNK):
            written += len(chunk)
            if written > info.file_size or written > budget:
                raise UnsafeArchiveError(
                    f"archive member {info.filename!r} expands past its declared size"
                )
            sink.write(chunk)
            hasher.update(chunk)
    fsync_fd_of(sink)
    return written
