"""``run_all``: many jobs, a few at a time, by a few workers; one clear error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest

from gaama_async._concurrency import run_all

pytestmark = pytest.mark.anyio

JOBS = 200
TOKENS = 8


def _jobs(count: int, seen: list[int], tasks: list[int]) -> list[Callable[[], Awaitable[int]]]:
    def job(index: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            seen.append(index)
            tasks.append(len(asyncio.all_tasks()))
            await anyio.lowlevel.checkpoint()
            return index * index

        return run

    return [job(i) for i in range(count)]


async def test_jobs_run_in_order_by_as_many_workers_as_the_limiter_has_tokens() -> None:
    seen: list[int] = []
    tasks: list[int] = []
    before = len(asyncio.all_tasks())

    results = await run_all(_jobs(JOBS, seen, tasks), anyio.CapacityLimiter(TOKENS))

    assert results == [i * i for i in range(JOBS)]
    assert seen == list(range(JOBS))  # taken in order
    # A task per worker, not per job: 500 tasks took ~50 ms to start before any job ran.
    assert max(tasks) <= before + TOKENS


async def test_no_more_jobs_run_at_once_than_the_limiter_allows() -> None:
    running, peak = 0, 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.001)
        running -= 1

    await run_all([job] * 50, anyio.CapacityLimiter(3))
    assert peak == 3


async def test_without_a_limiter_every_job_runs_at_once() -> None:
    started = anyio.Event()
    waiting = 0

    async def job() -> None:
        nonlocal waiting
        waiting += 1
        if waiting == 20:
            started.set()
        await started.wait()  # deadlocks unless all 20 run concurrently

    with anyio.fail_after(5):
        await run_all([job] * 20)


class _Broken(Exception):
    pass


async def test_the_first_failure_is_raised_alone_with_its_cause() -> None:
    cause = OSError("disk on fire")

    async def fails() -> None:
        raise _Broken("job 3 failed") from cause

    async def fine() -> None:
        await anyio.sleep(0.01)

    with pytest.raises(_Broken, match="job 3 failed") as raised:
        await run_all([fine, fine, fails, fine], anyio.CapacityLimiter(2))
    assert raised.value.__cause__ is cause
