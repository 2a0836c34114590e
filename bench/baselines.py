"""The in-process baselines: a minimal asyncio scheduler and Dask's threaded scheduler.

Both run the same shapes as the engine with no-op steps, so the ratio says how much the
engine's bookkeeping (validation, journal, events, retries, timeouts) costs over the least
an asyncio DAG runner must do.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from bench.shapes import Shape


async def _noop(arguments: dict[str, Any]) -> dict[str, Any]:
    return arguments  # what the echo tool does


async def run_minimal(shape: Shape, limit: int = 64) -> list[Any]:
    """Run `shape` with at most `limit` steps at once, a task per step like the engine.

    Dependency counting: a step becomes ready when its last dependency finishes. The
    driver starts ready steps as slots free up; finishing steps wake it.
    """
    n = shape.size
    waiting = [len(deps) for deps in shape.deps]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for i, deps in enumerate(shape.deps):
        for d in deps:
            dependents[d].append(i)
    results: list[Any] = [None] * n
    ready = deque(i for i in range(n) if not waiting[i])
    slots = asyncio.Semaphore(limit)
    wake = asyncio.Event()
    remaining = n
    running: set[asyncio.Task[None]] = set()  # strong references: the loop keeps weak ones

    async def run(i: int) -> None:
        nonlocal remaining
        try:
            results[i] = await _noop({})
        finally:
            slots.release()
        for j in dependents[i]:
            waiting[j] -= 1
            if not waiting[j]:
                ready.append(j)
        remaining -= 1
        wake.set()

    while remaining:
        while ready:
            await slots.acquire()
            task = asyncio.create_task(run(ready.popleft()))
            running.add(task)
            task.add_done_callback(running.discard)
        if remaining:
            await wake.wait()
            wake.clear()
    return results


def _noop_sync(*dependencies: Any) -> None:
    return None


def run_dask(shape: Shape) -> None:
    """Dask's threaded scheduler (a thread pool of one worker per core) on a dict graph."""
    import dask.threaded  # imported late: only the bench group installs it

    graph = {f"s{i}": (_noop_sync, *(f"s{d}" for d in deps)) for i, deps in enumerate(shape.deps)}
    dask.threaded.get(graph, [f"s{i}" for i in shape.sinks()])
