"""Shared fixtures: a real local release server on loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import FAST_RETRY, REPO, TOKEN

from gaama_async import GaAMA
from gaama_async.server import ReleaseServer, ServerConfig


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_shared_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests count requests: a cache shared between them would answer for the server.

    The cache is off (tests/test_cache.py turns it on where it is the subject, in its own
    folder), and the platform's default cache folder is moved into a folder of this test, so
    a test that unsets ``GAAMA_CACHE_DIR`` still never reads or writes the user's cache. The
    environment is inherited by the CLI processes some tests start.
    """
    monkeypatch.setenv("GAAMA_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.delenv("GAAMA_OFFLINE", raising=False)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ReleaseServer]:
    # The suite writes to many repositories; unknown ones answering 404 is tested in
    # tests/server/test_server_repos.py.
    config = ServerConfig(root=tmp_path / "github", tokens={TOKEN: "octocat"}, auto_create=True)
    async with ReleaseServer(config) as running:
        yield running


@pytest.fixture
async def client(server: ReleaseServer) -> AsyncIterator[GaAMA]:
    async with GaAMA(
        repo=REPO,
        token=TOKEN,
        api_url=server.api_url,
        retry=FAST_RETRY,
        max_rate_limit_wait=5,
        write_interval=0,
    ) as running:
        yield running
