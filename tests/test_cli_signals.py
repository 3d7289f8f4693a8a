"""SIGINT and SIGTERM during a publish: the real ``gaama`` process removes its draft first.

The server holds the upload (a ``slow`` fault) so the signal lands while the draft exists
and its upload is in flight. The test relies on nothing else about the publish protocol.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteReceiveStream
from cli_helpers import GAAMA, cli_env, releases_on
from helpers import REPO

from gaama_async.server import Fault, ReleaseServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def _until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (the caller sets the deadline)."""
    while not condition():
        await anyio.sleep(0.02)


async def _read_all(stream: ByteReceiveStream | None) -> str:
    assert stream is not None
    chunks = []
    try:
        while True:
            chunks.append(await stream.receive())
    except anyio.EndOfStream:
        return b"".join(chunks).decode()


def _held_uploads(server: ReleaseServer) -> int:
    """Uploads the server holds right now (taken by the fault, not answered yet)."""
    return server.counters.faults_injected["slow"] - server.counters.requests["upload"]


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_stop_signal_during_publish_removes_the_draft(
    server: ReleaseServer, tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    (tmp_path / "m.bin").write_bytes(b"m" * 100_000)
    # The signal lands within milliseconds of the hold starting; the hold is short because
    # the server's handler sleeps it out after the client hung up (the teardown waits).
    server.faults.add(Fault("slow", route="upload", times=None, delay=2))
    command = [*GAAMA, "publish", REPO, "--tag", "v1", "-q", str(tmp_path / "m.bin")]

    with anyio.fail_after(30):
        async with await anyio.open_process(command, env=cli_env(server.api_url)) as process:
            await _until(lambda: _held_uploads(server) == 1)
            process.send_signal(stop)
            assert await process.wait() == code
            err = await _read_all(process.stderr)

    assert err == (
        f"gaama: error: interrupted by {stop.name}; its draft was removed: "
        "run the same command again to publish\n"
    )
    assert server.counters.requests["api.create_release"] == 1  # the draft was made
    assert await releases_on(server.api_url) == []  # and removed
