"""Run many transfers under one limiter and surface one clear error, not an ExceptionGroup."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

T = TypeVar("T")
U = TypeVar("U")


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real failure in a (nested) group, preferring it over cancellations."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack[:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    cancelled = anyio.get_cancelled_exc_class()
    return next((e for e in leaves if not isinstance(e, cancelled)), leaves[0])


async def run_all(
    jobs: Sequence[Callable[[], Awaitable[T]]], limiter: anyio.CapacityLimiter | None = None
) -> list[T]:
    """Run ``jobs`` concurrently, ``limiter`` at a time if given; results in job order.

    With a limiter, as many workers as it has tokens take the jobs in order, rather than a
    task per job: starting 500 tasks took ~50 ms before the first job ran (a download of
    500 small files, traced), time every transfer waited. The limiter's size is read once;
    callers pass limiters of their own, not ones resized meanwhile.
    The first failure cancels the rest and is raised on its own, with its own cause.
    """
    results: dict[int, T] = {}
    queue = iter(enumerate(jobs))  # shared by the workers: each job is taken once

    async def work() -> None:
        for index, job in queue:
            if limiter is None:
                results[index] = await job()
                continue
            async with limiter:
                results[index] = await job()

    try:
        async with anyio.create_task_group() as group:
            for _ in range(workers_for(len(jobs), limiter)):
                group.start_soon(work)
    except BaseExceptionGroup as failures:
        error = first_error(failures)
        raise error from error.__cause__  # the group is no news; the cause may be
    return [results[i] for i in range(len(jobs))]


def workers_for(jobs: int, limiter: anyio.CapacityLimiter | None) -> int:
    """One worker per job without a limiter (each runs one), else one per token."""
    if limiter is None or limiter.total_tokens == math.inf:
        return jobs
    return min(jobs, max(1, int(limiter.total_tokens)))


async def both(
    first: Callable[[], Awaitable[T]], second: Callable[[], Awaitable[U]]
) -> tuple[T, U]:
    """Run two calls concurrently and return both results; the first failure cancels the
    other and is raised on its own (as in ``run_all``)."""
    done: list[T] = []

    async def run_first() -> None:
        done.append(await first())

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run_first)
            other = await second()
    except BaseExceptionGroup as failures:
        raise first_error(failures) from None
    return done[0], other
