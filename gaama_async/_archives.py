"""Safe extraction of zip archives from a release: members are untrusted.

A hostile or broken archive may name files outside the target folder (``../x``, ``/etc/x``,
``C:\\x``, backslash paths), carry symlinks, or be a decompression bomb. Members are checked
before anything is written, bytes are counted while they are written (headers can lie), and
each file appears at its final name only once complete.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import DownloadError

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


def extract_zip(archive: Path, folder: Path, limits: ArchiveLimits) -> list[Path]:
    """Extract ``archive`` into ``folder``; blocking, so run it in a worker thread."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            infos = zipped.infolist()
            check_members(infos, limits)
            written = 0
            extracted = []
            for info in infos:
                relative = member_path(info)
                target = folder.joinpath(*relative.parts) if relative else None
                if target is None:
                    continue
                written += _extract_member(zipped, info, target, limits.max_total_size - written)
                extracted.append(target)
            return extracted
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"'{archive.name}' is not a valid zip archive: {exc}.") from exc


def _extract_member(
    zipped: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int
) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}.gaama-partial")
    written = 0
    try:
        with zipped.open(info) as source, open(staging, "wb") as sink:
            while chunk := source.read(COPY_CHUNK):
                written += len(chunk)
                if written > info.file_size or written > budget:
                    raise UnsafeArchiveError(
                        f"archive member {info.filename!r} expands past its declared size"
                    )
                sink.write(chunk)
        os.replace(staging, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
    return written
