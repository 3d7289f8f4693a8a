"""Renamed repositories: the moved fault, real renames, and the /repositories/{id} paths."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gaama_async.server import Fault

pytestmark = pytest.mark.anyio

OCTET = {"Accept": "application/octet-stream"}


async def _repo_id(gh: Any) -> int:
    async with gh.session.get(gh.repo_url) as response:
        repo_id: int = (await response.json())["id"]
        return repo_id


async def test_moved_fault_answers_github_301(gh: Any) -> None:
    await gh.create_release("v1")
    repo_id = await _repo_id(gh)
    gh.server.faults.add(Fault("moved", route="api.list_releases"))
    url = f"{gh.repo_url}/releases?per_page=1"
    async with gh.session.get(url, allow_redirects=False) as response:
        assert response.status == 301
        body = await response.json()
        location = response.headers["Location"]
        assert response.headers["X-RateLimit-Remaining"]  # an API answer, rate headers included
    assert location == f"{gh.server.api_url}/repositories/{repo_id}/releases?per_page=1"
    assert body["message"] == "Moved Permanently" and body["url"] == location
    assert body["documentation_url"].startswith("https://docs.github.com/")
    async with gh.session.get(url) as response:  # the fault is spent; following works too
        assert response.status == 200 and len(await response.json()) == 1
    assert gh.server.counters.fault_hits == {("moved", None): 1}


async def test_moved_write_is_a_307_that_works_when_repeated(gh: Any) -> None:
    repo_id = await _repo_id(gh)
    gh.server.faults.add(Fault("moved", route="api.create_release"))
    async with gh.session.post(
        f"{gh.repo_url}/releases", json={"tag_name": "v1"}, allow_redirects=False
    ) as response:
        assert response.status == 307
        location = response.headers["Location"]
    assert location == f"{gh.server.api_url}/repositories/{repo_id}/releases"
    async with gh.session.post(location, json={"tag_name": "v1"}) as response:
        assert response.status == 201
    assert gh.server.counters.requests["api.create_release"] == 2


async def test_moved_is_only_offered_on_repository_paths(gh: Any) -> None:
    fault = gh.server.faults.add(Fault("moved", times=None))
    async with gh.session.get(f"{gh.server.api_url}/rate_limit") as response:
        assert response.status == 200
    assert fault.hits == 0


async def test_every_repository_route_answers_by_id(gh: Any) -> None:
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.bin", b"abc")
    base = f"{gh.server.api_url}/repositories/{await _repo_id(gh)}"
    rid, aid = release["id"], asset["id"]
    checks: list[tuple[str, str, dict[str, str], Any, int]] = [
        ("GET", "", {}, None, 200),
        ("GET", "/releases", {}, None, 200),
        ("GET", "/releases/latest", {}, None, 200),
        ("GET", "/releases/tags/v1", {}, None, 200),
        ("GET", f"/releases/{rid}", {}, None, 200),
        ("GET", f"/releases/{rid}/assets", {}, None, 200),
        ("GET", f"/releases/assets/{aid}", {}, None, 200),
        ("GET", f"/releases/assets/{aid}", OCTET, None, 302),
        ("PATCH", f"/releases/assets/{aid}", {}, {"label": "x"}, 200),
        ("PATCH", f"/releases/{rid}", {}, {"name": "one"}, 200),
        ("DELETE", f"/releases/assets/{aid}", {}, None, 204),
        ("DELETE", f"/releases/{rid}", {}, None, 204),
    ]
    for method, path, headers, body, status in checks:
        async with gh.session.request(
            method, base + path, headers=headers, json=body, allow_redirects=False
        ) as response:
            assert response.status == status, (method, path, await response.text())
    async with gh.session.get(f"{gh.server.api_url}/repositories/999/releases") as response:
        assert response.status == 404


async def test_a_renamed_repository_redirects_from_its_old_name(
    gh: Any, make_server: Any, make_gh: Any
) -> None:
    await gh.create_release("v1")
    repo_id = await _repo_id(gh)
    gh.server.rename_repo("octo", "models", "weights")
    async with gh.session.get(f"{gh.repo_url}/releases/tags/v1") as response:
        assert response.status == 200  # aiohttp followed the 301
        assert [r.status for r in response.history] == [301]
        release = await response.json()
    assert release["url"].startswith(f"{gh.server.api_url}/repos/octo/weights/")
    async with gh.session.get(f"{gh.server.api_url}/repos/octo/weights") as response:
        assert (await response.json())["id"] == repo_id
    await gh.server.stop()
    again = make_gh(await make_server())  # same root: the old name still redirects
    async with again.session.get(again.repo_url, allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"] == f"{again.server.api_url}/repositories/{repo_id}"


async def test_patch_repo_renames(gh: Any) -> None:
    repo_id = await _repo_id(gh)
    async with gh.session.patch(gh.repo_url, json={"name": "weights"}) as response:
        assert response.status == 200
        assert (await response.json())["full_name"] == "octo/weights"
    async with gh.session.get(f"{gh.repo_url}/releases", allow_redirects=False) as response:
        assert response.status == 301
        location = response.headers["Location"]
    assert location == f"{gh.server.api_url}/repositories/{repo_id}/releases"
    async with gh.session.patch(
        f"{gh.server.api_url}/repos/octo/weights", json={"name": "models"}
    ) as response:
        assert response.status == 200  # renamed back: the name is its own again
    async with gh.session.get(f"{gh.repo_url}/releases", allow_redirects=False) as response:
        assert response.status == 200


async def test_moved_in_enterprise_mode_points_below_api_v3(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(enterprise=True))
    repo_id = await _repo_id(gh)
    gh.server.faults.add(Fault("moved", route="api.get_repo"))
    async with gh.session.get(gh.repo_url, allow_redirects=False) as response:
        assert response.headers["Location"] == f"{gh.server.api_url}/repositories/{repo_id}"


async def test_the_web_host_redirects_a_renamed_repository(gh: Any) -> None:
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a b.bin", b"abc")  # stored as a.b.bin
    gh.server.rename_repo("octo", "models", "weights")
    async with aiohttp.ClientSession() as plain:
        url = asset["browser_download_url"]
        async with plain.get(url, allow_redirects=False) as response:
            assert response.status == 301
            location = response.headers["Location"]
        assert location == url.replace("/octo/models/", "/octo/weights/")
        async with plain.get(url) as response:
            assert await response.read() == b"abc"
