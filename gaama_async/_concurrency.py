"""Run many transfers under one limiter and surface one clear error, not an ExceptionGroup."""

from __future__ import annotations

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

    The first failure cancels the rest and is raised on its own.
    """
    results: dict[int, T] = {}

    async def run(index: int, job: Callable[[], Awaitable[T]]) -> None:
        if limiter is None:
            results[index] = await job()
            return
        async with limiter:
            results[index] = await job()

    try:
        async with anyio.create_task_group() as group:
            for index, job in enumerate(jobs):
                group.start_soon(run, index, job)
    except BaseExceptionGroup as failures:
        raise first_error(failures) from None
    return [results[i] for i in range(len(jobs))]


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
