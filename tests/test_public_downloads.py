"""A fleet that spares the API: public repositories' assets are fetched through the web
host's ``browser_download_url`` (302 to storage, no token, no API budget), private ones
through the API after a single probe."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FAST_RETRY, REPO, TOKEN, private_repository, sha256_file, write_random

from gaama_async import GaAMA
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio

FILES = 6


def _api_calls(server: ReleaseServer) -> int:
    return sum(n for route, n in server.counters.requests.items() if route.startswith("api."))


async def _published(client: GaAMA, server: ReleaseServer, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "src").mkdir()
    digests = {
        f"w{n}.bin": write_random(tmp_path / "src" / f"w{n}.bin", 50_000, n) for n in range(FILES)
    }
    await client.publish("v1", sorted((tmp_path / "src").iterdir()))
    server.counters.reset()
    return digests


def _anonymous(server: ReleaseServer) -> GaAMA:
    return GaAMA(repo=REPO, token=None, api_url=server.api_url, retry=FAST_RETRY, cache_dir=False)


async def test_a_cold_download_of_a_public_release_costs_one_api_call(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digests = await _published(client, server, tmp_path)
    async with _anonymous(server) as anonymous:
        paths = await anonymous.download("v1", tmp_path / "out")
    assert {p.name: sha256_file(p) for p in paths} == digests
    assert _api_calls(server) == 1  # the release; manifest and assets came through the web
    assert server.counters.requests["web.download"] == FILES + 1
    assert server.counters.storage_requests_with_authorization == 0


async def test_a_warm_restart_costs_one_api_call_and_no_transfer(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _published(client, server, tmp_path)
    async with _anonymous(server) as first:
        await first.download("v1", tmp_path / "out")
    server.counters.reset()
    async with _anonymous(server) as again:
        await again.download("v1", tmp_path / "out")
    assert _api_calls(server) == 1
    assert server.counters.requests.get("web.download", 0) == 0
    assert server.counters.requests.get("storage", 0) == 0


async def test_a_private_repository_is_probed_once_then_served_by_the_api(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digests = await _published(client, server, tmp_path)
    private_repository(server)
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY,
                     cache_dir=False) as owner:  # fmt: skip
        paths = await owner.download("v1", tmp_path / "out")
    assert {p.name: sha256_file(p) for p in paths} == digests
    assert server.counters.requests["web.download"] == 1  # one 404, learnt once
    assert server.counters.requests["api.download_asset"] == FILES + 1


async def test_a_failing_web_host_falls_back_to_the_api(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digests = await _published(client, server, tmp_path)
    server.faults.add(Fault("status", route="web.download", asset="w3.bin", status=502))
    async with _anonymous(server) as anonymous:
        paths = await anonymous.download("v1", tmp_path / "out")
    assert {p.name: sha256_file(p) for p in paths} == digests
    assert server.counters.hits("status", "w3.bin") == 1
    assert server.counters.requests["api.download_asset"] == 1  # w3.bin's link, no other
