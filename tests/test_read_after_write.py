"""The client rides out GitHub's read-after-write lag (spec 9.3) where it just wrote, and
only there: the server's lag mode hides what was just written, and counts each hit."""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import pytest
from helpers import REPO, TOKEN, write_random

from gaama_async import GaAMA, NotFoundError, RetryPolicy
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio
RIDES_OUT = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, after_write_wait=0.1)


def _client(server: ReleaseServer, retry: RetryPolicy = RIDES_OUT) -> GaAMA:
    return GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, retry=retry, write_interval=0)


async def _visible(client: GaAMA, tag: str) -> None:
    with anyio.fail_after(5):
        while True:
            with contextlib.suppress(NotFoundError):
                await client.get_release(tag)
                return
            await anyio.sleep(0.05)


def _requests(server: ReleaseServer, route: str, method: str) -> int:
    return sum(r.route == route and r.method == method for r in server.counters.log)


async def test_publish_reads_back_its_release_through_the_lag(
    server: ReleaseServer, tmp_path: Path
) -> None:
    write_random(tmp_path / "model.bin", 5000)
    server.config.read_after_write_lag = 0.25
    async with _client(server) as client:
        release = await client.publish("v1", [tmp_path / "model.bin"])
    assert not release.draft and {a.name for a in release.assets} >= {"model.bin"}
    hidden = [r for r in server.counters.log if r.status == 404]
    assert {r.route for r in hidden} == {
        "api.get_release_by_tag",  # before the release exists: not lag
        "api.update_release",  # publishing the draft created a moment ago
        "api.get_release",  # reading back the release just published
    }
    assert server.counters.hits("lag", None) == len(hidden) - 1


async def test_overwrite_renames_the_asset_it_just_uploaded_through_the_lag(
    server: ReleaseServer, tmp_path: Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"one")
    async with _client(server) as client:
        await client.publish("v1", [tmp_path / "model.bin"])
        (tmp_path / "model.bin").write_bytes(b"two")
        server.config.read_after_write_lag = 0.25
        await _visible(client, "v1")  # the release itself was written a moment ago
        release = await client.publish("v1", [tmp_path / "model.bin"], overwrite=True)
    assert server.counters.hits("lag", "model.bin.gaama-replacing") >= 1
    assert [a.name for a in release.assets if a.name.startswith("model")] == ["model.bin"]


async def test_the_lag_retry_is_bounded_and_ends_in_not_found(
    server: ReleaseServer, tmp_path: Path
) -> None:
    write_random(tmp_path / "model.bin", 5000)
    server.config.read_after_write_lag = 60.0
    async with _client(server) as client:
        with pytest.raises(NotFoundError):
            await client.publish("v1", [tmp_path / "model.bin"])
    assert _requests(server, "api.update_release", "PATCH") == RIDES_OUT.after_write_tries
    assert _requests(server, "api.delete_release", "DELETE") == 1  # the draft is removed


async def test_a_read_of_what_others_wrote_is_not_retried(
    server: ReleaseServer, tmp_path: Path
) -> None:
    write_random(tmp_path / "model.bin", 5000)
    async with _client(server) as writer, _client(server) as reader:
        release = await writer.publish("v1", [tmp_path / "model.bin"])
        assert not release.draft
        server.config.read_after_write_lag = 60.0  # so the release just published lags
        server.counters.reset()
        with pytest.raises(NotFoundError):
            await reader.get_release("v1")
    tries = [r for r in server.counters.log if r.path.endswith("/releases/tags/v1")]
    assert len(tries) == 1  # no retry (another lookup may follow: an alias named v1)
    assert server.counters.hits("lag", None) == 1
