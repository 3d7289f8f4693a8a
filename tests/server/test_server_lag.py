"""Read-after-write lag (spec 9.3): what was just written is briefly not found, and counted."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import anyio
import pytest
from conftest import GitHub, ServerFactory

pytestmark = pytest.mark.anyio


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        return response.status


async def test_a_release_just_created_is_not_found_until_the_lag_passes(
    make_server: ServerFactory,
    make_gh: Callable[..., GitHub],
    session: aiohttp.ClientSession,
) -> None:
    server = await make_server(read_after_write_lag=0.5)
    gh = make_gh(server)
    release = await gh.create_release("v1")
    assert await _status(session, release["url"]) == 404
    assert await _status(session, f"{gh.repo_url}/releases/tags/v1") == 404
    async with session.get(f"{gh.repo_url}/releases") as listed:
        assert await listed.json() == []
    assert server.counters.hits("lag", None) == 3
    with anyio.fail_after(5):
        while await _status(session, release["url"]) == 404:
            await anyio.sleep(0.05)
    assert await _status(session, f"{gh.repo_url}/releases/tags/v1") == 200


async def test_an_asset_just_uploaded_404s_on_get_and_patch_but_not_delete(
    make_server: ServerFactory,
    make_gh: Callable[..., GitHub],
    session: aiohttp.ClientSession,
) -> None:
    server = await make_server()
    gh = make_gh(server)
    release = await gh.create_release("v1")
    server.config.read_after_write_lag = 30.0  # only what is written from now on
    asset = await gh.upload(release, "model.bin", b"weights")
    assert await _status(session, asset["url"]) == 404
    async with session.patch(asset["url"], json={"label": "x"}) as patched:
        assert patched.status == 404
    assert server.counters.hits("lag", "model.bin") == 2
    async with session.delete(asset["url"]) as deleted:
        assert deleted.status == 204


async def test_no_lag_by_default(gh: GitHub, session: aiohttp.ClientSession) -> None:
    release = await gh.create_release("v1")
    assert await _status(session, release["url"]) == 200
    assert gh.server.counters.hits("lag", None) == 0
