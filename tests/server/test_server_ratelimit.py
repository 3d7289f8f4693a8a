"""Primary budgets, secondary content-creation and concurrency limits, GET /rate_limit."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import pytest
from conftest import TOKEN

from gaama_async.server.ratelimit import SecondaryLimits

pytestmark = pytest.mark.anyio


async def test_primary_budget_exhaustion(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(rate_limit=3))
    remaining = []
    for _ in range(3):
        async with gh.session.get(f"{gh.repo_url}/releases") as response:
            assert response.status == 200
            remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 403
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert response.headers["X-RateLimit-Used"] == "3"
        assert (await response.json())["message"].startswith("API rate limit exceeded for user")


async def test_budget_window_resets(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(rate_limit=1, rate_limit_window=0.3))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 403
    await anyio.sleep(0.35)
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200


async def test_anonymous_budget_is_separate_and_60(gh: Any, anon: aiohttp.ClientSession) -> None:
    async with anon.get(f"{gh.repo_url}/releases") as response:
        assert response.headers["X-RateLimit-Limit"] == "60"
        assert response.headers["X-RateLimit-Used"] == "1"
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.headers["X-RateLimit-Limit"] == "5000"
        assert response.headers["X-RateLimit-Used"] == "1"


async def test_rate_limit_endpoint_is_free_and_versioned(gh: Any) -> None:
    url = f"{gh.server.api_url}/rate_limit"
    async with gh.session.get(url) as response:
        data = await response.json()
    assert data["resources"]["core"]["used"] == 0 and data["rate"] == data["resources"]["core"]
    async with gh.session.get(url, headers={"X-GitHub-Api-Version": "2026-03-10"}) as response:
        data = await response.json()
    assert "rate" not in data and data["resources"]["core"]["remaining"] == 5000


async def test_downloads_and_uploads_count(gh: Any) -> None:
    release = await gh.create_release("v1")  # 1
    asset = await gh.upload(release, "a.bin", b"x")  # 2, without headers
    await gh.download_url(asset)  # 3
    async with gh.session.get(f"{gh.server.api_url}/rate_limit") as response:
        assert (await response.json())["resources"]["core"]["used"] == 3


async def test_secondary_write_limit(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(writes_per_minute=2))
    await gh.create_release("v1", draft=True)
    await gh.create_release("v2", draft=True)
    async with gh.session.post(f"{gh.repo_url}/releases", json={"tag_name": "v3"}) as response:
        assert response.status == 403
        assert response.headers["Retry-After"] == "60"
        assert "secondary rate limit" in (await response.json())["message"]
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert response.status == 200  # reads are not content creation


async def test_secondary_limit_without_retry_after(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(writes_per_hour=1, secondary_retry_after=None))
    await gh.create_release("v1", draft=True)
    async with gh.session.post(f"{gh.repo_url}/releases", json={"tag_name": "v2"}) as response:
        assert response.status == 403
        assert "Retry-After" not in response.headers


def test_secondary_limits_window() -> None:
    limits = SecondaryLimits()
    assert limits.allow_write("k", 0.0, per_minute=1, per_hour=2)
    assert not limits.allow_write("k", 30.0, per_minute=1, per_hour=2)
    assert limits.allow_write("k", 61.0, per_minute=1, per_hour=2)
    assert not limits.allow_write("k", 200.0, per_minute=1, per_hour=2)
    assert limits.allow_write("k", 3601.0, per_minute=1, per_hour=2)


async def test_concurrency_limit(make_server: Any, make_gh: Any) -> None:
    gh = make_gh(await make_server(max_concurrent_requests=1, latency=0.2))
    statuses: list[int] = []

    async def fetch() -> None:
        async with gh.session.get(f"{gh.repo_url}/releases") as response:
            statuses.append(response.status)

    async with anyio.create_task_group() as group:
        group.start_soon(fetch)
        group.start_soon(fetch)
    assert sorted(statuses) == [200, 403]
    assert gh.server.counters.connections_peak >= 2


async def test_concurrency_limit_is_per_caller(make_server: Any, make_gh: Any) -> None:
    """Two tokens at the limit each (guess: GitHub counts per token, as the hourly budget)."""
    gh = make_gh(await make_server(max_concurrent_requests=1, latency=0.2, tokens={"t2": "b"}))
    statuses: list[int] = []

    async def fetch(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with gh.session.get(f"{gh.repo_url}/releases", headers=headers) as response:
            statuses.append(response.status)

    async with anyio.create_task_group() as group:
        group.start_soon(fetch, TOKEN)
        group.start_soon(fetch, "t2")
    assert statuses == [200, 200]
    assert gh.server.counters.peak_by_origin["api"] == 2
    assert gh.server.counters.open_by_origin["api"] == 0
