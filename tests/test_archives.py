"""Zip assets are untrusted: extraction refuses escapes, links and bombs, and writes nothing."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
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


def _understate(archive: Path, member: str, size: int) -> None:
    """Make the central directory claim ``member`` holds ``size`` bytes (a lying header)."""
    data = bytearray(archive.read_bytes())
    at = data.index(b"PK\x01\x02")
    while True:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
            break
        extra, comment = struct.unpack_from("<HH", data, at + 30)
        at += 46 + name_length + extra + comment
    archive.write_bytes(bytes(data))


def test_a_member_that_understates_its_size_lands_nothing(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "m.zip", {"a.txt": b"first", "b.bin": b"b" * 50_000})
    _understate(archive, "b.bin", 1000)
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(DownloadError):
        extract_zip(archive, out, ArchiveLimits())

    assert listing(out) == []
    assert os.listdir(out / ".gaama") == []  # the scratch folder went too


def test_a_linked_folder_in_the_destination_is_not_followed(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "m.zip", {"first.txt": b"1", "model/w.bin": b"w" * 100})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "model").symlink_to(elsewhere)

    with pytest.raises(UnsafeArchiveError, match="which is a link"):
        extract_zip(archive, out, ArchiveLimits())

    assert os.listdir(elsewhere) == []
    assert listing(out) == ["model"]  # first.txt did not land either


def test_a_link_at_a_member_path_is_replaced_not_written_through(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "m.zip", {"config.json": b"{}"})
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").symlink_to(victim)

    extract_zip(archive, out, ArchiveLimits())

    assert victim.read_bytes() == b"precious"
    assert not (out / "config.json").is_symlink()
    assert (out / "config.json").read_bytes() == b"{}"


@pytest.mark.parametrize("member", [".gaama/record.json", ".GAAMA/x", "weights.bin", "m.zip"])
def test_members_aimed_at_gaama_or_at_verified_files_are_refused(
    tmp_path: Path, member: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    archive = _zip(out / "m.zip", {"fine.txt": b"ok", member: b"evil"})
    (out / ".gaama").mkdir(mode=0o700)
    (out / ".gaama" / "record.json").write_bytes(b"record")
    (out / "weights.bin").write_bytes(b"verified")

    with pytest.raises(UnsafeArchiveError, match=r"gaama.s folder|just downloaded"):
        extract_zip(archive, out, ArchiveLimits(), protected={"weights.bin": None})

    assert (out / ".gaama" / "record.json").read_bytes() == b"record"
    assert (out / "weights.bin").read_bytes() == b"verified"
    assert listing(out) == ["m.zip", "weights.bin"]


@pytest.mark.anyio
async def test_download_extraction_does_not_follow_a_planted_folder_link(
    client: GaAMA, tmp_path: Path
) -> None:
    archive = _zip(tmp_path / "bundle.zip", {"model/w.bin": b"w" * 100})
    await client.publish("v1", [archive])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "model").symlink_to(elsewhere)

    with pytest.raises(UnsafeArchiveError, match="link"):
        await client.download("v1", out, extract_zips=True)

    assert os.listdir(elsewhere) == []
    assert listing(out) == ["bundle.zip", "model"]


def test_a_member_identical_to_a_verified_file_is_left_alone(tmp_path: Path) -> None:
    """gaama 0.7.2's {tag}.zip bundles the release's own files: same bytes, nothing to do."""
    out = tmp_path / "out"
    out.mkdir()
    archive = _zip(out / "m.zip", {"weights.bin": b"verified", "extra.txt": b"x"})
    (out / "weights.bin").write_bytes(b"verified")
    before = (out / "weights.bin").stat()
    digest = hashlib.sha256(b"verified").hexdigest()

    extracted = extract_zip(archive, out, ArchiveLimits(), protected={"weights.bin": digest})

    assert extracted == [out / "extra.txt"]
    assert (out / "weights.bin").stat().st_ino == before.st_ino
