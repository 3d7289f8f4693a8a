"""The stall_upload fault: the server stops reading an upload and never answers."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import anyio
import pytest

from gaama_async.server import Fault

pytestmark = pytest.mark.anyio

BODY = b"u" * 300_000


async def _upload(gh: Any, release: dict[str, Any], **kwargs: Any) -> None:
    async with gh.session.post(
        release["upload_url"].split("{")[0],
        params={"name": "model.bin"},
        data=BODY,
        headers={"Content-Type": "application/octet-stream"},
        **kwargs,
    ) as response:
        raise AssertionError(f"the stalled upload got an answer: {response.status}")


async def _no_assets(gh: Any, release: dict[str, Any]) -> None:
    async with gh.session.get(f"{release['url']}/assets") as response:
        assert await response.json() == []


async def test_stall_upload_reads_then_hangs_up_after_delay(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    counters = gh.server.counters
    gh.server.faults.add(
        Fault("stall_upload", route="upload", asset="model.bin", after_bytes=1000, delay=0.3)
    )
    received = counters.bytes_received
    started = time.monotonic()
    with anyio.fail_after(5), pytest.raises(aiohttp.ClientError):
        await _upload(gh, release)
    assert time.monotonic() - started >= 0.3
    assert counters.bytes_received - received == 1000  # it stopped reading there
    assert counters.hits("stall_upload", "model.bin") == 1
    await _no_assets(gh, release)


async def test_stall_upload_holds_until_the_client_gives_up(gh: Any) -> None:
    release = await gh.create_release("v1", draft=True)
    counters = gh.server.counters
    gh.server.faults.add(Fault("stall_upload", route="upload", after_bytes=0))  # delay 0: never
    with anyio.fail_after(5), pytest.raises(TimeoutError):
        await _upload(gh, release, timeout=aiohttp.ClientTimeout(total=0.3))
    with anyio.fail_after(5):  # the server notices the hang-up and lets go
        while counters.connections_open:
            await anyio.sleep(0.01)
    assert counters.requests["upload"] == 1 and counters.hits("stall_upload", "model.bin") == 1
    await _no_assets(gh, release)
