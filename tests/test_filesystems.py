"""Ranges are reserved ahead of their bytes on disk filesystems, not where files live in
memory (tmpfs), where reserving is only a second pass over the same pages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gaama_async._files import ResumableFile
from gaama_async._filesystems import filesystem_type, keeps_files_in_memory

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
SHM = Path("/dev/shm")

# Lines as Linux writes them: optional tags between the options and the "-" vary in number.
MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683568k
27 1 254:0 / / rw,relatime shared:1 master:2 - ext4 /dev/vda rw
30 27 0:45 / /mnt/odd rw,relatime - - odd-source rw
"""


@pytest.mark.parametrize(
    ("device", "expected"),
    [((0, 23), "tmpfs"), ((254, 0), "ext4"), ((0, 45), "-"), ((0, 99), ""), ((0, 21), "proc")],
    ids=["tmpfs", "tags-before-separator", "type-named-dash", "unknown-device", "first-line"],
)
def test_the_type_is_the_field_after_the_separator_of_the_devices_line(
    device: tuple[int, int], expected: str
) -> None:
    assert filesystem_type(MOUNTINFO, *device) == expected


def test_a_text_without_the_device_or_its_separator_gives_no_type() -> None:
    assert filesystem_type("25 24 0:23 / /dev/shm rw,relatime tmpfs\n", 0, 23) == ""
    assert filesystem_type("", 0, 23) == ""


def _tmpfs_folder(name: str) -> Path:
    if not SHM.is_dir() or not _on_tmpfs(SHM):
        pytest.fail("/dev/shm is not a tmpfs here: the machine this suite targets has one")
    folder = SHM / f"gaama-test-{name}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def _on_tmpfs(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        return keeps_files_in_memory(fd)
    finally:
        os.close(fd)


async def _blocks_after_reserving(folder: Path) -> int:
    """Bytes allocated to a fresh 8 MiB partial file after reserving its first 4 MiB."""
    file = ResumableFile(folder / "weights.bin")
    await file.open(8 * MIB, fresh=True)
    try:
        await file.reserve(0, 4 * MIB)
        file.reserve_blocking(4 * MIB, 1 * MIB)
        return os.fstat(file.descriptor).st_blocks * 512
    finally:
        await file.discard()


async def test_on_a_disk_filesystem_reserving_allocates_the_ranges(tmp_path: Path) -> None:
    assert not _on_tmpfs(tmp_path), "tmp_path should be on the disk for this test"
    assert await _blocks_after_reserving(tmp_path) >= 5 * MIB


async def test_where_files_live_in_memory_nothing_is_allocated_ahead() -> None:
    folder = _tmpfs_folder("reserve")
    try:
        assert await _blocks_after_reserving(folder) == 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
