"""A second download of what is already there transfers no asset bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import sha256_file, write_random

from gaama_async import GaAMA
from gaama_async._record import FolderRecord
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


async def _publish(client: GaAMA, tmp_path: Path) -> dict[str, str]:
    src = tmp_path / "src"
    src.mkdir()
    digests = {
        f"f{i}.bin": write_random(src / f"f{i}.bin", 50_000 * (i + 1), seed=i) for i in range(4)
    }
    await client.publish("v1", [src / n for n in digests])
    return digests


async def test_warm_restart_transfers_nothing_from_storage(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(client, tmp_path)
    out = tmp_path / "out"
    first = await client.download("v1", out)
    server.counters.reset()

    second = await client.download("v1", out)

    assert second == first
    assert server.counters.requests["storage"] == 0  # the manifest too comes from the record
    assert server.counters.requests["api.download_asset"] == 0
    assert sum(server.counters.requests.values()) == 1  # the release, assets listed inline


async def test_every_downloaded_file_is_noted_so_a_warm_restart_hashes_nothing(
    client: GaAMA, tmp_path: Path
) -> None:
    digests = await _publish(client, tmp_path)
    out = tmp_path / "out"
    await client.download("v1", out)

    record = FolderRecord(out)
    await record.load()

    for name, digest in digests.items():  # noted as the file is now, inode and ctime too
        found, noted = (out / name).lstat(), record.files[name]
        assert (noted.size, noted.mtime_ns, noted.sha256) == (
            found.st_size,
            found.st_mtime_ns,
            digest,
        )
        assert (noted.ino, noted.ctime_ns) == (found.st_ino, found.st_ctime_ns)


async def test_a_changed_or_damaged_local_file_is_fetched_again(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digests = await _publish(client, tmp_path)
    out = tmp_path / "out"
    await client.download("v1", out)
    damaged = out / "f2.bin"
    data = bytearray(damaged.read_bytes())
    data[10] ^= 0xFF
    damaged.write_bytes(bytes(data))
    os.utime(damaged, ns=(1, 1))
    (out / "f3.bin").unlink()
    server.counters.reset()

    await client.download("v1", out)

    assert server.counters.requests["storage"] == 2
    assert {p: sha256_file(out / p) for p in digests} == digests


async def test_files_present_without_a_record_are_verified_by_hash(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(client, tmp_path)
    out = tmp_path / "out"
    await client.download("v1", out)
    (out / ".gaama" / "record.json").unlink()
    server.counters.reset()

    await client.download("v1", out)

    assert server.counters.requests["storage"] == 1  # the manifest; files verified by hash
    assert (out / ".gaama" / "record.json").exists()


async def test_a_file_replaced_with_the_same_size_and_mtime_is_hashed_not_trusted(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digests = await _publish(client, tmp_path)
    out = tmp_path / "out"
    await client.download("v1", out)
    original = (out / "f1.bin").stat()
    impostor = out / "impostor"
    impostor.write_bytes(bytes(original.st_size))  # same size, other bytes
    os.utime(impostor, ns=(original.st_atime_ns, original.st_mtime_ns))  # and same mtime
    os.replace(impostor, out / "f1.bin")  # as a restore, an editor or another tool would
    server.counters.reset()

    await client.download("v1", out)

    assert server.counters.requests["storage"] == 1  # f1.bin, found wrong by its sha256
    assert {p: sha256_file(out / p) for p in digests} == digests
