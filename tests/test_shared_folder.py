"""Several processes downloading one release into one folder at once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from helpers import REPO, TOKEN, listing, sha256_file, write_random

from gaama_async import GaAMA
from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio
MIB = 1 << 20


async def test_workers_sharing_a_folder_fetch_each_asset_about_once(
    server: ReleaseServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    sizes = {"big.bin": 24 * MIB, "mid.bin": 3 * MIB, "a.txt": 10_000, "b.txt": 20_000}
    digests = {n: write_random(src / n, s, seed=len(n)) for n, s in sizes.items()}
    async with GaAMA(repo=REPO, token=TOKEN, api_url=server.api_url) as client:
        await client.publish("v1", [src / n for n in sizes])
    server.config.bandwidth = 20 * MIB
    server.counters.reset()
    out = tmp_path / "shared"
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GAAMA_API_URL": server.api_url}
    command = [sys.executable, "-m", "gaama_async", "download", REPO, "--dir", str(out), "-q"]

    results = []

    async def worker() -> None:
        results.append(await anyio.run_process(command, env=env, check=False))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(worker)

    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert listing(out) == sorted(sizes)
    assert {n: sha256_file(out / n) for n in sizes} == digests
    asset_bytes = server.counters.bytes_sent
    assert asset_bytes < sum(sizes.values()) * 1.3  # about once, not three times
