"""Large files checked by block digests (``_blocks``), against the real local server.

A file over one block is published with the sha256 of each block in the manifest; its
download checks each block on the thread that received it, and a block that hashed wrong is
fetched again alone, not the whole file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import aiohttp
import pytest
from helpers import (
    REPO,
    TOKEN,
    interrupt_download,
    partial_files,
    recorded_done,
    sha256_file,
    sha256_mismatches,
    storage_requests,
    write_random,
)

from gaama_async import GaAMA
from gaama_async._blocks import BLOCK_SIZE
from gaama_async.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from gaama_async.server import Fault, ReleaseServer
from gaama_async.server.store import Repo

pytestmark = pytest.mark.anyio
SIZE = 3 * BLOCK_SIZE + 12345  # four blocks, the last one short


def repo_of(server: ReleaseServer) -> Repo:
    repo = server.store.find_repo(*REPO.split("/"))
    assert repo is not None
    return repo


def stored_manifest(server: ReleaseServer, tag: str = "v1") -> Manifest:
    """The manifest as the server stores it (read from its blob, no request counted)."""
    store = server.store
    release = store.published_by_tag(repo_of(server), tag)
    assert release is not None
    [asset] = [a for a in store.assets(release) if a.name == MANIFEST_NAME]
    assert asset.blob is not None
    return Manifest.from_bytes(store.blob_path(asset.blob).read_bytes())


def block_digests(path: Path, size: int) -> tuple[str, ...]:
    data = path.read_bytes()
    return tuple(hashlib.sha256(data[i : i + size]).hexdigest() for i in range(0, len(data), size))


def storage_bytes(server: ReleaseServer) -> int:
    return server.counters.bytes_sent


async def test_publish_records_the_digest_of_every_block(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    write_random(tmp_path / "w.bin", SIZE)
    (tmp_path / "small.txt").write_bytes(b"one block or less: its sha256 says it all")

    await client.publish("v1", [tmp_path / "w.bin", tmp_path / "small.txt"])

    entries = stored_manifest(server).by_name()
    blocks = entries["w.bin"].blocks
    assert blocks is not None and blocks.size == BLOCK_SIZE
    assert blocks.sha256 == block_digests(tmp_path / "w.bin", BLOCK_SIZE)
    assert entries["small.txt"].blocks is None


async def test_a_corrupt_block_is_fetched_again_alone(
    client: GaAMA, server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gaama_async")
    sha = write_random(tmp_path / "w.bin", SIZE)
    await client.publish("v1", [tmp_path / "w.bin"])
    server.faults.add(Fault("corrupt", route="storage", asset="w.bin", after_bytes=1000))
    server.counters.reset()

    [path] = await client.download("v1", tmp_path / "out")

    assert sha256_file(path) == sha and partial_files(tmp_path / "out") == []
    assert server.counters.hits("corrupt", "w.bin") == 1
    # The whole file once, plus the one bad block (and the manifest's few bytes).
    assert SIZE < storage_bytes(server) <= SIZE + BLOCK_SIZE + 65536
    assert storage_requests(server, "w.bin") == 4 + 1
    assert len(sha256_mismatches(caplog)) == 1


async def test_blocks_no_range_checked_are_read_back_and_checked(
    server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ranges smaller than a block (``part_size`` asked so) cannot check the blocks they
    share: the blocks are read back and checked once every range has landed, and a bad one
    is fetched again alone, by every range that held a piece of it."""
    caplog.set_level(logging.WARNING, logger="gaama_async")
    sha = write_random(tmp_path / "w.bin", SIZE)
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, part_size=BLOCK_SIZE // 4
    ) as client:
        await client.publish("v1", [tmp_path / "w.bin"])
        server.faults.add(Fault("corrupt", route="storage", asset="w.bin", after_bytes=1000))
        server.counters.reset()

        [path] = await client.download("v1", tmp_path / "out")

    assert sha256_file(path) == sha
    assert server.counters.hits("corrupt", "w.bin") == 1
    assert SIZE < storage_bytes(server) <= SIZE + BLOCK_SIZE + 65536
    assert storage_requests(server, "w.bin") == 13 + 4  # 13 ranges, then the block's four
    assert len(sha256_mismatches(caplog)) == 1


async def test_a_block_checked_file_enters_the_cache_and_is_placed_from_it(
    server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread hashed the file whole; it is hashed while it is copied into the cache, and
    the next download of it into another folder fetches nothing from storage."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GAAMA_CACHE_DIR", str(cache))
    write_random(tmp_path / "w.bin", SIZE)
    sha = sha256_file(tmp_path / "w.bin")
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, write_interval=0) as client:
        await client.publish("v1", [tmp_path / "w.bin"])
        await client.download("v1", tmp_path / "first")
        server.counters.reset()

        [path] = await client.download("v1", tmp_path / "second")

    assert sha256_file(path) == sha
    assert sha256_file(cache / "sha256" / sha[:2] / sha) == sha
    assert storage_requests(server, "w.bin") == 0
    assert not list(cache.rglob("*.tmp"))


async def test_blocks_that_disagree_with_the_files_sha256_keep_it_out_of_the_cache(
    server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is keyed by sha256 for every release: a manifest whose blocks describe other
    bytes than its sha256 must not plant them under that digest. (GitHub's own ``digest``
    would expose the lie; assets uploaded before GitHub computed digests have none.)"""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GAAMA_CACHE_DIR", str(cache))
    write_random(tmp_path / "w.bin", SIZE)
    victim = "f" * 64  # the digest of someone else's file
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, write_interval=0) as client:
        await client.publish("v1", [tmp_path / "w.bin"])
        honest = stored_manifest(server).by_name()["w.bin"]
        lying = ManifestEntry("w.bin", "w.bin", SIZE, victim, blocks=honest.blocks)
        await replace_manifest(client, server, Manifest((lying,)))
        for asset in server.store.assets(server.store.releases(repo_of(server))[0]):
            asset.digest = None  # an asset from before GitHub's digests

        [path] = await client.download("v1", tmp_path / "out")

    assert sha256_file(path) == sha256_file(tmp_path / "w.bin")  # what the blocks promised
    assert not list((cache / "sha256").rglob(f"*{victim}*"))  # no entry, nothing staged


async def test_a_resumed_download_checks_the_blocks_an_earlier_run_wrote(
    client: GaAMA, server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes on disk from an earlier run were checked by no thread of this one: a block of
    them that went bad on disk is found by reading back, and only it is fetched again."""
    caplog.set_level(logging.WARNING, logger="gaama_async")
    sha = write_random(tmp_path / "w.bin", SIZE)
    await client.publish("v1", [tmp_path / "w.bin"])
    out = tmp_path / "out"
    await interrupt_download(client, out, at=SIZE // 2)
    on_disk = recorded_done(out)
    assert BLOCK_SIZE <= on_disk < SIZE
    [partial] = [p for p in partial_files(out) if not p.name.endswith(".json")]
    with partial.open("r+b") as handle:  # bit rot in the first block, written by that run
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    server.counters.reset()

    [path] = await client.download("v1", out)

    assert sha256_file(path) == sha
    assert len(sha256_mismatches(caplog)) == 1  # the rotten block, nothing else
    # What the record said was missing, plus the first block again: not the whole file.
    assert storage_bytes(server) <= SIZE - on_disk + BLOCK_SIZE + 65536


async def replace_manifest(client: GaAMA, server: ReleaseServer, manifest: Manifest) -> None:
    assets = {a.name: a for a in await client.list_assets("v1")}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        await raw.delete(assets[MANIFEST_NAME].url)
        release = await (await raw.get(f"{server.api_url}/repos/{REPO}/releases/tags/v1")).json()
        await raw.post(
            release["upload_url"].split("{")[0], params={"name": MANIFEST_NAME},
            data=manifest.to_bytes(), headers={"Content-Type": "application/json"},
        )  # fmt: skip


async def test_a_block_checked_file_comes_in_about_two_ranges_per_connection(
    server: ReleaseServer, tmp_path: Path
) -> None:
    """Its blocks are checked as they arrive, so long ranges cost no hashing at the end and
    spare a connection the round trips of short ones (``_ranges.range_size``)."""
    sha = write_random(tmp_path / "w.bin", SIZE)
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, max_concurrency=1) as client:
        await client.publish("v1", [tmp_path / "w.bin"])
        server.counters.reset()

        [path] = await client.download("v1", tmp_path / "out")

    assert sha256_file(path) == sha
    assert storage_requests(server, "w.bin") == 2  # two blocks each, not one per block
