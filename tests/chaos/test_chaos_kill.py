"""SIGKILL a downloading process ten times in a row, then let it finish: identical bytes."""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path

import anyio
import pytest
from chaos_support import MIB, chaos_seed
from helpers import REPO, TOKEN, listing, sha256_file, write_random

from gaama_async import GaAMA
from gaama_async._files import ResumableFile
from gaama_async.server import Fault, ReleaseServer

pytestmark = pytest.mark.anyio

KILLS = 10


async def test_ten_sigkills_in_a_row_then_finish_gives_identical_bytes(
    server: ReleaseServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = chaos_seed()
    source = tmp_path / "src" / "weights.bin"
    source.parent.mkdir()
    digest = write_random(source, 48 * MIB + 4321, seed=seed)
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url) as client:
        await client.publish("v1", [source])
    # About 4 MiB/s over the client's parallel ranges: no run of under a second can finish.
    server.config.bandwidth = 0.5 * MIB
    server.faults.seed(seed)
    server.faults.add(Fault("cut", route="storage", times=None, after_bytes=300_000,
                            probability=0.05))  # fmt: skip
    out = tmp_path / "out"
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GAAMA_API_URL": server.api_url}
    command = [sys.executable, "-m", "gaama_async", "download", REPO, "--dir", str(out), "-q"]
    rng = random.Random(seed)
    left_partial = []
    for _ in range(KILLS):
        process = await anyio.open_process(command, env=env)
        await anyio.sleep(rng.uniform(0.3, 1.2))
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await process.aclose()
        assert not (out / "weights.bin").exists(), "finished before the kill: slow the server"
        left_partial.append(ResumableFile(out / "weights.bin").path.exists())
    server.config.bandwidth = None
    server.faults.clear()

    result = await anyio.run_process(command, env=env, check=False)

    with capsys.disabled():
        print(f"\nchaos kill: seed {seed}, {KILLS} SIGKILLs, partial left by {sum(left_partial)}")
    assert result.returncode == 0, result.stderr.decode()
    assert sum(left_partial) >= KILLS * 0.7, left_partial
    assert sha256_file(out / "weights.bin") == digest
    assert listing(out) == ["weights.bin"]
