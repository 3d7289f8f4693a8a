"""Parallel Range downloads and resume, against the real local server."""

from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path

import anyio
import pytest
from helpers import (
    FAST_RETRY,
    REPO,
    TOKEN,
    interrupt_download,
    kill_once_recorded,
    listing,
    partial_files,
    recorded_done,
    sha256_file,
    sha256_mismatches,
    storage_requests,
    write_random,
)

from gaama_async import GaAMA
from gaama_async._ranged import CHECKPOINT_INTERVAL, checkpoint_due
from gaama_async._ranges import (
    Segment,
    parse_content_range,
    partial_answer_matches,
    plan_segments,
    range_header,
    written_prefix,
)
from gaama_async._resume import ResumeState
from gaama_async.server import Fault, ReleaseServer

MIB = 1 << 20
# What a download costs besides the file's own bytes: API JSON and the manifest.
OVERHEAD = 64 << 10


def test_segments_cover_pieces_in_file_order() -> None:
    segments = plan_segments([10, 5], 4)
    assert [(s.piece, s.start, s.stop, s.file_offset) for s in segments] == [
        (0, 0, 4, 0), (0, 4, 8, 4), (0, 8, 10, 8), (1, 0, 4, 10), (1, 4, 5, 14),
    ]  # fmt: skip
    assert plan_segments([0], 4) == []
    with pytest.raises(ValueError):
        plan_segments([1], 0)


def test_the_resume_record_is_saved_every_so_many_bytes_at_most_once_an_interval() -> None:
    every = 4 * MIB
    assert checkpoint_due(every, every, CHECKPOINT_INTERVAL)
    assert not checkpoint_due(every - 1, every, 60.0)  # too few bytes, however long ago
    assert not checkpoint_due(64 * MIB, every, CHECKPOINT_INTERVAL / 2)  # a fast link: wait


def test_range_headers_and_content_range_checks() -> None:
    assert range_header(0, 100) == "bytes=0-99"
    assert parse_content_range("bytes 10-19/100") == (10, 20, 100)
    assert parse_content_range("bytes 10-19/*") == (10, 20, None)
    assert parse_content_range("items 1-2/3") is None
    assert partial_answer_matches("bytes 10-19/100", 10, 20, 100)
    assert not partial_answer_matches("bytes 10-19/99", 10, 20, 100)
    assert not partial_answer_matches("bytes 0-19/100", 10, 20, 100)


def test_written_prefix_stops_at_the_first_gap() -> None:
    segments = [Segment(0, 0, 4, 0), Segment(0, 4, 8, 4), Segment(0, 8, 10, 8)]
    assert written_prefix(segments, [4, 4, 1]) == 9
    assert written_prefix(segments, [4, 2, 2]) == 6
    assert written_prefix(segments, [0, 4, 2]) == 0


def test_resume_state_round_trips_and_rejects_damage() -> None:
    state = ResumeState("fp", 8, [1, 2], {"7": '"0x1"'})
    assert ResumeState.from_bytes(state.to_bytes()) == state
    for raw in (
        None,
        b"",
        b"{",
        b'{"format": 1}',
        b'{"format":1,"fingerprint":"x","part_size":1,"done":[-1]}',
    ):
        assert ResumeState.from_bytes(raw) is None


pytestmark = pytest.mark.anyio


async def _published(client: GaAMA, tmp_path: Path, size: int, seed: int = 1) -> str:
    source = tmp_path / "src" / "weights.bin"
    source.parent.mkdir(exist_ok=True)
    digest = write_random(source, size, seed=seed)
    await client.publish("v1", [source], overwrite=True)
    return digest


@pytest.fixture
async def ranged(server: ReleaseServer) -> GaAMA:
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, part_size=4 * MIB
    ) as client:
        yield client  # type: ignore[misc]


async def test_large_file_takes_parallel_ranges_and_one_api_call(
    ranged: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digest = await _published(ranged, tmp_path, 30 * MIB + 123)
    server.counters.reset()

    [path] = await ranged.download("v1", tmp_path / "out")

    assert sha256_file(path) == digest
    assert server.counters.requests["storage"] == 8 + 1  # eight ranges and the manifest
    # One storage link each, from the web host: a public repository spends no API call.
    assert server.counters.requests["web.download"] == 1 + 1
    assert server.counters.requests.get("api.download_asset", 0) == 0
    assert server.counters.connections_peak > 2
    assert listing(tmp_path / "out") == ["weights.bin"]


async def test_a_resume_record_staged_by_a_killed_run_is_removed_once_the_file_is_done(
    ranged: GaAMA, tmp_path: Path
) -> None:
    # A run killed while it replaced its resume record leaves the new one staged; the run
    # that finishes the file holds its lock, so nothing else can be writing it.
    digest = await _published(ranged, tmp_path, 10 * MIB)
    private = tmp_path / "out" / ".gaama"
    private.mkdir(parents=True, mode=0o700)
    orphan = private / ".f-weights.bin.partial.json.0badcafe.tmp"
    orphan.write_bytes(b"{}")
    other = private / ".f-other.bin.partial.json.0badcafe.tmp"  # another file's: kept
    other.write_bytes(b"{}")

    [path] = await ranged.download("v1", tmp_path / "out")

    assert sha256_file(path) == digest
    assert not orphan.exists() and other.exists()


@pytest.fixture
def caplog_warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The client's warnings, for sha256_mismatches(): a resume test fails on any."""
    caplog.set_level(logging.WARNING, logger="gaama_async")
    return caplog


async def test_a_cut_mid_range_continues_from_the_last_byte(
    ranged: GaAMA, server: ReleaseServer, tmp_path: Path, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    digest = await _published(ranged, tmp_path, 12 * MIB)
    cut = Fault("cut", route="storage", asset="weights.bin", times=3, after_bytes=3 * MIB + 77)
    server.faults.add(cut)
    server.counters.reset()

    [path] = await ranged.download("v1", tmp_path / "out")

    assert sha256_file(path) == digest
    assert server.counters.hits("cut", "weights.bin") == cut.hits == 3
    assert storage_requests(server, "weights.bin") == 3 + 3  # three ranges, three continued
    # Restarting each cut range from its start would re-send 3 x 3 MiB. Continuing re-sends
    # only what was lost in flight: the reset connection discards its unread socket buffer.
    assert server.counters.bytes_sent < 12 * MIB + 3 * MIB
    assert sha256_mismatches(caplog_warnings) == []  # no wrong offsets hidden by a refetch


async def test_a_range_stalled_mid_body_times_out_and_continues(
    server: ReleaseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Storage bodies are read with blocking MSG_WAITALL reads (``_wire``): the kernel's
    SO_RCVTIMEO must end a read that waits on a stalled range, or the download hangs."""
    async with GaAMA(
        repo=REPO, token=TOKEN, api_url=server.api_url, retry=FAST_RETRY, part_size=4 * MIB,
        read_timeout=0.5,
    ) as client:  # fmt: skip
        digest = await _published(client, tmp_path, 12 * MIB)
        stall = Fault("stall", route="storage", asset="weights.bin", after_bytes=MIB, delay=6)
        server.faults.add(stall)
        server.counters.reset()
        caplog.set_level(logging.INFO, logger="gaama_async")
        started = anyio.current_time()

        [path] = await client.download("v1", tmp_path / "out")

    assert sha256_file(path) == digest
    assert server.counters.hits("stall", "weights.bin") == stall.hits == 1
    assert anyio.current_time() - started < 5  # the read gave up; it did not sit out 6 s
    assert any("no answer in time" in r.getMessage() for r in caplog.records)


async def test_an_expired_signed_url_is_resolved_again_once(
    ranged: GaAMA, server: ReleaseServer, tmp_path: Path
) -> None:
    digest = await _published(ranged, tmp_path, 20 * MIB)
    server.faults.add(Fault("expire", route="storage", asset="weights.bin", times=2))
    server.counters.reset()

    [path] = await ranged.download("v1", tmp_path / "out")

    assert sha256_file(path) == digest
    assert server.counters.hits("expire", "weights.bin") == 2
    # One URL for the manifest, one for the file, one fresh one per expiry at most.
    assert server.counters.requests["api.download_asset"] <= 1 + 1 + 2
    assert storage_requests(server, "weights.bin") == 5 + 2


async def test_an_interrupted_download_resumes_without_refetching(
    ranged: GaAMA, server: ReleaseServer, tmp_path: Path, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    size = 24 * MIB
    digest = await _published(ranged, tmp_path, size)
    server.config.bandwidth = 16 * MIB
    out = tmp_path / "out"
    await interrupt_download(ranged, out, int(0.5 * size))
    assert not (out / "weights.bin").exists()
    done = recorded_done(out)
    assert size * 0.3 < done < size
    server.config.bandwidth = None
    server.counters.reset()

    [path] = await ranged.download("v1", out)

    assert sha256_file(path) == digest
    assert sha256_mismatches(caplog_warnings) == []  # right first time, no hidden refetch
    assert server.counters.bytes_sent <= size - done + OVERHEAD  # only what was missing
    assert listing(out) == ["weights.bin"] and partial_files(out) == []


async def test_a_changed_asset_restarts_cleanly(
    ranged: GaAMA, server: ReleaseServer, tmp_path: Path, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    size = 24 * MIB
    await _published(ranged, tmp_path, size, seed=1)
    server.config.bandwidth = 16 * MIB
    out = tmp_path / "out"
    await interrupt_download(ranged, out, int(0.4 * size))
    assert recorded_done(out) > 0
    server.config.bandwidth = None
    new_digest = await _published(ranged, tmp_path, size, seed=2)
    server.counters.reset()

    [path] = await ranged.download("v1", out)

    assert sha256_file(path) == new_digest
    # The change is seen before any old byte is trusted: one clean copy, no discarded one.
    assert sha256_mismatches(caplog_warnings) == []
    assert server.counters.bytes_sent <= size + OVERHEAD
    assert partial_files(out) == []


async def test_sigkill_at_random_points_then_finish_gives_identical_bytes(
    server: ReleaseServer, tmp_path: Path
) -> None:
    size = 40 * MIB
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url) as client:
        digest = await _published(client, tmp_path, size)
    server.config.bandwidth = 1.5 * MIB  # per connection: over 3 s for the whole file
    out = tmp_path / "out"
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GAAMA_API_URL": server.api_url}
    command = [sys.executable, "-m", "gaama_async", "download", REPO, "--dir", str(out), "-q"]
    rng = random.Random(int(os.environ.get("GAAMA_KILL_SEED", "7")))
    done = 0
    for _ in range(5):  # each run is killed once it has added a random 0.25-2 MiB on disk
        target = done + rng.randrange(MIB // 4, 2 * MIB)
        done = await kill_once_recorded(command, env, out, target)
        assert done >= target  # what the killed run recorded survives into the next one
        assert not (out / "weights.bin").exists()
    server.config.bandwidth = None
    server.counters.reset()

    result = await anyio.run_process(command, env=env, check=False)

    assert result.returncode == 0, result.stderr.decode()
    assert sha256_file(out / "weights.bin") == digest
    assert "sha256 mismatch" not in result.stderr.decode()
    assert server.counters.bytes_sent <= size - done + OVERHEAD
    assert listing(out) == ["weights.bin"] and partial_files(out) == []
