"""A server clock ahead of or behind the client's: clock_offset and the clock_skew fault."""

from __future__ import annotations

import calendar
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from gaama_async.server import Fault

pytestmark = pytest.mark.anyio

SLACK = 5.0  # seconds a slow machine may take between two clock readings


def _date(response: aiohttp.ClientResponse) -> float:
    return parsedate_to_datetime(response.headers["Date"]).timestamp()


def _stamp(value: str) -> float:
    return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))


def _near(value: float, expected: float) -> bool:
    return abs(value - expected) <= SLACK


@pytest.mark.parametrize("offset", [3600.0, -7200.0])
async def test_everything_the_server_shows_shifts(gh: Any, offset: float) -> None:
    gh.server.config.clock_offset = offset
    release = await gh.create_release("v1")  # published: published_at is "now"
    asset = await gh.upload(release, "a.bin", b"abc")
    skewed = time.time() + offset
    assert _near(_stamp(release["published_at"]), skewed)
    assert _near(_stamp(asset["created_at"]), skewed)
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert _near(_date(response), skewed)
        reset = int(response.headers["X-RateLimit-Reset"])
    assert _near(reset, skewed + gh.server.config.rate_limit_window)
    url = await gh.download_url(asset)
    expiry = float(parse_qs(urlsplit(url).query)["se"][0])
    assert _near(expiry, skewed + gh.server.config.signed_url_ttl)
    async with aiohttp.ClientSession() as plain, plain.get(url) as response:
        assert await response.read() == b"abc"  # the server checks with its own clock
        assert _near(_date(response), skewed)


async def test_a_clock_jump_expires_signed_urls(gh: Any) -> None:
    release = await gh.create_release("v1")
    url = await gh.download_url(await gh.upload(release, "a.bin", b"abc"))
    gh.server.config.clock_offset = gh.server.config.signed_url_ttl + 60
    async with aiohttp.ClientSession() as plain, plain.get(url) as response:
        assert response.status == 403
        assert "Signature not valid" in await response.text()


async def test_clock_skew_fault_sets_the_offset_from_its_hit_on(gh: Any) -> None:
    gh.server.faults.add(Fault("clock_skew", route="api.rate_limit", delay=-600))
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert _near(_date(response), time.time())  # not the route: untouched
    async with gh.session.get(f"{gh.server.api_url}/rate_limit") as response:
        assert _near(_date(response), time.time() - 600)  # the hit itself is skewed
    async with gh.session.get(f"{gh.repo_url}/releases") as response:
        assert _near(_date(response), time.time() - 600)  # and everything after it
    assert gh.server.config.clock_offset == -600
    assert gh.server.counters.fault_hits == {("clock_skew", None): 1}
