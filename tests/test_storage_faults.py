"""One client-side test per storage (and upload, API) fault kind the server can inject.

Each test aims its fault at ``model.bin`` (every download reads the manifest first), checks
from the server's counters that the fault hit it, and checks the outcome: a verified file,
or one clear error. A test marked ``xfail(strict=True)`` names what the client still lacks;
the mark comes off with the fix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from helpers import (
    FAST_RETRY,
    REPO,
    TOKEN,
    interrupt_download,
    listing,
    partial_files,
    private_repository,
    recorded_done,
    sha256_file,
    sha256_mismatches,
    storage_requests,
    write_random,
)

from gaama_async import GaAMA, GaamaError, TransferError
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio

KIB = 1 << 10
NAME = "model.bin"
SMALL = 200 * KIB  # one stream
LARGE = 1024 * KIB  # four ranges of PART_SIZE
PART_SIZE = 256 * KIB
DEADLINE = 15  # seconds: a client that hangs on a fault fails instead of stalling the suite


@pytest.fixture(autouse=True)
def _warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="gaama_async")
    return caplog


@pytest.fixture
async def ranged(server: ReleaseServer) -> AsyncIterator[GaAMA]:
    """A client that downloads LARGE as parallel ranges, two at a time (so an interruption
    after a third of the bytes leaves the last two ranges still missing)."""
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, part_size=PART_SIZE,
        write_interval=0, max_concurrency=2,
    ) as running:  # fmt: skip
        yield running


async def _publish(client: GaAMA, tmp_path: Path, size: int) -> str:
    source = tmp_path / "src" / NAME
    source.parent.mkdir(exist_ok=True)
    digest = write_random(source, size, seed=size)
    await client.publish("v1", [source])
    return digest


async def _download(client: GaAMA, out: Path) -> Path:
    with anyio.fail_after(DEADLINE):
        [path] = await client.download("v1", out)
    return path


async def _verified(client: GaAMA, server: ReleaseServer, tmp_path: Path, size: int,
                    fault: Fault, caplog: pytest.LogCaptureFixture) -> Path:  # fmt: skip
    """Publish, add ``fault``, download: the file must come out whole, the fault must hit.

    None of these faults alters bytes, so each must be caught for what it is (a short body,
    a wrong answer), never left to the sha256 check and its one discarded copy.
    """
    digest = await _publish(client, tmp_path, size)
    server.faults.add(fault)
    path = await _download(client, tmp_path / "out")
    assert server.counters.hits(fault.action, NAME) >= 1
    assert sha256_file(path) == digest
    assert sha256_mismatches(caplog) == []
    assert listing(tmp_path / "out") == [NAME] and partial_files(tmp_path / "out") == []
    return path


async def test_a_reset_connection_is_continued(
    client: GaAMA,
    server: ReleaseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault = Fault("reset", route="storage", asset=NAME, after_bytes=50 * KIB)
    await _verified(client, server, tmp_path, SMALL, fault, caplog)
    assert server.counters.hits("reset", NAME) == 1
    assert storage_requests(server, NAME) == 2


async def test_a_body_shorter_than_its_content_length_is_not_taken_for_the_file(
    client: GaAMA,
    server: ReleaseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault = Fault("short", route="storage", asset=NAME, after_bytes=50 * KIB)
    await _verified(client, server, tmp_path, SMALL, fault, caplog)
    assert server.counters.hits("short", NAME) == 1
    assert storage_requests(server, NAME) == 2


async def test_a_range_answered_with_the_whole_file_still_gives_the_file(
    ranged: GaAMA,
    server: ReleaseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault = Fault("ignore_range", route="storage", asset=NAME)
    await _verified(ranged, server, tmp_path, LARGE, fault, caplog)
    assert server.counters.hits("ignore_range", NAME) == 1


async def test_a_range_of_a_split_file_answered_with_the_whole_part_still_gives_the_file(
    server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, part_size=PART_SIZE,
        write_interval=0, max_asset_size=LARGE // 2,
    ) as split:  # fmt: skip
        fault = Fault("ignore_range", route="storage", asset=NAME + ".part001")
        digest = await _publish(split, tmp_path, LARGE)
        server.faults.add(fault)
        with anyio.fail_after(DEADLINE):
            [path] = await split.download("v1", tmp_path / "out")

    assert server.counters.hits("ignore_range", NAME + ".part001") == 1
    assert sha256_file(path) == digest
    assert sha256_mismatches(caplog) == []


async def test_a_part_cut_short_while_ranges_are_ignored_starts_the_file_over(
    server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ranges ignored, so each part comes in one request; that request is cut; resuming it
    gets the whole part again (200): the file starts over instead of failing. One
    connection, so the three faults meet the requests in this order."""
    part = NAME + ".part001"
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, part_size=PART_SIZE,
        write_interval=0, max_asset_size=LARGE // 2, max_concurrency=1,
    ) as split:  # fmt: skip
        digest = await _publish(split, tmp_path, LARGE)
        for action, options in (("ignore_range", {}), ("cut", {"after_bytes": 100 * KIB}),
                                ("ignore_range", {})):  # fmt: skip
            server.faults.add(Fault(action, route="storage", asset=part, **options))  # type: ignore[arg-type]
        with anyio.fail_after(DEADLINE):
            [path] = await split.download("v1", tmp_path / "out")

    assert server.counters.hits("ignore_range", part) == 2
    assert server.counters.hits("cut", part) == 1
    assert sha256_file(path) == digest
    assert sha256_mismatches(caplog) == []


async def test_a_blob_whose_etag_changed_under_a_resume_restarts_cleanly(
    ranged: GaAMA, server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    digest = await _publish(ranged, tmp_path, LARGE)
    out = tmp_path / "out"
    server.config.bandwidth = 512 * KIB  # per connection: the interruption lands mid-file
    await interrupt_download(ranged, out, LARGE // 3)
    server.config.bandwidth = None
    assert 0 < recorded_done(out) < LARGE
    server.faults.add(Fault("change", route="storage", asset=NAME))

    path = await _download(ranged, out)

    assert server.counters.hits("change", NAME) == 1
    assert sha256_file(path) == digest
    assert sha256_mismatches(caplog) == []  # the old ETag was refused, not trusted
    assert partial_files(out) == []


async def test_a_blob_not_found_once_is_fetched_again(
    client: GaAMA,
    server: ReleaseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault = Fault("missing", route="storage", asset=NAME)
    await _verified(client, server, tmp_path, SMALL, fault, caplog)
    assert server.counters.hits("missing", NAME) == 1


async def test_a_blob_that_stays_missing_is_one_clear_error(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(client, tmp_path, SMALL)
    server.faults.add(Fault("missing", route="storage", asset=NAME, times=None))

    # Asked again each try (a blob not yet replicated comes back); then one clear error.
    with anyio.fail_after(DEADLINE), pytest.raises(TransferError, match=NAME):
        await client.download("v1", tmp_path / "out")

    assert server.counters.hits("missing", NAME) >= 1
    assert listing(tmp_path / "out") == [] and partial_files(tmp_path / "out") == []


async def test_one_more_storage_redirect_is_followed(
    client: GaAMA,
    server: ReleaseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault = Fault("redirect", route="storage", asset=NAME)
    await _verified(client, server, tmp_path, SMALL, fault, caplog)
    assert server.counters.hits("redirect", NAME) == 1
    assert server.counters.storage_requests_with_authorization == 0


async def test_a_storage_redirect_loop_is_one_clear_error(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    await _publish(client, tmp_path, SMALL)
    server.faults.add(Fault("redirect", route="storage", asset=NAME, times=None))

    with anyio.fail_after(DEADLINE), pytest.raises(TransferError, match=NAME):
        await client.download("v1", tmp_path / "out")

    assert server.counters.hits("redirect", NAME) >= 2
    assert listing(tmp_path / "out") == [] and partial_files(tmp_path / "out") == []


async def test_an_html_page_instead_of_the_bytes_is_never_saved_as_the_file(
    client: GaAMA,
    server: ReleaseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault = Fault("html", route="storage", asset=NAME)
    await _verified(client, server, tmp_path, SMALL, fault, caplog)
    assert server.counters.hits("html", NAME) == 1


async def test_an_upload_the_server_stops_reading_is_abandoned_and_sent_again(
    server: ReleaseServer, tmp_path: Path
) -> None:
    source = tmp_path / NAME
    digest = write_random(source, SMALL)
    server.faults.add(Fault("stall_upload", route="upload", asset=NAME, after_bytes=10 * KIB))
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, write_interval=0,
        read_timeout=0.5,
    ) as client:  # fmt: skip
        with anyio.fail_after(DEADLINE):
            release = await client.publish("v1", [source])

    assert server.counters.hits("stall_upload", NAME) == 1
    [asset] = [a for a in release.assets if a.name == NAME]
    assert asset.is_uploaded and asset.sha256 == digest
    assert sorted(a.name for a in release.assets) == ["gaama-manifest.json", NAME]


async def test_a_renamed_repository_is_followed_to_its_new_address(
    client: GaAMA,
    server: ReleaseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault = Fault("moved", route="api.download_asset", asset=NAME)
    private_repository(server)  # the link comes from the API, which answers the 301
    await _verified(client, server, tmp_path, SMALL, fault, caplog)
    assert server.counters.hits("moved", NAME) == 1


async def test_a_rate_limit_reset_is_read_on_the_servers_clock(
    client: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    """The server's clock runs an hour ahead: x-ratelimit-reset is an hour ahead of ours too.

    The wait must be measured against the server's ``Date`` (about a second), not our clock
    (an hour, past max_rate_limit_wait: a RateLimitError).
    """
    digest = await _publish(client, tmp_path, SMALL)
    private_repository(server)  # the link comes from the API, where the limit is
    server.faults.add(Fault("clock_skew", route="api.*", delay=3600))
    server.faults.add(Fault("primary_limit", route="api.download_asset", asset=NAME,
                            retry_after=1))  # fmt: skip
    started = time.monotonic()

    try:
        path = await _download(client, tmp_path / "out")
    except GaamaError as exc:
        pytest.fail(f"the skewed reset was read on our clock: {exc}")

    assert server.counters.hits("clock_skew", None) == 1
    assert server.counters.hits("primary_limit", NAME) == 1
    assert sha256_file(path) == digest
    assert time.monotonic() - started < 5


async def test_ranges_ignored_under_a_resume_are_not_taken_for_a_changed_blob(
    ranged: GaAMA, server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 200 to If-Range with the ETag we hold is a proxy ignoring ranges, not a new blob."""
    caplog.set_level(logging.WARNING, logger="gaama_async")
    digest = await _publish(ranged, tmp_path, LARGE)
    out = tmp_path / "out"
    server.config.bandwidth = 512 * KIB
    await interrupt_download(ranged, out, LARGE // 3)
    server.config.bandwidth = None
    assert 0 < recorded_done(out) < LARGE
    server.faults.add(Fault("ignore_range", route="storage", asset=NAME, times=None))

    path = await _download(ranged, out)

    assert server.counters.hits("ignore_range", NAME) >= 1
    assert sha256_file(path) == digest
    assert not [r for r in caplog.records if "changed since" in r.getMessage()]
