"""Injected faults: every action, matching by route, times and probability."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from gaama_async.server import Fault
from gaama_async.server.faults import FaultSet

pytestmark = pytest.mark.anyio

PAYLOAD = b"0123456789" * 100


@pytest.fixture
async def asset(gh: Any) -> dict[str, Any]:
    release = await gh.create_release("v1")
    uploaded: dict[str, Any] = await gh.upload(release, "a.bin", PAYLOAD)
    return uploaded


@pytest.fixture
async def plain() -> Any:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_status_fault_answers_github_error_once(gh: Any, status: int) -> None:
    gh.server.faults.add(Fault("status", route="api.list_releases", status=status))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == status
        body = await response.json()
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert body["status"] == str(status) and body["message"] and body["documentation_url"]
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200
    assert gh.server.counters.faults_injected["status"] == 1


async def test_route_patterns_and_times(gh: Any) -> None:
    gh.server.faults.add(Fault("status", route="api.get_*", times=2, status=503))
    release = await gh.create_release("v1")  # api.create_release: untouched
    statuses = []
    for _ in range(3):
        async with gh.session.get(release["url"]) as response:
            statuses.append(response.status)
    assert statuses == [503, 503, 200]


async def test_forever_fault_and_clear(gh: Any) -> None:
    gh.server.faults.add(Fault("status", route="api.list_releases", times=None, status=500))
    for _ in range(3):
        async with gh.session.get(f"{gh.repo_url}/releases") as response:
            assert response.status == 500
    gh.server.faults.clear()
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200


def test_probability_is_seeded() -> None:
    def hits(seed: int) -> list[bool]:
        faults = FaultSet()
        faults.seed(seed)
        faults.add(Fault("status", times=None, probability=0.5))
        return [faults.take("api.get_release", {"status"}) is not None for _ in range(50)]

    assert hits(7) == hits(7)
    assert 5 < sum(hits(7)) < 45


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_header"), [(403, 30.0, "30"), (429, None, None)]
)
async def test_secondary_limit_fault(
    gh: Any, status: int, retry_after: float | None, expected_header: str | None
) -> None:
    gh.server.faults.add(Fault("secondary_limit", status=status, retry_after=retry_after))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == status
        assert response.headers.get("Retry-After") == expected_header
        body = await response.json()
    assert "secondary rate limit" in body["message"]


async def test_primary_limit_fault_exhausts_until_reset(gh: Any) -> None:
    gh.server.faults.add(Fault("primary_limit", retry_after=0.5))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 403
        assert response.headers["X-RateLimit-Remaining"] == "0"
        reset = int(response.headers["X-RateLimit-Reset"])
        body = await response.json()
    assert body["message"].startswith("API rate limit exceeded for user ID ")
    assert reset <= time.time() + 2
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 403  # still exhausted, no fault left
    async with gh.session.get(f"{gh.server.api_url}/rate_limit") as response:
        assert (await response.json())["resources"]["core"]["remaining"] == 0


async def test_cut_storage_body(gh: Any, asset: Any, plain: aiohttp.ClientSession) -> None:
    url = await gh.download_url(asset)
    gh.server.faults.add(Fault("cut", route="storage", after_bytes=100))
    with pytest.raises(aiohttp.ClientPayloadError):
        async with plain.get(url) as response:
            await response.read()
    async with plain.get(url) as response:
        assert await response.read() == PAYLOAD


async def test_corrupt_flips_one_byte(gh: Any, asset: Any, plain: aiohttp.ClientSession) -> None:
    url = await gh.download_url(asset)
    gh.server.faults.add(Fault("corrupt", route="storage", after_bytes=5))
    async with plain.get(url) as response:
        body = await response.read()
    assert len(body) == len(PAYLOAD)
    assert [i for i in range(len(body)) if body[i] != PAYLOAD[i]] == [5]


async def test_stall_pauses_mid_body(gh: Any, asset: Any, plain: aiohttp.ClientSession) -> None:
    url = await gh.download_url(asset)
    gh.server.faults.add(Fault("stall", route="storage", after_bytes=10, delay=0.3))
    started = time.monotonic()
    async with plain.get(url) as response:
        assert await response.read() == PAYLOAD
    assert time.monotonic() - started >= 0.3


async def test_slow_delays_the_answer(gh: Any) -> None:
    gh.server.faults.add(Fault("slow", route="api.rate_limit", delay=0.2))
    started = time.monotonic()
    async with gh.session.get(f"{gh.server.api_url}/rate_limit") as response:
        assert response.status == 200
    assert time.monotonic() - started >= 0.2


async def test_expire_fault(gh: Any, asset: Any, plain: aiohttp.ClientSession) -> None:
    url = await gh.download_url(asset)
    gh.server.faults.add(Fault("expire", route="storage"))
    async with plain.get(url) as response:
        assert response.status == 403
    async with plain.get(url) as response:
        assert response.status == 200


async def test_status_fault_on_storage_is_xml(
    gh: Any, asset: Any, plain: aiohttp.ClientSession
) -> None:
    url = await gh.download_url(asset)
    gh.server.faults.add(Fault("status", route="storage", status=503))
    async with plain.get(url) as response:
        assert response.status == 503
        assert "<Error>" in await response.text()


async def test_starter_fault_leaves_a_blocking_placeholder(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    gh.server.faults.add(Fault("starter", route="upload"))
    failed = await gh.upload(release, "model bin", b"abc", expect=502)
    assert failed["request_id"]
    async with gh.session.get(f"{release['url']}/assets") as response:
        (starter,) = await response.json()
    assert starter["state"] == "starter" and starter["size"] == 0
    assert starter["name"] == "model.bin"
    conflict = await gh.upload(release, "model.bin", b"abc", expect=422)
    assert conflict["errors"][0]["code"] == "already_exists"
    async with gh.session.get(
        starter["url"], headers={"Accept": "application/octet-stream"}, allow_redirects=False
    ) as response:
        assert response.status == 404
    async with gh.session.delete(starter["url"]) as response:
        assert response.status == 204
    await gh.upload(release, "model.bin", b"abc")


async def test_cut_upload_leaves_nothing(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    gh.server.faults.add(Fault("cut", route="upload", after_bytes=4))
    with pytest.raises(aiohttp.ClientError):
        await gh.upload(release, "a.bin", b"x" * 200_000)
    async with gh.session.get(f"{release['url']}/assets") as response:
        assert await response.json() == []
    assert list((gh.server.config.root / "tmp").iterdir()) == []
    await gh.upload(release, "a.bin", b"x" * 10)


async def test_cut_direct_download(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(direct_downloads=True))
    release = await gh.create_release("v1")
    asset = await gh.upload(release, "a.bin", PAYLOAD)
    gh.server.faults.add(Fault("cut", route="api.download_asset", after_bytes=10))
    with pytest.raises(aiohttp.ClientPayloadError):
        async with gh.session.get(
            asset["url"], headers={"Accept": "application/octet-stream"}
        ) as response:
            await response.read()
    assert gh.server.counters.faults_injected["cut"] == 1
