"""What durable commits cost: ``python -m benchmarks.durability``.

Two workloads through the real ``_files`` code, with ``durable`` on and off, on a RAM disk
(``/dev/shm``) and on the work disk (``/tmp``), best of ``--repeat`` runs:

- one large file (``--size-mib``, default 1 GiB) written at offsets through ``ResumableFile``
  in 8 MiB blocks of random bytes, then committed (fsync, rename, fsync of the folder);
- ``--count`` small files (default 500 of 64 KiB) through ``write_file_atomically``, eight at
  a time as a download's connections would.

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


async def large_file(folder: Path, size: int, durable: bool) -> float:
    """Seconds to write ``size`` bytes at offsets and commit; the file is removed after."""
    block = random.Random(size).randbytes(BLOCK)
    file = ResumableFile(folder / "weights.bin")
    started = time.perf_counter()
    await file.open(size, fresh=True)
    for offset in range(0, size, BLOCK):
        await file.write_at([block[: min(BLOCK, size - offset)]], offset)
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


async def measure(args: argparse.Namespace) -> list[tuple[str, str, bool, float]]:
    rows = []
    for where in args.where:
        folder = Path(tempfile.mkdtemp(prefix="gaama-durability-", dir=where))
        try:
            await make_folder(folder)
            for durable in (False, True):
                size = args.size_mib * MIB
                seconds = await best_of(args.repeat, large_file, folder, size, durable)
                rows.append((where, f"1 x {args.size_mib} MiB", durable, seconds))
                small = (folder, args.count, args.small_kib * 1024, durable)
                seconds = await best_of(args.repeat, small_files, *small)
                rows.append((where, f"{args.count} x {args.small_kib} KiB", durable, seconds))
        finally:
            shutil.rmtree(folder)
    return rows


def table(rows: list[tuple[str, str, bool, float]]) -> str:
    lines = [
        f"{'where':<10} {'workload':<16} {'durable':>8} {'seconds':>9} {'vs off':>8}",
    ]
    off = {(w, k): s for w, k, d, s in rows if not d}
    for where, workload, durable, seconds in rows:
        ratio = seconds / off[(where, workload)] if off[(where, workload)] else float("nan")
        lines.append(
            f"{where:<10} {workload:<16} {'on' if durable else 'off':>8} {seconds:>9.3f} "
            f"{ratio:>7.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--small-kib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--where", nargs="+", default=["/dev/shm", "/tmp"])
    args = parser.parse_args()
    rows = anyio.run(measure, args)
    print(table(rows))


if __name__ == "__main__":
    main()
