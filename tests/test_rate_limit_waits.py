"""While GitHub says wait, no task of the client sends anything to the API or uploads origins.

Several transfers of one client run at once and one of them is told to wait: a secondary
limit with ``retry-after``, or an exhausted primary limit (``x-ratelimit-remaining: 0``, the
reset a second ahead). The server's request log, with the time each request came in, shows
that nothing reached the API or uploads origins during the wait, and that every transfer went
on afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import REPO, TOKEN, RequestStarts, Timed, private_repository

from gaama_async import GaAMA, RetryPolicy
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio

FILES = 12
WAIT = 1.0  # the retry-after of the secondary limit, the reset of the primary one
# The first moments after the limit's answer are not watched: a request another task sent
# just before the answer reached the client may still be coming in.
TOLERANCE = 0.1
# Every answer a little late while the transfer under test runs, so some transfers are still
# queued when the limit comes and would run on into the wait.
LATENCY = 0.1
# A retry that ignored the wait would come after this backoff: inside the watched window.
PATIENT_RETRY = RetryPolicy(attempts=4, initial_wait=0.3, max_wait=0.3)


@pytest.fixture
async def client(server: ReleaseServer) -> AsyncIterator[GaAMA]:
    """Fewer connections than files (four: a secondary limit halves them to two, so one is
    left for a task that does not wait)."""
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=PATIENT_RETRY,
        max_concurrency=4, write_interval=0, max_rate_limit_wait=10,
    ) as running:  # fmt: skip
        yield running


def _files(tmp_path: Path) -> list[Path]:
    paths = []
    for index in range(FILES):
        path = tmp_path / "src" / f"f{index}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes([index]) * (1000 + index))
        paths.append(path)
    return paths


def _the_limit(starts: RequestStarts) -> Timed:
    """The first rate-limit answer of the run.

    Requests already under way get the exhausted primary budget's 403 as well; a limit
    answered to a request sent after the first would be the server catching the client early.
    """
    first, *others = [t for t in starts.timed if t.record.status in (403, 429)]
    assert [t for t in others if t.start > first.record.time + TOLERANCE] == []
    return first


def _sent_during_the_wait(starts: RequestStarts, limit: Timed) -> list[str]:
    since, until = limit.record.time + TOLERANCE, limit.record.time + WAIT
    return [
        f"{t.record.method} {t.record.route} {t.start - limit.record.time:.3f} s after the limit"
        for t in starts.timed
        if t.rate_limited_origin and since < t.start < until
    ]


def _after_the_wait(starts: RequestStarts, limit: Timed, route: str) -> list[str]:
    """The paths of ``route`` requests that came in once the wait was over."""
    return [
        t.record.path
        for t in starts.timed
        if t.record.route == route and t.start >= limit.record.time + WAIT
    ]


async def test_a_secondary_limit_pauses_every_upload_of_the_client(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    files = _files(tmp_path)
    server.faults.add(Fault("secondary_limit", route="upload", asset="f2.bin", status=429,
                            retry_after=WAIT))  # fmt: skip
    starts = RequestStarts(server)
    server.config.latency = LATENCY

    release = await client.publish("v1", files)

    assert server.counters.hits("secondary_limit", "f2.bin") == 1
    limit = _the_limit(starts)
    assert _sent_during_the_wait(starts, limit) == []
    resumed = _after_the_wait(starts, limit, "upload")
    assert any("name=f2.bin" in path for path in resumed)  # the limited upload, again
    assert len(resumed) >= 3  # and others that were queued behind the limiter
    assert {f.name for f in files} <= {a.name for a in release.assets}


async def test_a_primary_limit_pauses_every_download_of_the_client(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    files = _files(tmp_path)
    await client.publish("v1", files)
    private_repository(server)  # links come from the API, where the limit is
    # The budget is exhausted until WAIT from now: 403, x-ratelimit-remaining 0, the reset.
    server.faults.add(Fault("primary_limit", route="api.download_asset", asset="f2.bin",
                            retry_after=WAIT))  # fmt: skip
    starts = RequestStarts(server)
    server.config.latency = LATENCY

    paths = await client.download("v1", tmp_path / "out")

    assert server.counters.hits("primary_limit", "f2.bin") == 1
    limit = _the_limit(starts)
    assert _sent_during_the_wait(starts, limit) == []
    resumed = _after_the_wait(starts, limit, "api.download_asset")
    assert len(resumed) >= 3  # f2.bin again, and the files queued behind the limiter
    assert {p.name: p.read_bytes() for p in paths} == {f.name: f.read_bytes() for f in files}
