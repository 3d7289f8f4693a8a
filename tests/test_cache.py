"""The content-addressed cache: shared across tags and repositories without sharing writable
bytes, bounded in size, and offline mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import FAST_RETRY, TOKEN, sha256_file, write_random

from gaama_async import DownloadError, DownloadSpec, GaAMA
from gaama_async._cache import (
    DEFAULT_MAX_BYTES,
    ContentCache,
    cache_from_settings,
    evictions,
    parse_size,
)
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


def _client(server: ReleaseServer, repo: str, cache: Path, **options: object) -> GaAMA:
    return GaAMA(
        repo=repo, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, cache_dir=cache,
        write_interval=0, **options,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_a_cached_file_is_copied_not_downloaded_across_repositories(
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
    entry = ContentCache(cache).entry(digest)
    inodes = {p.stat().st_ino for p in (first, second, entry)}
    assert len(inodes) == 3 and second.stat().st_nlink == 1  # copies (or clones), never links


async def test_an_edit_in_one_folder_changes_no_other_folder_nor_the_cache(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    (tmp_path / "config.json").write_bytes(b'{"layers": 12}')
    async with _client(server, "acme/a", cache) as client:
        await client.publish("v1", [tmp_path / "config.json"])
        [first] = await client.download("v1", tmp_path / "one")
        [second] = await client.download("v1", tmp_path / "two")
        for edited in (first, second):  # echo x > one/config.json; and two/, from the cache
            edited.write_bytes(b"x\n")
        server.counters.reset()

        [third] = await client.download("v1", tmp_path / "three")

    assert third.read_bytes() == b'{"layers": 12}'
    assert server.counters.requests["storage"] == 1  # the manifest; the file from the cache


async def test_linked_mode_shares_bytes_read_only(server: ReleaseServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    weights = tmp_path / "weights.bin"
    digest = write_random(weights, 1 << 20)
    async with _client(server, "acme/a", cache) as client:
        client.cache = cache_from_settings(cache, link=True)
        await client.publish("v1", [weights])
        [first] = await client.download("v1", tmp_path / "one")
        [second] = await client.download("v1", tmp_path / "two")

    entry = ContentCache(cache).entry(digest)
    assert first.stat().st_ino == second.stat().st_ino == entry.stat().st_ino
    # Read-only, so an edit fails rather than spreading (root ignores modes: we check them).
    assert {stat.S_IMODE(p.stat().st_mode) for p in (first, second, entry)} == {0o444}


async def test_an_entry_changed_in_the_cache_is_not_trusted(
    server: ReleaseServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    weights = tmp_path / "weights.bin"
    digest = write_random(weights, 1 << 20)
    async with _client(server, "acme/a", cache) as client:
        await client.publish("v1", [weights])
        await client.download("v1", tmp_path / "one")
        entry = ContentCache(cache).entry(digest)
        os.chmod(entry, 0o644)
        with open(entry, "r+b") as handle:
            handle.write(b"tampered")
        server.counters.reset()

        [second] = await client.download("v1", tmp_path / "two")

    assert sha256_file(second) == digest
    assert server.counters.requests["storage"] == 2  # manifest and the file again


async def test_the_least_recently_used_entries_are_evicted_past_the_size_limit(
    tmp_path: Path,
) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=2500)
    files = {}
    for name in ("a", "b", "c"):
        files[name] = tmp_path / name
        files[name].write_bytes(name.encode() * 1000)
    digests = {n: sha256_file(p) for n, p in files.items()}
    await cache.add(files["a"], digests["a"])
    await cache.add(files["b"], digests["b"])
    assert await cache.place(digests["a"], 1000, tmp_path / "a-again")  # a is used: b is older

    await cache.add(files["c"], digests["c"])

    kept = {n for n, d in digests.items() if cache.entry(d).exists()}
    assert kept == {"a", "c"}
    assert not await cache.place(digests["b"], 1000, tmp_path / "b-again")


async def _filled(cache: Path, count: int, size: int, tmp_path: Path) -> list[str]:
    """``count`` entries of ``size`` bytes added through a cache with no size limit."""
    roomy, digests = ContentCache(cache, max_bytes=1 << 40), []
    for number in range(count):
        source = tmp_path / f"filler-{number}"
        digests.append(write_random(source, size, seed=number + 1))
        await roomy.add(source, digests[-1])
    return digests


async def test_adding_a_file_defers_eviction_to_the_end_of_the_download(tmp_path: Path) -> None:
    # One pass over the cache per added file made a cold download of 500 small files take
    # 35 s instead of 1: below a tenth of the limit, adding leaves eviction to ``settle``.
    root = tmp_path / "cache"
    old = await _filled(root, 30, 1000, tmp_path)
    cache = ContentCache(root, max_bytes=25_000)
    extra = tmp_path / "extra"
    await cache.add(extra, write_random(extra, 100))
    assert all(cache.entry(d).exists() for d in old)  # over the limit, nothing evicted yet

    await cache.settle()

    kept = [d for d in old if cache.entry(d).exists()]
    assert 20 <= len(kept) <= 24 and kept == old[-len(kept) :]  # the oldest went first


async def test_a_download_leaves_the_cache_within_its_limit(
    server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "cache"
    old = await _filled(root, 30, 1000, tmp_path)
    weights = tmp_path / "weights.bin"
    digest = write_random(weights, 100)
    monkeypatch.setenv("GAAMA_CACHE_MAX_SIZE", "25000")
    async with _client(server, "acme/a", root) as client:
        await client.publish("v1", [weights])
        await client.download("v1", tmp_path / "out")

    cache = ContentCache(root)
    held = sum(cache.entry(d).stat().st_size for d in [*old, digest] if cache.entry(d).exists())
    assert held <= 25_000 and cache.entry(digest).exists()


def test_eviction_order_is_by_last_use() -> None:
    entries = [(Path("old"), 10, 1), (Path("new"), 10, 3), (Path("mid"), 10, 2)]
    assert evictions(entries, 30) == []
    assert evictions(entries, 15) == [Path("old"), Path("mid")]
    assert evictions(entries, 0) == [Path("old"), Path("mid"), Path("new")]


def test_sizes_and_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert [parse_size(t) for t in ("20G", "512m", "1.5T", "20GiB", "7 GB", "123")] == [
        20 << 30, 512 << 20, int(1.5 * (1 << 40)), 20 << 30, 7 << 30, 123,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
    monkeypatch.setenv("GAAMA_CACHE_MAX_SIZE", "1G")
    monkeypatch.setenv("GAAMA_CACHE_LINK", "1")
    cache = cache_from_settings(tmp_path)
    assert cache is not None and (cache.max_bytes, cache.link) == (1 << 30, True)
    cache = cache_from_settings(tmp_path, link=False, max_bytes=5)
    assert cache is not None and (cache.max_bytes, cache.link) == (5, False)
    assert cache_from_settings(False) is None
    monkeypatch.delenv("GAAMA_CACHE_MAX_SIZE")
    monkeypatch.delenv("GAAMA_CACHE_LINK")
    default = cache_from_settings(tmp_path)
    assert default is not None and (default.max_bytes, default.link) == (DEFAULT_MAX_BYTES, False)


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
