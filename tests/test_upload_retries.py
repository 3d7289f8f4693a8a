"""Uploads retry through the one retry layer: progress renews the budget, a dead end does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from helpers import REPO, TOKEN, sha256_file, write_random

from gaama_async import GaAMA, RetryPolicy
from gaama_async.errors import TransferError
from gaama_async.server import Fault, ReleaseServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]
MIB = 1 << 20
TWO_TRIES = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02)


@pytest.fixture
async def impatient(server: ReleaseServer) -> AsyncIterator[GaAMA]:
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url, retry=TWO_TRIES,
                     write_interval=0) as client:  # fmt: skip
        yield client


async def test_an_upload_that_gets_further_each_try_gets_a_fresh_budget(
    impatient: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digest = write_random(tmp_path / "weights.bin", 40 * MIB, seed=7)
    # Two cuts, each further in than the last: more failures than the two tries allow,
    # but every one of them moved the upload on. (Spaced well past the socket buffers.)
    for after in (12 * MIB, 28 * MIB):
        server.faults.add(Fault("cut", route="upload", after_bytes=after))

    await impatient.publish("v1", [tmp_path / "weights.bin"])

    assert server.counters.faults_injected["cut"] == 2
    [path] = await impatient.download("v1", tmp_path / "out")
    assert sha256_file(path) == digest


async def test_an_upload_cut_at_the_same_place_gives_up_after_its_tries(
    impatient: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    write_random(tmp_path / "model.bin", 20_000, seed=8)
    server.faults.add(Fault("cut", route="upload", times=None, after_bytes=100))

    with pytest.raises(TransferError, match=r"Uploading 'model\.bin' .* failed after 2 tries"):
        await impatient.publish("v1", [tmp_path / "model.bin"])

    assert server.counters.faults_injected["cut"] == 2
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession(headers=headers) as api,
        api.get(f"{server.api_url}/repos/{REPO}/releases") as listed,
    ):
        assert await listed.json() == []  # the draft went with the failure
