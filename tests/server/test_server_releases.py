"""Releases endpoints of the API origin: create, get, list, latest, update, delete."""

from __future__ import annotations

import base64
import re
from typing import Any

import aiohttp
import pytest

from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio

JSON_TYPE = "application/json; charset=utf-8"


async def test_create_release_answers_201_with_location_and_github_headers(gh: Any) -> None:
    async with gh.session.post(
        f"{gh.repo_url}/releases", json={"tag_name": "v1.0.0", "name": "One", "body": "notes"}
    ) as response:
        assert response.status == 201
        release = await response.json()
        headers = response.headers
    assert headers["Location"] == release["url"]
    assert headers["Content-Type"] == JSON_TYPE
    assert headers["X-GitHub-Api-Version-Selected"] == "2022-11-28"
    assert headers["X-RateLimit-Resource"] == "core"
    assert headers["X-RateLimit-Limit"] == "5000"
    assert headers["X-GitHub-Media-Type"] == "github.v3; format=json"
    assert re.fullmatch(r"[0-9A-F]{4}:[0-9A-F]{4}:[0-9A-F]{7}:[0-9A-F]{7}:[0-9A-F]{8}",
                        headers["X-GitHub-Request-Id"])  # fmt: skip
    assert release["id"] > 2**31
    assert release["draft"] is False and release["prerelease"] is False
    assert release["created_at"] == "2024-01-02T03:04:05Z"
    assert release["published_at"] is not None
    assert release["html_url"] == f"{gh.server.web_url}/octo/models/releases/tag/v1.0.0"
    assert release["upload_url"] == (
        f"{gh.server.uploads_url}/repos/octo/models/releases/{release['id']}/assets{{?name,label}}"
    )
    assert release["author"]["login"] == "octocat"
    assert release["tarball_url"].endswith("/tarball/v1.0.0")
    assert isinstance(release["node_id"], str)


async def test_drafts_are_untagged_repeatable_and_invisible_by_tag(gh: Any) -> None:
    first = await gh.create_release("v2", draft=True)
    second = await gh.create_release("v2", draft=True)
    assert first["id"] != second["id"]
    for draft in (first, second):
        assert re.search(r"/releases/tag/untagged-[0-9a-f]{20}$", draft["html_url"])
        assert draft["published_at"] is None
        assert draft["tag_name"] == "v2"
    async with gh.session.get(f"{gh.repo_url}/releases/tags/v2") as response:
        assert response.status == 404
        body = await response.json()
    assert body["message"] == "Not Found" and body["status"] == "404"
    async with gh.session.head(f"{gh.repo_url}/releases/tags/v2") as response:
        assert response.status == 404


async def test_published_tag_conflict_is_422_already_exists(gh: Any) -> None:
    await gh.create_release("v1")
    await gh.create_release("v1", draft=True)  # a draft beside a published release is fine
    async with gh.session.post(f"{gh.repo_url}/releases", json={"tag_name": "v1"}) as response:
        assert response.status == 422
        body = await response.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [
        {"resource": "Release", "code": "already_exists", "field": "tag_name"}
    ]
    assert body["status"] == "422" and "documentation_url" in body


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"tag_name": "v1", "make_latest": True}, "make_latest"),
        ({"tag_name": "v1", "make_latest": "yes"}, "make_latest"),
        ({"tag_name": "v1", "draft": "no"}, "draft"),
        ({"tag_name": 5}, "tag_name"),
    ],
)
async def test_wrongly_typed_fields_are_422(
    gh: Any, payload: dict[str, Any], fragment: str
) -> None:
    async with gh.session.post(f"{gh.repo_url}/releases", json=payload) as response:
        assert response.status == 422
        body = await response.json()
    assert fragment in body["message"]


async def test_missing_tag_name_is_422_missing_field(gh: Any) -> None:
    async with gh.session.post(f"{gh.repo_url}/releases", json={"name": "x"}) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["code"] == "missing_field"


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"{nope", "Problems parsing JSON"), (b"[1, 2]", "Body should be a JSON object")],
)
async def test_bad_json_bodies_are_400(gh: Any, raw: bytes, message: str) -> None:
    async with gh.session.post(
        f"{gh.repo_url}/releases", data=raw, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["message"] == message


async def test_get_by_id_by_tag_with_slash_and_head(gh: Any) -> None:
    release = await gh.create_release("release/2024.1")
    async with gh.session.get(release["url"]) as response:
        assert response.status == 200
        assert (await response.json())["id"] == release["id"]
        assert response.headers["ETag"].startswith('"')
        assert "Last-Modified" in response.headers
    for path in ("release/2024.1", "release%2F2024.1"):
        async with gh.session.get(f"{gh.repo_url}/releases/tags/{path}") as response:
            assert response.status == 200, path
            assert (await response.json())["id"] == release["id"]
    async with gh.session.head(f"{gh.repo_url}/releases/tags/release/2024.1") as response:
        assert response.status == 200
    async with gh.session.get(f"{gh.repo_url}/releases/{release['id'] + 999}") as response:
        assert response.status == 404


async def test_latest_skips_drafts_and_prereleases(gh: Any) -> None:
    async with gh.session.get(f"{gh.repo_url}/releases/latest") as response:
        assert response.status == 404
    await gh.create_release("v0.9", draft=True)
    await gh.create_release("v1.1-rc", prerelease=True)
    stable = await gh.create_release("v1.0")
    newer = await gh.create_release("v1.2")
    async with gh.session.get(f"{gh.repo_url}/releases/latest") as response:
        assert (await response.json())["id"] == newer["id"]
    await gh.create_release("v0.1", make_latest="false")
    async with gh.session.get(f"{gh.repo_url}/releases/latest") as response:
        assert (await response.json())["id"] == newer["id"]
    async with gh.session.patch(stable["url"], json={"make_latest": "true"}) as response:
        assert response.status == 200
    async with gh.session.get(f"{gh.repo_url}/releases/latest") as response:
        assert (await response.json())["id"] == stable["id"]


async def test_list_is_newest_first_and_hides_drafts_from_anonymous(
    gh: Any, anon: aiohttp.ClientSession
) -> None:
    ids = [(await gh.create_release(f"v{i}", draft=i == 1))["id"] for i in range(3)]
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert [r["id"] for r in await response.json()] == ids[::-1]
        assert "Link" not in response.headers
    async with anon.get(f"{gh.repo_url}/releases") as response:
        assert [r["id"] for r in await response.json()] == [ids[2], ids[0]]
        assert response.headers["Cache-Control"].startswith("public")
    async with anon.get(f"{gh.repo_url}/releases/{ids[1]}") as response:
        assert response.status == 404


async def test_publishing_a_draft_switches_urls_and_sets_published_at(gh: Any) -> None:
    draft = await gh.create_release("v3", draft=True)
    asset = await gh.upload(draft, "model.bin", b"abc")
    assert "/releases/download/untagged-" in asset["browser_download_url"]
    async with gh.session.patch(
        draft["url"], json={"draft": False, "make_latest": "true", "name": "Three"}
    ) as response:
        assert response.status == 200
        published = await response.json()
    assert published["html_url"].endswith("/releases/tag/v3")
    assert published["published_at"] is not None and published["name"] == "Three"
    assert published["assets"][0]["browser_download_url"].endswith(
        "/releases/download/v3/model.bin"
    )
    async with gh.session.get(f"{gh.repo_url}/releases/tags/v3") as response:
        assert response.status == 200


async def test_publishing_into_a_taken_tag_is_422(gh: Any) -> None:
    await gh.create_release("v4")
    draft = await gh.create_release("v4", draft=True)
    async with gh.session.patch(draft["url"], json={"draft": False}) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["code"] == "already_exists"


async def test_delete_release_is_204_empty_and_takes_assets(gh: Any) -> None:
    release = await gh.create_release("v5")
    asset = await gh.upload(release, "a.bin", b"x")
    async with gh.session.delete(release["url"]) as response:
        assert response.status == 204
        assert await response.read() == b""
        assert "X-RateLimit-Remaining" in response.headers
    for url in (release["url"], asset["url"]):
        async with gh.session.get(url) as response:
            assert response.status == 404


async def test_etag_if_none_match_gives_304_not_counted(gh: Any) -> None:
    release = await gh.create_release("v6")
    async with gh.session.get(release["url"]) as response:
        etag = response.headers["ETag"]
        used = int(response.headers["X-RateLimit-Used"])
    async with gh.session.get(release["url"], headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert int(response.headers["X-RateLimit-Used"]) == used


async def test_header_checks_user_agent_and_api_version(server: ReleaseServer) -> None:
    url = f"{server.api_url}/repos/octo/models/releases"
    async with (
        aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as bare,
        bare.get(url) as response,
    ):
        assert response.status == 403
    async with aiohttp.ClientSession(headers={"User-Agent": "t"}) as client:
        async with client.get(url, headers={"X-GitHub-Api-Version": "2021-01-01"}) as response:
            assert response.status == 400
        for version in ("2022-11-28", "2026-03-10"):
            async with client.get(url, headers={"X-GitHub-Api-Version": version}) as response:
                assert response.status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer tok-1",
        "token tok-1",
        "Basic " + base64.b64encode(b"octocat:tok-1").decode(),
    ],
)
async def test_auth_schemes(server: ReleaseServer, authorization: str) -> None:
    async with (
        aiohttp.ClientSession(
            headers={"Authorization": authorization, "User-Agent": "t"}
        ) as client,
        client.post(
            f"{server.api_url}/repos/octo/models/releases", json={"tag_name": "v1", "draft": True}
        ) as response,
    ):
        assert response.status == 201
        assert (await response.json())["author"]["login"] == "octocat"


async def test_bad_credentials_401_without_challenge(server: ReleaseServer) -> None:
    async with (
        aiohttp.ClientSession(
            headers={"Authorization": "Bearer nope", "User-Agent": "t"}
        ) as client,
        client.get(f"{server.api_url}/repos/octo/models/releases") as response,
    ):
        assert response.status == 401
        assert "WWW-Authenticate" not in response.headers
        body = await response.json()
    assert body["message"] == "Bad credentials" and body["status"] == "401"


async def test_anonymous_write_401_and_read_only_token_403(
    make_server: Any, anon: aiohttp.ClientSession
) -> None:
    server = await make_server(read_only_tokens=frozenset({"ro"}), tokens={"ro": "reader"})
    url = f"{server.api_url}/repos/octo/models/releases"
    async with anon.post(url, json={"tag_name": "v1"}) as response:
        assert response.status == 401
    async with anon.post(url, json={"tag_name": "v1"}, headers={"Authorization": "token ro"}) as r:
        assert r.status == 403
        assert (await r.json())["message"] == "Resource not accessible by personal access token"
    async with anon.get(url, headers={"Authorization": "token ro"}) as response:
        assert response.status == 200


async def test_private_repos_hide_everything_from_anonymous(
    make_server: Any, anon: aiohttp.ClientSession
) -> None:
    server = await make_server(private=True)
    url = f"{server.api_url}/repos/octo/models/releases"
    async with anon.get(url) as response:
        assert response.status == 404
        assert "WWW-Authenticate" not in response.headers
    async with anon.get(url, headers={"Authorization": "Bearer tok-1"}) as response:
        assert response.status == 200
