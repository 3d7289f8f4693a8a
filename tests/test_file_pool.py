"""The file workers: file calls run a few at a time (more threads only fight the event loop
for the GIL), calls that wait for the disk may run wider."""

from __future__ import annotations

import functools
import threading
import time

import anyio
import pytest

from gaama_async._files import FILE_WORKERS, in_pool

pytestmark = pytest.mark.anyio


async def _peak_of(calls: int, *, disk_bound: bool) -> int:
    """How many of ``calls`` blocking calls (each 20 ms) ran at once."""
    running, peak, guard = 0, 0, threading.Lock()

    def call() -> None:
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with guard:
            running -= 1

    async with anyio.create_task_group() as group:
        for _ in range(calls):
            group.start_soon(functools.partial(in_pool, call, disk_bound=disk_bound))
    return peak


async def test_file_calls_run_at_most_file_workers_at_once() -> None:
    assert await _peak_of(4 * FILE_WORKERS, disk_bound=False) == FILE_WORKERS


async def test_calls_that_wait_for_the_disk_run_wider() -> None:
    assert await _peak_of(4 * FILE_WORKERS, disk_bound=True) > FILE_WORKERS
