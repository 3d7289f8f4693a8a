"""Files over the asset size limit: published as parts, rebuilt on download, also by cat."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest
from helpers import FAST_RETRY, REPO, TOKEN, listing, sha256_file, write_random

from gaama_async import DownloadError, GaAMA, PublishError
from gaama_async.manifest import MANIFEST_NAME, Manifest
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio
MIB = 1 << 20


@pytest.fixture
async def small_limit(server: ReleaseServer) -> GaAMA:
    server.config.max_asset_size = MIB
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY,
        max_asset_size=MIB, part_size=256 * 1024,
    ) as client:  # fmt: skip
        yield client  # type: ignore[misc]


async def test_a_large_file_is_split_and_rebuilt(small_limit: GaAMA, tmp_path: Path) -> None:
    big = tmp_path / "big model.bin"
    digest = write_random(big, 3 * MIB + 12345)
    (tmp_path / "small.txt").write_bytes(b"small")

    release = await small_limit.publish("v1", [big, tmp_path / "small.txt"])

    names = sorted(a.name for a in release.assets)
    assert names == [
        "big.model.bin.part001", "big.model.bin.part002", "big.model.bin.part003",
        "big.model.bin.part004", MANIFEST_NAME, "small.txt",
    ]  # fmt: skip
    assert max(a.size for a in release.assets) == MIB
    paths = await small_limit.download("v1", tmp_path / "out")
    assert sorted(p.name for p in paths) == ["big model.bin", "small.txt"]
    assert sha256_file(tmp_path / "out" / "big model.bin") == digest

    parts = await small_limit.download("v1", tmp_path / "raw", include="*.part*")
    assert [p.name for p in parts] == ["big model.bin"]  # parts select their file


async def test_parts_concatenate_to_the_file_without_gaama(
    small_limit: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    big = tmp_path / "w.bin"
    digest = write_random(big, 2 * MIB + 1)
    await small_limit.publish("v1", [big])
    assets = {a.name: a for a in await small_limit.list_assets("v1")}
    manifest = Manifest.from_bytes(await _raw(server, assets[MANIFEST_NAME].url))
    [entry] = manifest.files
    assert [p.asset for p in entry.parts] == ["w.bin.part001", "w.bin.part002", "w.bin.part003"]

    joined = b"".join([await _raw(server, assets[p.asset].url) for p in entry.parts])

    assert hashlib.sha256(joined).hexdigest() == digest == entry.sha256


async def _raw(server: ReleaseServer, url: str) -> bytes:
    headers = {"Accept": "application/octet-stream", "Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers, allow_redirects=False) as api:
            location = api.headers["Location"]
        async with session.get(location) as storage:
            return await storage.read()


async def test_republishing_a_split_file_skips_and_overwrite_replaces(
    small_limit: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    big = tmp_path / "w.bin"
    write_random(big, 2 * MIB + 5, seed=1)
    await small_limit.publish("v1", [big])
    uploads = server.counters.requests["upload"]
    await small_limit.publish("v1", [big])
    assert server.counters.requests["upload"] == uploads

    digest = write_random(big, MIB + 5, seed=2)  # now two parts instead of three
    with pytest.raises(Exception, match="overwrite=True"):
        await small_limit.publish("v1", [big])
    release = await small_limit.publish("v1", [big], overwrite=True)

    assert sorted(a.name for a in release.assets) == [
        MANIFEST_NAME, "w.bin.part001", "w.bin.part002",
    ]  # fmt: skip
    [path] = await small_limit.download("v1", tmp_path / "out")
    assert sha256_file(path) == digest


async def test_a_missing_part_fails_that_file_only(small_limit: GaAMA, tmp_path: Path) -> None:
    write_random(tmp_path / "w.bin", 2 * MIB + 5)
    (tmp_path / "ok.txt").write_bytes(b"fine")
    await small_limit.publish("v1", [tmp_path / "w.bin", tmp_path / "ok.txt"])
    [part] = [a for a in await small_limit.list_assets("v1") if a.name == "w.bin.part002"]
    async with aiohttp.ClientSession() as session:
        await session.delete(part.url, headers={"Authorization": f"Bearer {TOKEN}"})

    with pytest.raises(DownloadError, match="missing"):
        await small_limit.download("v1", tmp_path / "out")
    assert listing(tmp_path / "out") == ["ok.txt"]


async def test_the_server_refuses_assets_over_its_limit(
    server: ReleaseServer, tmp_path: Path
) -> None:
    server.config.max_asset_size = MIB
    write_random(tmp_path / "w.bin", MIB + 1)
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url) as client:
        with pytest.raises(PublishError, match="size"):
            await client.publish("v1", [tmp_path / "w.bin"])
