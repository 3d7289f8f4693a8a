"""Fixtures for the release server tests: a real server on 127.0.0.1 and raw aiohttp clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gaama_async.server import ReleaseServer, ServerConfig

TOKEN = "tok-1"
AUTH = {"Authorization": f"Bearer {TOKEN}", "User-Agent": "gaama-tests"}
ANON = {"User-Agent": "gaama-tests"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class GitHub:
    """A thin helper over a raw aiohttp session: the requests the tests repeat."""

    def __init__(self, server: ReleaseServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.repo_url = f"{server.api_url}/repos/octo/models"

    async def create_release(self, tag: str = "v1.0.0", **fields: Any) -> dict[str, Any]:
        async with self.session.post(
            f"{self.repo_url}/releases", json={"tag_name": tag, **fields}
        ) as response:
            assert response.status == 201, await response.text()
            data: dict[str, Any] = await response.json()
            return data

    async def upload(
        self,
        release: dict[str, Any],
        name: str,
        data: bytes,
        *,
        label: str | None = None,
        content_type: str = "application/octet-stream",
        expect: int = 201,
    ) -> dict[str, Any]:
        params = {"name": name} if label is None else {"name": name, "label": label}
        async with self.session.post(
            release["upload_url"].split("{")[0],
            params=params,
            data=data,
            headers={"Content-Type": content_type},
        ) as response:
            assert response.status == expect, await response.text()
            result: dict[str, Any] = await response.json()
            return result

    async def download_url(self, asset: dict[str, Any]) -> str:
        async with self.session.get(
            asset["url"], headers={"Accept": "application/octet-stream"}, allow_redirects=False
        ) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]


ServerFactory = Callable[..., Coroutine[Any, Any, ReleaseServer]]


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers with config overrides; all are stopped at teardown."""
    started: list[ReleaseServer] = []

    async def factory(**overrides: Any) -> ReleaseServer:
        tokens = {TOKEN: "octocat", **overrides.pop("tokens", {})}
        # Repositories spring into existence unless a test says otherwise (test_server_repos).
        overrides.setdefault("auto_create", True)
        config = ServerConfig(root=tmp_path / "state", tokens=tokens, **overrides)
        server = ReleaseServer(config)
        await server.start()
        started.append(server)
        return server

    yield factory
    for server in started:
        await server.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> ReleaseServer:
    return await make_server()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as client:
        yield client


@pytest.fixture
async def anon() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=ANON) as client:
        yield client


@pytest.fixture
async def gh(server: ReleaseServer, session: aiohttp.ClientSession) -> GitHub:
    return GitHub(server, session)


@pytest.fixture
def make_gh(session: aiohttp.ClientSession) -> Callable[[ReleaseServer], GitHub]:
    """Helpers for a server started with custom settings."""
    return lambda server: GitHub(server, session)
