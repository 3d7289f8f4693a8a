"""Peak memory of a 512 MiB upload and download stays flat (measured in a child process)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from helpers import REPO, TOKEN, sha256_file

from gaama_async.server import ReleaseServer

pytestmark = pytest.mark.anyio

SIZE = 512 << 20
LIMIT_MIB = 100
CHILD = """
import asyncio, sys
from gaama_async import GaAMA

async def main(mode, repo, api_url, token, path):
    async with GaAMA(repo=repo, token=token, api_url=api_url) as client:
        if mode == "publish":
            await client.publish("mem", [path])
        else:
            await client.download("mem", path)

asyncio.run(main(*sys.argv[1:]))
# VmHWM starts afresh at exec; ru_maxrss would also count the parent's pages at fork time.
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) // 1024)
"""


async def _peak_rss_mib(mode: str, server: ReleaseServer, path: Path) -> int:
    result = await anyio.run_process(
        [sys.executable, "-c", CHILD, mode, REPO, server.api_url, TOKEN, str(path)], check=False
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return int(result.stdout.split()[-1])


async def test_512_mib_upload_and_download_stay_under_100_mib(
    server: ReleaseServer, tmp_path: Path
) -> None:
    big = tmp_path / "weights.bin"
    with open(big, "wb") as handle:
        for offset in range(0, SIZE, 64 << 20):
            handle.seek(offset)
            handle.write(offset.to_bytes(8, "big") * 8192)
        handle.truncate(SIZE)

    upload_peak = await _peak_rss_mib("publish", server, big)
    download_peak = await _peak_rss_mib("download", server, tmp_path / "out")

    assert sha256_file(tmp_path / "out" / "weights.bin") == sha256_file(big)
    assert upload_peak < LIMIT_MIB, f"upload peaked at {upload_peak} MiB"
    assert download_peak < LIMIT_MIB, f"download peaked at {download_peak} MiB"
