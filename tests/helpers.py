"""Helpers shared by the test modules (imported as ``helpers``; tests/ is on sys.path)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from gaama_async import GaAMA, ProgressEvent, RetryPolicy
from gaama_async._resume import ResumeState
from gaama_async.server import ReleaseServer
from gaama_async.server.counters import RequestRecord

TOKEN = "ghp_" + "T0kenForTests" * 3
REPO = "acme/models"
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05)


def write_random(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` seeded random bytes to ``path``; return their sha256."""
    rng = random.Random(seed)
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        left = size
        while left:
            block = rng.randbytes(min(left, 1 << 20))
            hasher.update(block)
            handle.write(block)
            left -= len(block)
    return hasher.hexdigest()


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


def listing(folder: Path) -> list[str]:
    """The names in ``folder``, without the client's own state there (the download record,
    locks, and the private ``.gaama`` folder; check partial files with partial_files())."""
    hidden = (".gaama-downloads.json", ".gaama-locks", ".gaama")
    return sorted(p.name for p in folder.iterdir() if p.name not in hidden)


# Partial downloads, wherever the client keeps them (beside the file or in a hidden folder).


def partial_files(folder: Path) -> list[Path]:
    """Every partial download or resume record under ``folder``, hidden folders included."""
    return sorted(p for p in folder.rglob("*partial*") if p.is_file())


def recorded_done(folder: Path) -> int:
    """Bytes the resume records under ``folder`` say are on disk (0 without a record)."""
    done = 0
    for path in partial_files(folder):
        if path.name.endswith(".json"):
            state = ResumeState.from_bytes(path.read_bytes())
            done += sum(state.done) if state is not None else 0
    return done


def sha256_mismatches(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The client's "sha256 mismatch" warnings, each one a copy discarded and fetched again.

    The integrity retry would hide a resume that wrote bytes at wrong offsets: a resume test
    asserts this is empty. ``caplog`` must capture WARNING on ``gaama_async``.
    """
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("gaama_async") and "sha256 mismatch" in r.getMessage()
    ]


def storage_requests(server: ReleaseServer, asset: str) -> int:
    """Storage requests for ``asset`` (the signed URL names the file it serves)."""
    wanted = [f"attachment; filename={asset}"]
    return sum(
        parse_qs(urlsplit(r.path).query).get("rscd") == wanted
        for r in server.counters.log
        if r.route == "storage"
    )


def private_repository(server: ReleaseServer) -> None:
    """Make every repository private, so downloads resolve their storage links on the API
    (``api.download_asset``), as for any private repository: public ones take them from the
    web host without spending API calls (``_storage.StorageLink``)."""
    server.config.private = True


async def kill_once_recorded(
    command: list[str], env: dict[str, str], out: Path, at_least: int, *, deadline: float = 30
) -> int:
    """Start ``command`` (a CLI download into ``out``) and SIGKILL it as soon as its resume
    records hold ``at_least`` bytes; return the bytes they hold after the kill.

    Waiting for the record, not for a guessed time, makes every kill land mid-transfer
    however slowly the machine starts Python.
    """
    process = await anyio.open_process(command, env=env)
    try:
        with anyio.fail_after(deadline):
            while recorded_done(out) < at_least:
                assert process.returncode is None, "the download ended before the kill"
                await anyio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
    return recorded_done(out)


@dataclass(frozen=True)
class Timed:
    """One answered request with the time it came in (the log has the answer time only)."""

    start: float
    record: RequestRecord

    @property
    def rate_limited_origin(self) -> bool:
        """Whether it went to the API or uploads origin, where rate limits apply."""
        return self.record.route.startswith(("api.", "upload"))


class RequestStarts:
    """Notes when every request entered the server, beside ``counters.log``.

    It wraps the live ``Counters`` instance's ``opened``/``record`` (not the server's code),
    as the chaos suite's tap does: one aiohttp task serves one request from the first call
    to the second, so the running task ties them together.
    """

    def __init__(self, server: ReleaseServer) -> None:
        self.timed: list[Timed] = []
        counters = server.counters
        opened, record = counters.opened, counters.record
        starts: dict[object, float] = {}

        def tapped_opened(origin: str) -> None:
            starts[asyncio.current_task()] = time.time()
            opened(origin)

        def tapped_record(*args: Any, **kwargs: Any) -> None:
            record(*args, **kwargs)
            answered = counters.log[-1]
            start = starts.pop(asyncio.current_task(), answered.time)
            self.timed.append(Timed(start, answered))

        counters.opened = tapped_opened  # type: ignore[method-assign]
        counters.record = tapped_record  # type: ignore[method-assign]


async def interrupt_download(client: GaAMA, out: Path, at: int, tag: str = "v1") -> None:
    """Run a download and cancel it once ``at`` bytes have arrived (by its progress events)."""
    seen = 0
    enough = anyio.Event()

    def progress(event: ProgressEvent) -> None:
        nonlocal seen
        if event.kind == "advance":
            seen += event.bytes
            if seen >= at:
                enough.set()

    client.progress = progress
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(client.download, tag, out)
            await enough.wait()
            group.cancel_scope.cancel()
    client.progress = None
