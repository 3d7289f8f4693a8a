"""Uploads origin and asset endpoints: upload rules, rename, delete, download, pagination."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import anyio
import pytest

from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio


async def test_upload_answers_201_without_location_or_rate_headers(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    async with gh.session.post(
        release["upload_url"].split("{")[0],
        params={"name": "model.bin"},
        data=b"hello",
        headers={"Content-Type": "application/wasm"},
    ) as response:
        assert response.status == 201
        asset = await response.json()
        headers = response.headers
    assert "Location" not in headers
    assert not [h for h in headers if h.lower().startswith("x-ratelimit")]
    assert "X-GitHub-Request-Id" in headers
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert asset["state"] == "uploaded" and asset["size"] == 5 and asset["label"] == ""
    assert asset["digest"] == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert asset["content_type"] == "application/wasm"
    assert asset["id"] > 2**31
    assert asset["url"].startswith(gh.server.api_url)
    assert asset["uploader"]["login"] == "octocat"


async def test_upload_normalizes_names_and_conflicts_on_the_normalized_name(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    asset = await gh.upload(release, "plugin a.zip", b"1", label="Plugin A")
    assert asset["name"] == "plugin.a.zip" and asset["label"] == "Plugin A"
    conflict = await gh.upload(release, "plugin.a.zip", b"2", expect=422)
    assert conflict["errors"] == [
        {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}
    ]
    assert conflict["request_id"] and conflict["message"] == "Validation Failed"


async def test_upload_refusals(gh: Any, make_server: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    empty = await gh.upload(release, "e.bin", b"", expect=422)
    assert empty["errors"][0]["field"] == "size"
    assert empty["errors"][0]["message"] == "size must be greater than or equal to 1"
    form = await gh.upload(
        release, "f.bin", b"a=b", content_type="application/x-www-form-urlencoded", expect=422
    )
    assert form["errors"][0]["field"] == "content_type"

    async def chunked() -> Any:
        yield b"abc"

    async with gh.session.post(
        release["upload_url"].split("{")[0],
        params={"name": "c.bin"},
        data=chunked(),
        headers={"Content-Type": "application/octet-stream"},
    ) as response:
        assert response.status == 400
        body = await response.json()
    assert body["message"] == "Bad Content-Length: " and "request_id" in body


async def test_upload_size_and_count_limits(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(max_asset_size=10, max_assets=2))
    release = await gh.create_release("v1", draft=True)
    too_big = await gh.upload(release, "big.bin", b"x" * 11, expect=422)
    assert too_big["errors"][0]["field"] == "size"
    await gh.upload(release, "a.bin", b"1")
    await gh.upload(release, "b.bin", b"2")
    full = await gh.upload(release, "c.bin", b"3", expect=422)
    assert full["errors"] == [
        {
            "resource": "ReleaseAsset",
            "code": "custom",
            "field": "file_count",
            "message": "file_count limited to 2 assets",
        }
    ]


async def test_upload_to_api_origin_or_unknown_release_is_404(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    path = f"/repos/octo/models/releases/{release['id']}/assets?name=a.bin"
    async with gh.session.post(gh.server.api_url + path, data=b"x") as response:
        assert response.status == 404
    bad = f"/repos/octo/models/releases/{release['id'] + 1}/assets?name=a.bin"
    async with gh.session.post(gh.server.uploads_url + bad, data=b"x") as response:
        assert response.status == 404
        assert "request_id" in await response.json()


async def test_anonymous_upload_is_401(gh: Any, anon: aiohttp.ClientSession) -> None:
    release = await gh.create_release("v1", draft=True)
    async with anon.post(release["upload_url"].split("{")[0] + "?name=a", data=b"x") as response:
        assert response.status == 401


async def test_get_patch_delete_asset(gh: Any) -> None:
    release = await gh.create_release("v1")
    first = await gh.upload(release, "a.bin", b"1")
    second = await gh.upload(release, "b.bin", b"2")
    async with gh.session.get(first["url"]) as response:
        assert response.status == 200
        assert (await response.json())["name"] == "a.bin"
        assert response.headers["ETag"] and response.headers["Last-Modified"]
    async with gh.session.patch(first["url"], json={"name": "my a.bin", "label": "A"}) as response:
        assert response.status == 200
        renamed = await response.json()
    assert renamed["id"] == first["id"] and renamed["name"] == "my.a.bin"
    assert renamed["label"] == "A"
    assert renamed["browser_download_url"].endswith("/releases/download/v1/my.a.bin")
    async with gh.session.patch(second["url"], json={"name": "my a.bin"}) as response:
        assert response.status == 422
        assert (await response.json())["errors"][0]["code"] == "already_exists"
    async with gh.session.delete(first["url"]) as response:
        assert response.status == 204 and await response.read() == b""
    async with gh.session.get(f"{release['url']}/assets") as response:
        assert [a["id"] for a in await response.json()] == [second["id"]]
    async with gh.session.delete(first["url"]) as response:
        assert response.status == 404


async def test_download_redirects_to_signed_storage(gh: Any) -> None:
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.txt", b"payload", content_type="text/plain")
    async with gh.session.get(
        asset["url"], headers={"Accept": "application/octet-stream"}, allow_redirects=False
    ) as response:
        assert response.status == 302
        assert response.headers["Content-Length"] == "0"
        assert response.headers["Content-Type"] == "text/html;charset=utf-8"
        assert response.headers["X-RateLimit-Used"]
        location = response.headers["Location"]
    assert location.startswith(gh.server.storage_url)
    async with aiohttp.ClientSession() as plain, plain.get(location) as response:
        assert await response.read() == b"payload"
        assert response.headers["Content-Type"] == "application/octet-stream"
    async with gh.session.get(asset["url"]) as response:
        assert (await response.json())["download_count"] == 1


async def test_direct_downloads_stream_200(
    make_server: Any, make_gh: Any, session: aiohttp.ClientSession
) -> None:
    gh = make_gh(await make_server(direct_downloads=True))
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.bin", b"0123456789")
    async with session.get(asset["url"], headers={"Accept": "application/octet-stream"}) as r:
        assert r.status == 200
        assert await r.read() == b"0123456789"
        assert r.headers["X-RateLimit-Resource"] == "core"
    async with session.get(
        asset["url"], headers={"Accept": "application/octet-stream", "Range": "bytes=8-"}
    ) as r:
        assert r.status == 206 and await r.read() == b"89"


async def _page(session: aiohttp.ClientSession, url: str) -> tuple[list[Any], str | None]:
    async with session.get(url) as response:
        assert response.status == 200
        return await response.json(), response.headers.get("Link")


def _rels(link: str) -> list[str]:
    return [part.split('rel="')[1].rstrip('"') for part in link.split(", ")]


async def test_pagination_link_headers(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(writes_per_minute=1000, writes_per_hour=1000))
    release = await gh.create_release("v1", draft=True)
    for i in range(105):
        await gh.upload(release, f"part-{i:03}.bin", b"x")
    base = f"{release['url']}/assets"
    items, link = await _page(gh.session, base)
    assert len(items) == 30 and items[0]["name"] == "part-000.bin"
    assert link is not None and _rels(link) == ["next", "last"]
    repo_id_url = f"{gh.server.api_url}/repositories/"
    assert repo_id_url in link and "page=4" in link
    next_url = link.split(">")[0].lstrip("<")
    items, link = await _page(gh.session, next_url)
    assert items[0]["name"] == "part-030.bin"
    assert link is not None and _rels(link) == ["prev", "next", "last", "first"]
    items, link = await _page(gh.session, base + "?page=4")
    assert len(items) == 15 and link is not None and _rels(link) == ["prev", "first"]
    items, link = await _page(gh.session, base + "?per_page=100")
    assert len(items) == 100 and link is not None and "per_page=100" in link
    items, link = await _page(gh.session, base + "?per_page=500&page=2")
    assert len(items) == 5 and link is not None and _rels(link) == ["prev", "first"]
    async with gh.session.get(release["url"]) as response:
        assert len((await response.json())["assets"]) == 105


async def test_list_releases_pagination(gh: Any, server: ReleaseServer) -> None:
    for i in range(3):
        await gh.create_release(f"v{i}")
    items, link = await _page(gh.session, f"{gh.repo_url}/releases?per_page=2")
    assert [r["tag_name"] for r in items] == ["v2", "v1"]
    assert link is not None and _rels(link) == ["next", "last"]
    assert f"{server.api_url}/repositories/" in link
    items, link = await _page(gh.session, link.split(">")[0].lstrip("<"))
    assert [r["tag_name"] for r in items] == ["v0"]


async def test_short_body_leaves_nothing(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    upload = release["upload_url"].split("{")[0]
    host, port = gh.server.uploads_url.removeprefix("http://").split(":")
    path = upload.removeprefix(gh.server.uploads_url) + "?name=short.bin"
    async with await anyio.connect_tcp(host, int(port)) as stream:
        await stream.send(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\n"
                "Authorization: Bearer tok-1\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: 100\r\n\r\n0123456789"
            ).encode()
        )
    async with gh.session.get(f"{release['url']}/assets") as response:
        assert await response.json() == []
    for _ in range(50):
        if not list((gh.server.config.root / "tmp").iterdir()):
            break
        await anyio.sleep(0.02)
    assert list((gh.server.config.root / "tmp").iterdir()) == []
    await gh.upload(release, "short.bin", b"now complete")
