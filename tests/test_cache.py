"""The content-addressed cache: shared across tags and repositories, and offline mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import FAST_RETRY, TOKEN, sha256_file, write_random

from gaama_async import DownloadError, DownloadSpec, GaAMA
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


def _client(server: ReleaseServer, repo: str, cache: Path, **options: object) -> GaAMA:
    return GaAMA(
        repo=repo, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, cache_dir=cache,
        write_interval=0, **options,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_a_cached_file_is_linked_not_downloaded_across_repositories(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    weights = tmp_path / "weights.bin"
    digest = write_random(weights, 3 << 20)
    async with _client(server, "acme/a", cache) as a, _client(server, "acme/b", cache) as b:
        await a.publish("v1", [weights])
        await b.publish("v7", [weights])
        [first] = await a.download("v1", tmp_path / "one")
        server.counters.reset()

        [second] = await b.download("v7", tmp_path / "two")

    assert sha256_file(second) == digest
    assert server.counters.requests["storage"] == 1  # only b's manifest
    assert first.stat().st_ino == second.stat().st_ino  # linked, no extra disk


async def test_an_entry_edited_in_place_is_not_trusted(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    weights = tmp_path / "weights.bin"
    digest = write_random(weights, 1 << 20)
    async with _client(server, "acme/a", cache) as client:
        await client.publish("v1", [weights])
        [first] = await client.download("v1", tmp_path / "one")
        with open(first, "r+b") as handle:  # the linked copy is edited in place
            handle.write(b"tampered")
        os.utime(first, ns=(1, 1))
        server.counters.reset()

        [second] = await client.download("v1", tmp_path / "two")

    assert sha256_file(second) == digest
    assert server.counters.requests["storage"] == 2  # manifest and the file again


async def test_offline_downloads_come_from_the_cache_alone(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    (tmp_path / "a.bin").write_bytes(b"a" * 5000)
    (tmp_path / "empty.txt").write_bytes(b"")
    async with _client(server, "acme/a", cache) as client:
        await client.publish("v1", [tmp_path / "a.bin", tmp_path / "empty.txt"])
        await client.download("v1", tmp_path / "online")
    server.counters.reset()

    async with _client(server, "acme/a", cache, offline=True) as offline:
        paths = await offline.download("v1", tmp_path / "offline")
        with pytest.raises(DownloadError, match="never seen"):
            await offline.download("v2", tmp_path / "nope")

    assert sorted(p.name for p in paths) == ["a.bin", "empty.txt"]
    assert (tmp_path / "offline" / "a.bin").read_bytes() == b"a" * 5000
    assert sum(server.counters.requests.values()) == 0


async def test_offline_names_what_the_cache_lacks(server: ReleaseServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (tmp_path / "a.bin").write_bytes(b"a" * 100)
    (tmp_path / "b.bin").write_bytes(b"b" * 100)
    async with _client(server, "acme/a", cache) as client:
        await client.publish("v1", [tmp_path / "a.bin", tmp_path / "b.bin"])
        await client.download("v1", tmp_path / "online", include="a.bin")

    async with _client(server, "acme/a", cache, offline=True) as offline:
        with pytest.raises(DownloadError, match=r"not in the cache \(b\.bin\)"):
            await offline.download("v1", tmp_path / "offline")


async def test_environment_switches(
    server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAAMA_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("GAAMA_OFFLINE", "1")
    client = GaAMA(repo="acme/a", token=TOKEN, api_url=server.api_url)
    assert client.offline and client.cache is not None and client.cache.root == tmp_path / "c"
    monkeypatch.setenv("GAAMA_CACHE_DIR", "off")
    monkeypatch.setenv("GAAMA_OFFLINE", "0")
    client = GaAMA(repo="acme/a", token=TOKEN, api_url=server.api_url)
    assert not client.offline and client.cache is None
    assert GaAMA(repo="acme/a", cache_dir=False).cache is None


async def test_download_many_fetches_several_releases_on_one_budget(
    server: ReleaseServer, tmp_path: Path
) -> None:
    async with _client(server, "acme/a", tmp_path / "c", max_concurrency=2) as a:
        other = a._for_repo("acme/b")
        assert other._limiter is a._limiter and other._http is a._http
        for client, name in ((a, "a.bin"), (other, "b.bin")):
            (tmp_path / name).write_bytes(name.encode() * 1000)
            await client.publish("v1", [tmp_path / name])

        results = await a.download_many(
            [
                DownloadSpec("v1", tmp_path / "out-a"),
                DownloadSpec("v1", tmp_path / "out-b", repo="acme/b"),
            ]
        )

    assert [[p.name for p in paths] for paths in results] == [["a.bin"], ["b.bin"]]
    assert (tmp_path / "out-b" / "b.bin").read_bytes() == b"b.bin" * 1000
