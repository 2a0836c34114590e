"""psycopg 3 (with psycopg_pool) beside asyncpg on the journal's write pattern, on a durable
throwaway cluster: how the PostgreSQL store's driver was chosen (README, BENCHMARKS.md).

The pattern is the store's: executions each append bursts of events, one burst in flight per
execution (the journal's flusher), and one writer task gathers every burst waiting into one
fenced statement (group commit): an UPDATE of each execution's head conditional on its owner
and epoch, the INSERT of the events of those that passed, and a NOTIFY per execution.

Both drivers are not project dependencies; run it in a scratch environment:

    uv venv /tmp/drivers && VIRTUAL_ENV=/tmp/drivers uv pip install \
        'psycopg[binary]' psycopg-pool asyncpg pydantic
    /tmp/drivers/bin/python -m bench.pg_drivers
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.postgres import cluster

SCHEMA = """
CREATE TABLE executions (
    plan_id text PRIMARY KEY, owner text, epoch bigint NOT NULL,
    last_sequence bigint NOT NULL DEFAULT 0, status smallint NOT NULL DEFAULT 0,
    end_time double precision);
CREATE TABLE events (plan_id text NOT NULL, sequence bigint NOT NULL, data text NOT NULL,
    PRIMARY KEY (plan_id, sequence));
"""

# The same statement for both drivers, but for the placeholder style.
APPEND = """
WITH head AS (
    SELECT * FROM unnest({p1}::text[], {p2}::bigint[], {p3}::bigint[], {p4}::bigint[])
        AS h(plan_id, epoch, first, last)
), moved AS (
    UPDATE executions e SET last_sequence = head.last
    FROM head
    WHERE e.plan_id = head.plan_id AND e.owner = {p5} AND e.epoch = head.epoch
      AND e.last_sequence = head.first - 1
    RETURNING e.plan_id, head.last
), written AS (
    INSERT INTO events (plan_id, sequence, data)
    SELECT v.plan_id, v.sequence, v.data
    FROM unnest({p6}::text[], {p7}::bigint[], {p8}::text[]) AS v(plan_id, sequence, data)
    JOIN moved USING (plan_id)
)
SELECT moved.plan_id, pg_notify('bench', moved.plan_id || ' ' || moved.last) FROM moved
"""
ASYNCPG_SQL = APPEND.format(**{f"p{i}": f"${i}" for i in range(1, 9)})
PSYCOPG_SQL = APPEND.format(**{f"p{i}": "%b" for i in range(1, 9)})

DATA = '{"t":1767225600.123,"k":2,"s":2,"id":"0b7e4f1a-1111-4a2b-8c3d-000000000001","n":"step","ss":3,"a":1,"o":{"ok":true}}'  # noqa: E501

Execute = Callable[[Sequence[Any]], Awaitable[int]]


class GroupCommit:
    """One writer: everything waiting when it wakes goes into one statement."""

    def __init__(self, execute: Execute) -> None:
        self._execute = execute
        self._queue: asyncio.Queue[tuple[str, int, int, int, asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self.commits = 0
        self.latencies: list[float] = []

    async def append(self, plan_id: str, epoch: int, first: int, count: int) -> None:
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((plan_id, epoch, first, count, future))
        await future

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            heads: list[list[Any]] = [[], [], [], []]
            rows: list[list[Any]] = [[], [], []]
            for plan_id, epoch, first, count, _ in batch:
                for column, value in zip(
                    heads, (plan_id, epoch, first, first + count - 1), strict=True
                ):
                    column.append(value)
                for sequence in range(first, first + count):
                    rows[0].append(plan_id)
                    rows[1].append(sequence)
                    rows[2].append(DATA)
            started = time.perf_counter()
            passed = await self._execute([*heads, "me", *rows])
            self.latencies.append(time.perf_counter() - started)
            self.commits += 1
            assert passed == len(batch), (passed, len(batch))
            for *_, future in batch:
                future.set_result(None)


async def workload(
    execute: Execute, reset: Callable[[], Awaitable[None]], executions: int, bursts: int
) -> dict[str, float]:
    await reset()
    writer = GroupCommit(execute)
    task = asyncio.create_task(writer.run())

    async def execution(i: int) -> None:
        sequence = 1
        for burst in range(bursts):
            count = 1 + burst % 3  # 1, 2 or 3 events: a step starting, ending, the next one
            await writer.append(f"plan-{i}", 1, sequence, count)
            sequence += count

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(execution(i) for i in range(executions)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    task.cancel()
    events = executions * sum(1 + b % 3 for b in range(bursts))
    return {
        "events_per_s": events / elapsed,
        "commits_per_s": writer.commits / elapsed,
        "commit_p50_ms": statistics.median(writer.latencies) * 1000,
        "client_cpu_us_per_event": cpu / events * 1e6,
    }


async def with_asyncpg(url: str, executions: int, bursts: int) -> dict[str, float]:
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=2, max_size=4)

    async def execute(params: Sequence[Any]) -> int:
        async with pool.acquire() as connection:
            return len(await connection.fetch(ASYNCPG_SQL, *params))

    async def reset() -> None:
        async with pool.acquire() as connection:
            await connection.execute("TRUNCATE events; DELETE FROM executions")
            await connection.executemany(
                "INSERT INTO executions (plan_id, owner, epoch) VALUES ($1, 'me', 1)",
                [(f"plan-{i}",) for i in range(executions)],
            )

    try:
        return await workload(execute, reset, executions, bursts)
    finally:
        await pool.close()


async def with_psycopg(url: str, executions: int, bursts: int) -> dict[str, float]:
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(url, min_size=2, max_size=4, open=False, kwargs={"autocommit": True})
    await pool.open(wait=True)

    async def execute(params: Sequence[Any]) -> int:
        async with pool.connection() as connection:
            cursor = await connection.execute(PSYCOPG_SQL, params, prepare=True)
            return len(await cursor.fetchall())

    async def reset() -> None:
        async with pool.connection() as connection:
            await connection.execute("TRUNCATE events; DELETE FROM executions")
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO executions (plan_id, owner, epoch) VALUES (%s, 'me', 1)",
                    [(f"plan-{i}",) for i in range(executions)],
                )

    try:
        return await workload(execute, reset, executions, bursts)
    finally:
        await pool.close()


async def main() -> None:
    with cluster(durable=True) as pg:
        pg.create_database("bench")
        url = pg.url("bench")
        import asyncpg

        connection = await asyncpg.connect(url)
        await connection.execute(SCHEMA)
        await connection.close()
        print(pg.version)
        for executions, bursts in ((1, 400), (64, 60)):
            for name, run in (("psycopg", with_psycopg), ("asyncpg", with_asyncpg)) * 2:
                figures = await run(url, executions, bursts)
                shown = "  ".join(f"{k} {v:,.1f}" for k, v in figures.items())
                print(f"{name:8} {executions:3} executions  {shown}")


if __name__ == "__main__":
    asyncio.run(main())
