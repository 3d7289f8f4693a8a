"""The GraphQL endpoint, driven with the very queries gh 2.23 sends (tests/fixtures/gh-graphql)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import ANON, GitHub, ServerFactory

from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio

CAPTURED = Path(__file__).parent.parent / "fixtures" / "gh-graphql"


def _captured(query_name: str, **variables: Any) -> dict[str, Any]:
    query = (CAPTURED / f"{query_name}.graphql").read_text()
    sent = json.loads((CAPTURED / f"{query_name}.json").read_text())
    return {"query": query, "variables": {**sent, **variables}}


async def _ask(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_release_by_tag_finds_published_releases_and_drafts_and_null_for_none(
    server: ReleaseServer, session: aiohttp.ClientSession, gh: GitHub
) -> None:
    url = f"{server.api_url}/graphql"
    published = await gh.create_release("v1")
    draft = await gh.create_release("v2", draft=True)
    found = await _ask(session, url, _captured("RepositoryReleaseByTag", tagName="v1"))
    assert found == {
        "data": {"repository": {"release": {"databaseId": published["id"], "isDraft": False}}}
    }
    found = await _ask(session, url, _captured("RepositoryReleaseByTag", tagName="v2"))
    assert found["data"]["repository"]["release"] == {"databaseId": draft["id"], "isDraft": True}
    missing = await _ask(session, url, _captured("RepositoryReleaseByTag", tagName="nope"))
    assert missing == {"data": {"repository": {"release": None}}}


async def test_drafts_stay_hidden_from_callers_without_push_access(
    make_server: ServerFactory, gh: GitHub
) -> None:
    server: ReleaseServer = gh.server
    await gh.create_release("v2", draft=True)
    server.add_token("reader", "reader", read_only=True)
    async with aiohttp.ClientSession(headers={**ANON, "Authorization": "token reader"}) as reader:
        seen = await _ask(
            reader, f"{server.api_url}/graphql", _captured("RepositoryReleaseByTag", tagName="v2")
        )
        listed = await _ask(reader, f"{server.api_url}/graphql", _captured("RepositoryReleaseList"))
    assert seen == {"data": {"repository": {"release": None}}}
    assert listed["data"]["repository"]["releases"]["nodes"] == []


async def test_release_list_pages_newest_first_and_marks_latest(
    server: ReleaseServer, session: aiohttp.ClientSession, gh: GitHub
) -> None:
    for tag in ("v1", "v2", "v3"):
        await gh.create_release(tag, name=f"model {tag}", prerelease=tag == "v3")
    url = f"{server.api_url}/graphql"
    first = await _ask(session, url, _captured("RepositoryReleaseList", perPage=2))
    releases = first["data"]["repository"]["releases"]
    assert [n["tagName"] for n in releases["nodes"]] == ["v3", "v2"]
    assert [n["isLatest"] for n in releases["nodes"]] == [False, True]
    assert releases["nodes"][0]["isPrerelease"] is True
    assert releases["pageInfo"]["hasNextPage"] is True
    cursor = releases["pageInfo"]["endCursor"]
    rest = await _ask(session, url, _captured("RepositoryReleaseList", perPage=2, endCursor=cursor))
    page = rest["data"]["repository"]["releases"]
    assert [n["tagName"] for n in page["nodes"]] == ["v1"] and not page["pageInfo"]["hasNextPage"]


async def test_errors_come_in_githubs_graphql_shape(
    make_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server = await make_server(auto_create=False, repos=("octo/models",))
    url = f"{server.api_url}/graphql"
    missing = await _ask(session, url, _captured("RepositoryReleaseByTag", name="gone"))
    assert missing["data"] == {"repository": None}
    [error] = missing["errors"]
    assert error["type"] == "NOT_FOUND" and error["path"] == ["repository"]
    assert error["message"] == "Could not resolve to a Repository with the name 'octo/gone'."
    unknown = await _ask(
        session, url, {"query": '{ repository(owner: "octo", name: "models") { stars } }'}
    )
    assert "data" not in unknown and "stars" in unknown["errors"][0]["message"]
    async with (
        aiohttp.ClientSession(headers=ANON) as anon,
        anon.post(url, json={"query": "{ viewer { login } }"}) as response,
    ):
        assert response.status == 401


async def test_latest_release_ref_and_assets(
    server: ReleaseServer, session: aiohttp.ClientSession, gh: GitHub
) -> None:
    release = await gh.create_release("v1")
    await gh.upload(release, "w.bin", b"weights")
    query = """{ viewer { login } repository(owner: "octo", name: "models") {
        latestRelease { tagName releaseAssets(first: 5) { totalCount nodes { name size } } }
        ref(qualifiedName: "refs/tags/v1") { name prefix target { oid } } } }"""
    data = (await _ask(session, f"{server.api_url}/graphql", {"query": query}))["data"]
    assert data["viewer"] == {"login": "octocat"}
    latest = data["repository"]["latestRelease"]
    assert latest["tagName"] == "v1"
    assert latest["releaseAssets"] == {"totalCount": 1, "nodes": [{"name": "w.bin", "size": 7}]}
    ref = data["repository"]["ref"]
    assert ref["name"] == "v1" and ref["prefix"] == "refs/tags/" and len(ref["target"]["oid"]) == 40


async def test_the_enterprise_layout_answers_at_api_graphql(
    make_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server = await make_server(enterprise=True)
    base = server.api_url.removesuffix("/api/v3")
    found = await _ask(session, f"{base}/api/graphql", _captured("RepositoryReleaseByTag"))
    assert found == {"data": {"repository": {"release": None}}}
    async with session.post(f"{base}/api/v3/nothing-here") as response:
        assert response.status == 404
        assert (await response.json())["message"] == "Not Found"  # JSON, not aiohttp's text


async def test_rate_limit_reports_the_callers_live_window(
    server: ReleaseServer, session: aiohttp.ClientSession
) -> None:
    query = {"query": "{ rateLimit { limit remaining resetAt } }"}
    limit = (await _ask(session, f"{server.api_url}/graphql", query))["data"]["rateLimit"]
    assert limit["limit"] == 5000 and 0 < limit["remaining"] <= 5000
    assert (
        int(limit["resetAt"][:4]) >= time.gmtime().tm_year
    )  # the window this request was charged to
