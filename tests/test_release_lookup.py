"""The round trips before a download's first byte: a release with more assets than its inline
list is trusted for is listed again in one round trip (its pages asked at once), its manifest
is read meanwhile, not after, and each file's storage link is resolved while its lock is
taken, not after."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from helpers import FAST_RETRY, REPO, TOKEN, sha256_file, write_random

from gaama_async import GaAMA
from gaama_async._files import file_lock
from gaama_async._http import pages_holding
from gaama_async.manifest import MANIFEST_NAME
from gaama_async.server import Fault, ReleaseServer, ServerConfig
from gaama_async.server.counters import RequestRecord

pytestmark = pytest.mark.anyio

FILES = 249  # and the manifest: 250 assets, three pages of 100
PAGE_DELAY = 0.4  # every asset page answers this late


def test_pages_holding_counts_whole_pages() -> None:
    assert [pages_holding(n) for n in (0, 1, 99, 100, 101, 250, 1000)] == [1, 1, 1, 1, 2, 3, 10]
    assert pages_holding(31, per_page=30) == 2


@pytest.fixture
async def many(tmp_path: Path) -> AsyncIterator[tuple[ReleaseServer, GaAMA]]:
    """A server holding release v1 of ``FILES`` small files, and a client."""
    config = ServerConfig(root=tmp_path / "github", tokens={TOKEN: "octocat"}, repos=(REPO,))
    config.writes_per_minute, config.writes_per_hour = 100_000, 1_000_000
    source = tmp_path / "src"
    source.mkdir()
    for index in range(FILES):
        (source / f"f{index:03d}.txt").write_bytes(f"file {index}\n".encode())
    async with (
        ReleaseServer(config) as server,
        GaAMA(
            repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, write_interval=0,
            cache_dir=False,
        ) as client,
    ):  # fmt: skip
        await client.publish("v1", sorted(source.iterdir()))
        server.counters.reset()
        yield server, client


async def test_the_asset_pages_are_asked_at_once(
    many: tuple[ReleaseServer, GaAMA], tmp_path: Path
) -> None:
    server, client = many
    server.faults.add(Fault("slow", route="api.list_assets", delay=PAGE_DELAY, times=None))
    paths = await client.download("v1", tmp_path / "out")
    assert len(paths) == FILES
    pages = [r for r in server.counters.log if r.route == "api.list_assets"]
    assert len(pages) == 3 and server.counters.hits("slow", None) == 3
    # One after another, each page would answer at least PAGE_DELAY after the last.
    span = max(r.time for r in pages) - min(r.time for r in pages)
    assert span < PAGE_DELAY, f"pages answered {span:.2f}s apart: one at a time"


async def test_the_manifest_is_read_while_the_assets_are_listed(
    many: tuple[ReleaseServer, GaAMA], tmp_path: Path
) -> None:
    server, client = many
    server.faults.add(Fault("slow", route="api.list_assets", delay=PAGE_DELAY, times=None))
    await client.download("v1", tmp_path / "out")
    log = server.counters.log
    first_page = min(r.time for r in log if r.route == "api.list_assets")
    link = [r for r in log if r.route == "web.download" and r.path.endswith(MANIFEST_NAME)]
    assert len(link) == 1  # read once: the full list names the same manifest
    # Until the list is complete no file is fetched: a storage answer before it is the
    # manifest's body.
    early = [r for r in log if r.route == "storage" and r.time < first_page]
    assert link[0].time < first_page and len(early) == 1, "the manifest waited for the list"


async def _publish_two(client: GaAMA, tmp_path: Path) -> None:
    source = tmp_path / "two"
    source.mkdir()
    for name in ("a.bin", "b.bin"):
        write_random(source / name, 40_000, len(name))
    await client.publish("v2", sorted(source.iterdir()))


def _links_asked(server: ReleaseServer, name: str) -> int:
    return sum(
        1 for r in server.counters.log if r.route == "web.download" and r.path.endswith(name)
    )


@pytest.mark.parametrize("cache", [False, True], ids=["no cache", "a cache without it"])
async def test_a_link_is_resolved_while_the_file_lock_is_awaited_and_only_once(
    client: GaAMA, server: ReleaseServer, tmp_path: Path, cache: bool
) -> None:
    await _publish_two(client, tmp_path)
    server.counters.reset()
    out = tmp_path / "out"
    out.mkdir()
    options = {"token": TOKEN, "api_url": server.api_url, "retry": FAST_RETRY}
    cache_dir = tmp_path / "cache" if cache else False
    async with (
        GaAMA(repo=REPO, cache_dir=cache_dir, **options) as fresh,  # type: ignore[arg-type]
        anyio.create_task_group() as group,
        file_lock(out / "a.bin"),
    ):
        # Another process holds a.bin's lock: the link is resolved all the same.
        group.start_soon(functools.partial(fresh.download, "v2", out))
        with anyio.fail_after(10):
            while not _links_asked(server, "a.bin"):
                await anyio.sleep(0.01)
    assert sha256_file(out / "a.bin") == sha256_file(tmp_path / "two" / "a.bin")
    assert _links_asked(server, "a.bin") == 1  # the transfer took the early resolution


async def test_no_link_is_resolved_early_for_a_file_the_cache_may_hold(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_two(client, tmp_path)
    options = {"token": TOKEN, "api_url": server.api_url, "retry": FAST_RETRY}
    async with GaAMA(repo=REPO, cache_dir=tmp_path / "cache", **options) as cached:  # type: ignore[arg-type]
        await cached.download("v2", tmp_path / "first")
        server.counters.reset()
        await cached.download("v2", tmp_path / "second")
    assert _links_asked(server, "a.bin") == _links_asked(server, "b.bin") == 0
    assert _links_asked(server, MANIFEST_NAME) == 1  # a new folder reads the manifest


MANIFEST_DELAY = 0.5  # the manifest's bytes answer this late


async def test_file_links_are_resolved_while_the_manifest_is_read(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_two(client, tmp_path)
    server.counters.reset()
    server.faults.add(Fault("slow", route="storage", asset=MANIFEST_NAME, delay=MANIFEST_DELAY))

    await client.download("v2", tmp_path / "out")

    assert server.counters.hits("slow", MANIFEST_NAME) == 1
    log = server.counters.log
    [manifest] = [r for r in log if r.route == "storage" and r.time < min_storage_of_files(log)]
    links = [r for r in log if r.route == "web.download" and not r.path.endswith(MANIFEST_NAME)]
    assert len(links) == 2  # one per file: the transfers took the links resolved ahead
    assert all(link.time < manifest.time - MANIFEST_DELAY / 2 for link in links)


LINK_DELAY = 0.5  # a file's link answers this late


async def test_the_manifests_link_never_waits_behind_a_link_resolved_ahead(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    """Links ahead are a guess, the manifest's link is what the download needs first: while
    nobody knows yet whether the web host serves the repository, the manifest's link asks,
    and the links ahead wait for the answer, never the manifest for theirs."""
    await _publish_two(client, tmp_path)
    server.counters.reset()
    server.faults.add(Fault("slow", route="web.download", asset="a.bin", delay=LINK_DELAY))

    await client.download("v2", tmp_path / "out")

    assert server.counters.hits("slow", "a.bin") == 1
    answered = [r.path for r in server.counters.log if r.route == "web.download"]
    assert answered[0].endswith(MANIFEST_NAME), answered  # not after a.bin's slow answer


def min_storage_of_files(log: list[RequestRecord]) -> float:
    """When the first storage answer after the manifest's came (files follow the plan)."""
    storage = sorted(r.time for r in log if r.route == "storage")
    return storage[1]


async def test_no_link_is_resolved_ahead_for_a_file_in_the_folder_or_not_chosen(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish_two(client, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.bin").write_bytes((tmp_path / "two" / "a.bin").read_bytes())  # no record: hashed
    server.counters.reset()

    await client.download("v2", out)
    await client.download("v2", tmp_path / "only-b", include=["b.bin"])

    assert _links_asked(server, "a.bin") == 0
    assert _links_asked(server, "b.bin") == 2
