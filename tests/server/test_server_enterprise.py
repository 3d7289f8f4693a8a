"""The GitHub Enterprise Server layout: one origin, /api/v3, /api/uploads, direct downloads."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import ServerFactory

from gaama_async.server import Fault, ReleaseServer
from gaama_async.server.cli import add_serve_arguments, config_from_args

pytestmark = pytest.mark.anyio
DATA = bytes(range(256)) * 40


async def _published(make_gh: Any, server: ReleaseServer) -> tuple[Any, dict[str, Any]]:
    gh = make_gh(server)
    release = await gh.create_release("v1")
    await gh.upload(release, "model weights.bin", DATA, label="Weights")
    async with gh.session.get(release["url"]) as response:
        return gh, await response.json()


async def test_every_url_uses_the_one_origin_layout(
    make_server: ServerFactory, make_gh: Any
) -> None:
    server = await make_server(enterprise=True)
    base = server.web_url
    assert server.api_url == f"{base}/api/v3" and server.uploads_url == f"{base}/api/uploads"
    _, release = await _published(make_gh, server)
    repo_api = f"{base}/api/v3/repos/octo/models"
    assert release["url"] == f"{repo_api}/releases/{release['id']}"
    assert release["assets_url"] == f"{repo_api}/releases/{release['id']}/assets"
    assert release["upload_url"] == (
        f"{base}/api/uploads/repos/octo/models/releases/{release['id']}/assets{{?name,label}}"
    )
    assert release["html_url"] == f"{base}/octo/models/releases/tag/v1"
    assert release["author"]["url"] == f"{base}/api/v3/users/octocat"
    assert release["author"]["html_url"] == f"{base}/octocat"
    [asset] = release["assets"]
    assert asset["url"].startswith(f"{repo_api}/releases/assets/")
    assert asset["browser_download_url"] == (
        f"{base}/octo/models/releases/download/v1/model.weights.bin"
    )


async def test_link_headers_stay_under_api_v3(make_server: ServerFactory, make_gh: Any) -> None:
    server = await make_server(enterprise=True)
    gh = make_gh(server)
    for tag in ("a", "b", "c"):
        await gh.create_release(tag)
    async with gh.session.get(f"{gh.repo_url}/releases", params={"per_page": "1"}) as response:
        next_url = response.links["next"]["url"]
    assert str(next_url).startswith(f"{server.api_url}/repositories/")
    async with gh.session.get(next_url) as response:
        assert response.status == 200 and len(await response.json()) == 1


async def test_octet_stream_download_is_a_direct_200_with_ranges(
    make_server: ServerFactory, make_gh: Any
) -> None:
    server = await make_server(enterprise=True)
    gh, release = await _published(make_gh, server)
    url = release["assets"][0]["url"]
    octet = {"Accept": "application/octet-stream"}
    async with gh.session.get(url, headers=octet, allow_redirects=False) as response:
        assert response.status == 200 and await response.read() == DATA
    ranged = {**octet, "Range": "bytes=100-"}
    async with gh.session.get(url, headers=ranged, allow_redirects=False) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 100-{len(DATA) - 1}/{len(DATA)}"
        assert await response.read() == DATA[100:]


async def test_direct_downloads_take_download_faults(
    make_server: ServerFactory, make_gh: Any
) -> None:
    server = await make_server(enterprise=True)
    gh, release = await _published(make_gh, server)
    server.faults.add(Fault("corrupt", route="api.download_asset", after_bytes=10))
    headers = {"Accept": "application/octet-stream"}
    async with gh.session.get(release["assets"][0]["url"], headers=headers) as response:
        body = await response.read()
    assert body != DATA and body[:10] == DATA[:10]
    assert server.counters.faults_injected["corrupt"] == 1


async def test_browser_download_redirects_to_storage_on_the_same_origin(
    make_server: ServerFactory, make_gh: Any, anon: aiohttp.ClientSession
) -> None:
    server = await make_server(enterprise=True)
    gh, release = await _published(make_gh, server)
    browser_url = release["assets"][0]["browser_download_url"]
    async with anon.get(browser_url, allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"].startswith(f"{server.storage_url}/")
    # Same origin, so a client keeps its token on the redirect; storage must accept it here.
    async with gh.session.get(browser_url) as response:
        assert response.status == 200 and await response.read() == DATA
    assert server.counters.requests["web.download"] == 2
    # The web and storage hops both carried the token (counted on arrival; the per-route
    # count of the storage hop may land only after the body reached us).
    assert server.counters.storage_requests_with_authorization == 2


async def test_rate_limits_are_off_by_default(make_server: ServerFactory, make_gh: Any) -> None:
    server = await make_server(enterprise=True, rate_limit=1, writes_per_minute=1)
    gh = make_gh(server)
    for tag in ("a", "b", "c"):
        await gh.create_release(tag)
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200
        assert not any(h.lower().startswith("x-ratelimit") for h in response.headers)
    async with gh.session.get(f"{server.api_url}/rate_limit") as response:
        assert response.status == 404
        assert (await response.json())["message"] == "Rate limiting is not enabled."


async def test_rate_limits_can_be_turned_on(make_server: ServerFactory, make_gh: Any) -> None:
    server = await make_server(enterprise=True, rate_limits=True, rate_limit=2)
    gh = make_gh(server)
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.headers["X-RateLimit-Remaining"] == "1"
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 403 and response.headers["X-RateLimit-Remaining"] == "0"


async def test_unknown_paths_answer_like_each_origin(
    make_server: ServerFactory, make_gh: Any
) -> None:
    server = await make_server(enterprise=True)
    gh = make_gh(server)
    async with gh.session.get(f"{server.api_url}/nothing/here") as response:
        assert response.status == 404
        assert (await response.json())["message"] == "Not Found"
        assert "X-GitHub-Request-Id" in response.headers
    async with gh.session.get(f"{server.web_url}/nothing") as response:
        assert response.status == 404 and "X-GitHub-Request-Id" not in response.headers
    assert server.counters.requests["api.unknown"] == 1
    assert server.counters.requests["web.unknown"] == 1


@pytest.mark.parametrize("enterprise", [False, True])
async def test_repository_endpoint(
    make_server: ServerFactory, make_gh: Any, anon: aiohttp.ClientSession, enterprise: bool
) -> None:
    server = await make_server(enterprise=enterprise)
    url = f"{server.api_url}/repos/octo/models"
    async with make_gh(server).session.get(url) as response:
        repo = await response.json()
    assert response.status == 200
    assert repo["full_name"] == "octo/models" and repo["url"] == url
    assert repo["owner"]["login"] == "octo" and repo["html_url"] == f"{server.web_url}/octo/models"
    assert repo["permissions"]["push"] is True and repo["private"] is False
    async with anon.get(url) as response:
        assert "permissions" not in await response.json()


def test_serve_enterprise_flag(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    plain = config_from_args(parser.parse_args(["--root", str(tmp_path), "--enterprise"]))
    assert plain.enterprise and plain.serves_directly and not plain.limits_enabled
    limited = config_from_args(
        parser.parse_args(["--root", str(tmp_path), "--enterprise", "--rate-limit", "9"])
    )
    assert limited.limits_enabled and limited.rate_limit == 9
    default = config_from_args(parser.parse_args(["--root", str(tmp_path)]))
    assert default.limits_enabled and not default.serves_directly and default.rate_limit == 5000
