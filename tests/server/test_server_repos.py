"""Repositories exist on purpose: configured, created through GitHub's endpoints, or (only
when asked) on first use; any other name answers GitHub's 404 and nothing is created."""

from __future__ import annotations

import aiohttp
import pytest
from conftest import ANON, ServerFactory

from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


async def _status(session: aiohttp.ClientSession, method: str, url: str, **kw: object) -> int:
    async with session.request(method, url, **kw) as response:  # type: ignore[arg-type]
        return response.status


async def test_unknown_repositories_answer_404_to_reads_and_writes_and_stay_unknown(
    make_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server: ReleaseServer = await make_server(auto_create=False, repos=("octo/models",))
    repo = f"{server.api_url}/repos/octo/nope"
    assert await _status(session, "GET", repo) == 404
    assert await _status(session, "GET", f"{repo}/releases") == 404
    assert await _status(session, "POST", f"{repo}/releases", json={"tag_name": "v1"}) == 404
    uploads = f"{server.uploads_url}/repos/octo/nope/releases/1/assets?name=a"
    assert await _status(session, "POST", uploads, data=b"x") == 404
    assert await _status(session, "GET", repo) == 404  # the write created nothing
    known = f"{server.api_url}/repos/OCTO/Models/releases"  # names are case-insensitive
    assert await _status(session, "POST", known, json={"tag_name": "v1"}) == 201


async def test_post_user_repos_creates_a_repository_owned_by_the_caller(
    make_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server: ReleaseServer = await make_server(auto_create=False)
    async with session.post(f"{server.api_url}/user/repos", json={"name": "weights"}) as r:
        assert r.status == 201
        created = await r.json()
    assert created["full_name"] == "octocat/weights"
    assert created["url"] == f"{server.api_url}/repos/octocat/weights"
    async with session.post(f"{server.api_url}/user/repos", json={"name": "weights"}) as r:
        assert r.status == 422
        again = await r.json()
    assert again["message"] == "Repository creation failed."
    assert again["errors"][0]["message"] == "name already exists on this account"
    url = f"{server.api_url}/repos/octocat/weights/releases"
    assert await _status(session, "POST", url, json={"tag_name": "v1"}) == 201


async def test_org_repos_and_bad_names(
    make_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server: ReleaseServer = await make_server(auto_create=False)
    org = f"{server.api_url}/orgs/acme/repos"
    assert await _status(session, "POST", org, json={"name": "models"}) == 201
    assert await _status(session, "GET", f"{server.api_url}/repos/acme/models") == 200
    for bad in ("a/b", "", "..", "x" * 101, 7):
        assert await _status(session, "POST", org, json={"name": bad}) == 422
    async with aiohttp.ClientSession(headers=ANON) as anon:
        assert (
            await _status(anon, "POST", f"{server.api_url}/user/repos", json={"name": "z"}) == 401
        )


async def test_configured_repositories_survive_a_restart_with_their_ids(
    make_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    first: ReleaseServer = await make_server(auto_create=False, repos=("octo/models",))
    async with session.get(f"{first.api_url}/repos/octo/models") as r:
        repo_id = (await r.json())["id"]
    await first.stop()
    second: ReleaseServer = await make_server(auto_create=False, repos=("octo/models",))
    async with session.get(f"{second.api_url}/repos/octo/models") as r:
        assert (await r.json())["id"] == repo_id
