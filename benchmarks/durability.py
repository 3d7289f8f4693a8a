"""What durable commits cost: ``python -m benchmarks.durability``.

Two workloads through the real ``_files`` code, with ``durable`` on and off, on a RAM disk
(``/dev/shm``) and on the work disk (``/tmp``), best of ``--repeat`` runs:

- one large file (``--size-mib``, default 1 GiB) written at offsets through ``ResumableFile``
  in 8 MiB blocks of random bytes, then committed (fsync, rename, fsync of the folder); and
  the same with the resume record saved with ``flush=True`` after every block, as a ranged
  download does at its checkpoints ("on+flush": the final fsync then finds little to write);
- ``--count`` small files (default 500 of 64 KiB) through ``write_file_atomically``, eight at
  a time as a download's connections would.

- ``--download``: a whole ``GaAMA.download`` of one ``--size-mib`` file from the local server
  (in process, cache off) into each folder: the durable default end to end, where the
  checkpoint flushes overlap the network and the final fsync is short.

``os.sync()`` runs before every timed run, so one run's write-back does not land in the next.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from gaama_async._files import ResumableFile, make_folder, write_file_atomically

MIB = 1024 * 1024
BLOCK = 8 * MIB


async def large_file(folder: Path, size: int, durable: bool, flush: bool = False) -> float:
    """Seconds to write ``size`` bytes at offsets and commit; the file is removed after."""
    block = random.Random(size).randbytes(BLOCK)
    file = ResumableFile(folder / "weights.bin")
    started = time.perf_counter()
    await file.open(size, fresh=True)
    for offset in range(0, size, BLOCK):
        await file.write_at([block[: min(BLOCK, size - offset)]], offset)
        if flush:
            await file.save_state(b"{}", flush=True)
    await file.commit(durable=durable)
    elapsed = time.perf_counter() - started
    (folder / "weights.bin").unlink()
    return elapsed


async def small_files(folder: Path, count: int, size: int, durable: bool) -> float:
    """Seconds to write ``count`` files of ``size`` bytes, eight at a time."""
    data = random.Random(count).randbytes(size)
    limiter = anyio.CapacityLimiter(8)

    async def one(index: int) -> None:
        async with limiter:
            await write_file_atomically(folder / f"f{index:05}.bin", data, durable=durable)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(one, index)
    elapsed = time.perf_counter() - started
    for index in range(count):
        (folder / f"f{index:05}.bin").unlink()
    return elapsed


async def best_of(repeat: int, run: Callable[..., Awaitable[float]], *args: object) -> float:
    times = []
    for _ in range(repeat):
        os.sync()
        times.append(await run(*args))
    return min(times)


async def measure(args: argparse.Namespace) -> list[tuple[str, str, str, float]]:
    rows = []
    for where in args.where:
        folder = Path(tempfile.mkdtemp(prefix="gaama-durability-", dir=where))
        try:
            await make_folder(folder)
            size = args.size_mib * MIB
            for mode, durable, flush in (("off", False, False), ("on", True, False),
                                         ("on+flush", True, True)):  # fmt: skip
                seconds = await best_of(args.repeat, large_file, folder, size, durable, flush)
                rows.append((where, f"1 x {args.size_mib} MiB", mode, seconds))
            for mode, durable in (("off", False), ("on", True)):
                small = (folder, args.count, args.small_kib * 1024, durable)
                seconds = await best_of(args.repeat, small_files, *small)
                rows.append((where, f"{args.count} x {args.small_kib} KiB", mode, seconds))
        finally:
            shutil.rmtree(folder)
    return rows


async def download_once(
    server_root: Path, size: int, folders: list[str], repeat: int
) -> list[tuple[str, str, str, float]]:
    """Best-of seconds for a full download of one file of ``size`` bytes into each folder."""
    from gaama_async import GaAMA
    from gaama_async.server import ReleaseServer, ServerConfig

    token, rows = "durability-token", []
    config = ServerConfig(
        root=server_root / "gh", tokens={token: "octocat"}, repos=("acme/models",)
    )
    async with ReleaseServer(config) as server:
        source = server_root / "weights.bin"
        with open(source, "wb") as handle:
            for offset in range(0, size, BLOCK):
                handle.write(random.Random(offset).randbytes(min(BLOCK, size - offset)))
        async with GaAMA(
            repo="acme/models", token=token, api_url=server.api_url, write_interval=0,
            cache_dir=False,
        ) as client:  # fmt: skip
            await client.publish("v1", [source])
            source.unlink()
            for where in folders:
                out = Path(tempfile.mkdtemp(prefix="gaama-durability-", dir=where))

                async def run(out: Path = out) -> float:
                    started = time.perf_counter()
                    await client.download("v1", out)
                    elapsed = time.perf_counter() - started
                    shutil.rmtree(out)
                    return elapsed

                rows.append(
                    (where, f"download {size // MIB} MiB", "on", await best_of(repeat, run))
                )
    return rows


def table(rows: list[tuple[str, str, str, float]]) -> str:
    lines = [
        f"{'where':<10} {'workload':<16} {'durable':>8} {'seconds':>9} {'vs off':>8}",
    ]
    off = {(w, k): s for w, k, mode, s in rows if mode == "off"}
    for where, workload, mode, seconds in rows:
        ratio = seconds / off.get((where, workload), float("nan"))
        lines.append(f"{where:<10} {workload:<16} {mode:>8} {seconds:>9.3f} {ratio:>7.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--small-kib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--where", nargs="+", default=["/dev/shm", "/tmp"])
    parser.add_argument("--download", action="store_true", help="also time a whole download")
    args = parser.parse_args()
    rows = anyio.run(measure, args)
    if args.download:
        root = Path(tempfile.mkdtemp(prefix="gaama-durability-server-", dir="/dev/shm"))
        try:
            rows += anyio.run(download_once, root, args.size_mib * MIB, args.where, args.repeat)
        finally:
            shutil.rmtree(root)
    print(table(rows))


if __name__ == "__main__":
    main()
