"""SIGKILL a downloading process ten times in a row, then let it finish: identical bytes.

Each kill waits until the run has added a random amount to what is recorded on disk (not a
guessed time after spawn), so every kill lands mid-transfer; the finishing run may fetch only
what the records say is missing.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import anyio
import pytest
from chaos_support import KIB, MIB, chaos_seed
from helpers import (
    REPO,
    TOKEN,
    kill_once_recorded,
    listing,
    partial_files,
    sha256_file,
    write_random,
)

from gaama_async import GaAMA
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio

KILLS = 10
OVERHEAD = 64 * KIB  # API JSON and the manifest, besides the file's own bytes


async def test_ten_sigkills_in_a_row_then_finish_gives_identical_bytes(
    server: ReleaseServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = chaos_seed()
    size = 48 * MIB + 4321
    source = tmp_path / "src" / "weights.bin"
    source.parent.mkdir()
    digest = write_random(source, size, seed=seed)
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url) as client:
        await client.publish("v1", [source])
    # About 8 MiB/s over the client's parallel ranges: each run is killed within about a
    # second of data, so ten runs stop well before the end.
    server.config.bandwidth = 2 * MIB
    server.faults.seed(seed)
    cuts = server.faults.add(Fault("cut", route="storage", asset="weights.bin", times=None,
                                   after_bytes=300_000, probability=0.05))  # fmt: skip
    out = tmp_path / "out"
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GAAMA_API_URL": server.api_url}
    command = [sys.executable, "-m", "gaama_async", "download", REPO, "--dir", str(out), "-q"]
    rng = random.Random(seed)
    done, progress = 0, []
    for _ in range(KILLS):
        target = done + rng.randrange(128 * KIB, 1 * MIB)
        recorded = await kill_once_recorded(command, env, out, target)
        assert recorded >= target, "a kill lost what the run had recorded"
        progress.append(recorded - done)
        done = recorded
        assert not (out / "weights.bin").exists(), "finished before the kill: slow the server"
    server.config.bandwidth = None
    server.faults.clear()
    server.counters.reset()

    result = await anyio.run_process(command, env=env, check=False)

    refetched = server.counters.bytes_sent - (size - done)
    with capsys.disabled():
        print(f"\nchaos kill: seed {seed}, {KILLS} SIGKILLs at {done / MIB:.1f} MiB recorded "
              f"({cuts.hits} ranges cut on the way), finishing run fetched {refetched:+,} "
              "bytes beyond what was missing")  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert sha256_file(out / "weights.bin") == digest
    assert "sha256 mismatch" not in result.stderr.decode()  # resumed right, not refetched
    assert refetched <= OVERHEAD
    assert listing(out) == ["weights.bin"] and partial_files(out) == []
