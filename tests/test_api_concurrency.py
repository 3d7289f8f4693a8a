"""Requests in flight to the API host stay within ``max_api_concurrency``.

Hosts that share one token share GitHub's 100 concurrent requests for it (spec 10.2): a
fleet of 50 private-repository hosts, each resolving its assets' storage links 32 at a time,
drew 60 s secondary-limit waits (``python -m benchmarks.fleet``). The bound is what lets a
fleet divide the 100. Counted by the server's per-origin peak of requests in flight, over a
private repository, where every asset's storage link is an API call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import cli_env, run_gaama
from helpers import FAST_RETRY, REPO, TOKEN, private_repository, sha256_file, write_random

from gaama_async import GaAMA
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio

ASSETS = 12
# Long enough that the link requests of one download overlap whenever they can.
LATENCY = 0.05


@pytest.fixture
async def published(server: ReleaseServer, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """``ASSETS`` small files under v1 of a private repository; their digests by name."""
    source = tmp_path / "model"
    source.mkdir()
    digests = {}
    for n in range(ASSETS):
        name = f"shard-{n:02d}.bin"
        digests[name] = write_random(source / name, 4096, seed=n)
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, write_interval=0, cache_dir=False
    ) as client:
        await client.publish("v1", sorted(source.iterdir()))
    private_repository(server)
    server.config.latency = LATENCY
    server.counters.reset()
    yield digests


def _client(server: ReleaseServer, **settings: Any) -> GaAMA:
    return GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, **settings)


def _downloaded(folder: Path, digests: dict[str, str]) -> None:
    files = (path for path in folder.iterdir() if path.is_file())
    assert {path.name: sha256_file(path) for path in files} == digests


async def test_a_download_keeps_to_its_api_concurrency(
    server: ReleaseServer, published: dict[str, str], tmp_path: Path
) -> None:
    async with _client(server, max_concurrency=8, max_api_concurrency=2) as client:
        await client.download("v1", tmp_path / "out")
    _downloaded(tmp_path / "out", published)
    assert server.counters.requests["api.download_asset"] == ASSETS + 1  # and the manifest
    # Two at a time, and two were reached: the links did overlap, within the bound.
    assert server.counters.peak_by_origin["api"] == 2


async def test_the_default_lets_a_download_overlap_its_api_calls(
    server: ReleaseServer, published: dict[str, str], tmp_path: Path
) -> None:
    """The bound is not a queue of one by default: one host stays far inside GitHub's 100."""
    async with _client(server, max_concurrency=8) as client:
        await client.download("v1", tmp_path / "out")
    _downloaded(tmp_path / "out", published)
    assert 2 < server.counters.peak_by_origin["api"] <= client.limits.max_api_concurrency


async def test_the_environment_sets_it_for_a_fleet(
    server: ReleaseServer,
    published: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAAMA_API_CONCURRENCY", "1")
    async with _client(server) as client:
        assert client.limits.max_api_concurrency == 1
        await client.download("v1", tmp_path / "out")
    _downloaded(tmp_path / "out", published)
    assert server.counters.peak_by_origin["api"] == 1


async def test_the_cli_flag_sets_it(
    server: ReleaseServer, published: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ("download", REPO, "--tag", "v1", "--dir", str(out), "--quiet")
    run = await run_gaama(*args, "--api-concurrency", "1", api_url=server.api_url)
    assert run.code == 0, run.err
    _downloaded(out, published)
    assert server.counters.peak_by_origin["api"] == 1


async def test_a_bad_environment_value_is_a_usage_error(server: ReleaseServer) -> None:
    env = cli_env(server.api_url, GAAMA_API_CONCURRENCY="many")
    run = await run_gaama("ls", REPO, api_url=server.api_url, env=env)
    assert run.code == 2
    assert "GAAMA_API_CONCURRENCY must be a whole number of at least 1" in run.error_line
    assert server.counters.requests.total() == 0
