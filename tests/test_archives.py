"""Zip assets are untrusted: extraction refuses escapes, links and bombs, and writes nothing."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from helpers import listing

from gaama_async import DownloadError, GaAMA
from gaama_async._archives import ArchiveLimits, UnsafeArchiveError, extract_zip


def _zip(path: Path, members: dict[str, bytes], *, link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_a_plain_archive_extracts_into_the_folder(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "m.zip", {"weights/a.bin": b"a" * 10, "config.json": b"{}"})
    out = tmp_path / "out"
    out.mkdir()

    paths = extract_zip(archive, out, ArchiveLimits())

    assert sorted(p.relative_to(out).as_posix() for p in paths) == ["config.json", "weights/a.bin"]
    assert (out / "weights" / "a.bin").read_bytes() == b"a" * 10


@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt", "a\\..\\evil.txt"]
)
def test_members_that_escape_are_refused_before_anything_is_written(
    tmp_path: Path, name: str
) -> None:
    archive = _zip(tmp_path / "m.zip", {"fine.txt": b"ok", name: b"evil"})
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)

    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_zip(archive, out, ArchiveLimits())

    assert list(out.iterdir()) == []
    assert not (tmp_path / "deep" / "evil.txt").exists()


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "m.zip", {"fine.txt": b"ok"}, link="passwd")
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_zip(archive, tmp_path, ArchiveLimits())


def test_decompression_bombs_are_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(64 << 20)})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchiveError, match="expands"):
        extract_zip(archive, out, ArchiveLimits())
    with pytest.raises(UnsafeArchiveError, match="over the limit"):
        extract_zip(archive, out, ArchiveLimits(max_total_size=1 << 20, max_ratio=10**6))
    assert list(out.iterdir()) == []


def test_a_damaged_archive_is_a_download_error(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"PK not really")
    with pytest.raises(DownloadError, match="not a valid zip"):
        extract_zip(tmp_path / "x.zip", tmp_path, ArchiveLimits())


@pytest.mark.anyio
async def test_download_can_extract_zip_assets(client: GaAMA, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bundle.zip", {"model/w.bin": b"w" * 100, "notes.txt": b"n"})
    await client.publish("v1", [archive])
    out = tmp_path / "out"

    paths = await client.download("v1", out, extract_zips=True)

    assert sorted(p.relative_to(out).as_posix() for p in paths) == [
        "bundle.zip", "model/w.bin", "notes.txt",
    ]  # fmt: skip
    assert listing(out) == ["bundle.zip", "model", "notes.txt"]
    assert (out / "model" / "w.bin").read_bytes() == b"w" * 100
