"""Replicas on one PostgreSQL database, as real `executor serve` processes: a replica paused
past its lease loses its executions to another that is running and, once it runs again,
drops them and writes nothing for them; a killed replica's paused execution stays paused
where it is taken over, and its rollback goes on there without compensating twice; two
live replicas can never share an id."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import psycopg
from tests.support.events import assert_well_formed, raw_watch, wait_for_event
from tests.support.proc import ServerProcess, free_port, read_marks, wait_until, write_plugin

from executor_client import (
    AsyncExecutorClient,
    compensation,
    executor_pb2,
    output,
    plan,
    status_name,
    step,
    step_status_name,
)

LEASE = "1"


async def _journal(url: str, plan_id: str) -> list[tuple[int, int]]:
    """(sequence, the writer's epoch) of every stored event."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT sequence, epoch FROM events WHERE plan_id = %s ORDER BY sequence", (plan_id,)
        )
        return [(int(s), int(e)) for s, e in await cursor.fetchall()]


async def _owner(url: str, plan_id: str) -> tuple[str | None, int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT owner, epoch FROM executions WHERE plan_id = %s", (plan_id,)
        )
        row = await cursor.fetchone()
        assert row is not None
        return row[0], int(row[1])


async def _heartbeat_age(url: str, replica_id: str) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT extract(epoch FROM now() - heartbeat) FROM replicas WHERE replica_id = %s",
            (replica_id,),
        )
        row = await cursor.fetchone()
        assert row is not None
        return float(row[0])


def _dropped(replica: ServerProcess, plan_id: str) -> bool:
    return any(
        r.get("event", "").startswith("execution dropped") and r.get("plan_id") == plan_id
        for r in replica.log_records()
    )


def _replica(tmp: Path, name: str, url: str, plugin: Path, *flags: str) -> ServerProcess:
    return ServerProcess(
        port=free_port(),
        data_dir=tmp / name,
        log=tmp / f"{name}.log",
        pythonpath=plugin,
        extra=("--db", url, "--replica-id", name, "--lease-seconds", LEASE, *flags),
    )


async def test_a_replica_paused_past_its_lease_writes_nothing_for_what_it_lost(
    tmp_path: Path, pg_url: str
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    marks = tmp_path / "marks.txt"
    f = str(marks)
    first = step("mark", {"file": f}, name="first")
    # Attempt 1 (on a) outlasts the pause; attempt 2 (on b, after the takeover) is quick.
    held = step(
        "mark_idempotent",
        {"file": f, "seconds": 3, "fast_from_attempt": 2},
        name="held",
        depends_on=[first],
    )
    last = step("echo", {"attempt": "${steps.held.output.attempt}"}, name="last", depends_on=[held])
    p = plan(first, held, last, name="handover")

    a = _replica(tmp_path, "a", pg_url, plugin)
    b = _replica(tmp_path, "b", pg_url, plugin)
    try:
        await a.start()
        await b.start()
        await a.wait_serving()
        await b.wait_serving()
        async with AsyncExecutorClient(a.address) as client:
            await client.execute_plan(p, detach=True)
            # Journaled (watchers see only stored events), so the takeover knows attempt 1.
            await wait_for_event(client, p.id, step_id=held.id, step_status="RUNNING")
        await wait_until(lambda: (p.id, held.id, 1) in read_marks(marks))
        assert a.process is not None
        a.process.send_signal(signal.SIGSTOP)
        async with asyncio.timeout(20):  # the lease runs out on the database's clock
            while await _heartbeat_age(pg_url, "a") <= float(LEASE):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        # What a wrote before it stopped (b may have taken over and written already).
        written_by_a = [(s, e) for s, e in await _journal(pg_url, p.id) if e == 1]
        assert written_by_a

        # b, running all along, claims what a lost, replays its journal and continues.
        async with AsyncExecutorClient(b.address) as client:
            result = await client.wait(p.id, timeout=30)
        assert status_name(result.status) == "COMPLETED"
        assert output(result.step_results[2].output) == {"attempt": 2}

        a.process.send_signal(signal.SIGCONT)
        # a learns at once that its lease is gone (no heartbeat landed for a lease, or
        # the heartbeat says so, or its next write is refused) and drops the execution.
        await wait_until(lambda: _dropped(a, p.id))
        assert "execution crashed" not in a.log_text()
        journal = await _journal(pg_url, p.id)
        assert journal[: len(written_by_a)] == written_by_a
        assert {epoch for _, epoch in journal[len(written_by_a) :]} == {2}
        assert [s for s, _ in journal] == list(range(1, len(journal) + 1))
        events = [e for batch in await raw_watch(b.port, p.id) for e in batch]
        assert_well_formed(events)
        assert len(events) == len(journal)
        assert sorted(read_marks(marks)) == sorted(
            [(p.id, first.id, 1), (p.id, held.id, 1), (p.id, held.id, 2)]
        )
    finally:
        if a.process is not None and a.process.returncode is None:
            a.process.send_signal(signal.SIGCONT)
        await a.kill()
        await b.kill()


async def test_a_killed_replicas_paused_execution_stays_paused_where_it_is_taken_over(
    tmp_path: Path, pg_url: str
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    marks = tmp_path / "marks.txt"
    first = step("mark", {"file": str(marks), "seconds": 1}, name="first")
    then = step("echo", {"after": "${steps.first.output.attempt}"}, name="then", depends_on=[first])
    p = plan(first, then, name="paused")
    a = _replica(tmp_path, "a", pg_url, plugin)
    b = _replica(tmp_path, "b", pg_url, plugin)
    try:
        await a.start()
        await b.start()
        await a.wait_serving()
        await b.wait_serving()
        async with AsyncExecutorClient(a.address) as client:
            await client.execute_plan(p, detach=True)
            await wait_for_event(client, p.id, step_id=first.id, step_status="RUNNING")
            assert status_name(await client.pause_execution(p.id)) == "PAUSED"
            # The running attempt finishes and is recorded; nothing new starts.
            await wait_for_event(client, p.id, step_id=first.id, step_status="COMPLETED")
        await a.kill()
        async with asyncio.timeout(20):  # b claims it once a's lease expires
            while await _owner(pg_url, p.id) != ("b", 2):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        async with AsyncExecutorClient(b.address) as client:
            status = await client.get_execution_status(p.id)
            assert status_name(status.status) == "PAUSED"
            assert [step_status_name(r.status) for r in status.step_results] == [
                "COMPLETED",
                "PENDING",
            ]
            assert status_name(await client.resume_execution(p.id)) == "RUNNING"
            result = await client.wait(p.id, timeout=30)
        assert status_name(result.status) == "COMPLETED"
        assert read_marks(marks) == [(p.id, first.id, 1)]  # the completed step never re-ran
    finally:
        await a.kill()
        await b.kill()


async def test_a_rollback_goes_on_where_it_is_taken_over_without_compensating_twice(
    tmp_path: Path, pg_url: str
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    undone = tmp_path / "undone.txt"

    def undo(seconds: float) -> Any:
        # The undo of `slow` outlasts a's life on its first attempt only.
        return compensation(
            "mark_idempotent", {"file": str(undone), "seconds": seconds, "fast_from_attempt": 2}
        )

    quick = step("echo", {"n": 1}, name="quick", compensation=undo(0))
    slow = step("echo", {"n": 2}, name="slow", depends_on=[quick], compensation=undo(30))
    boom = step("fail", {"retryable": False}, name="boom", depends_on=[slow])
    p = plan(quick, slow, boom, name="rollback")
    a = _replica(tmp_path, "a", pg_url, plugin)
    b = _replica(tmp_path, "b", pg_url, plugin)
    try:
        await a.start()
        await b.start()
        await a.wait_serving()
        await b.wait_serving()
        async with AsyncExecutorClient(a.address) as client:
            await client.execute_plan(
                p, executor_pb2.ExecutionOptions(auto_rollback=True), detach=True
            )
            # slow is compensated first (reverse order); its undo is under way on a.
            await wait_until(lambda: (p.id, slow.id, 1) in read_marks(undone))
        await a.kill()
        async with AsyncExecutorClient(b.address) as client:
            result = await client.wait(p.id, timeout=30)
            events = [e async for e in client.watch(p.id, reconnect=False)]
        assert status_name(result.status) == "ROLLED_BACK"
        assert_well_formed(events, rollback=True)
        # slow's undo ran again (it is idempotent) as attempt 2; quick's ran once, on b.
        assert sorted(read_marks(undone)) == sorted(
            [(p.id, slow.id, 1), (p.id, slow.id, 2), (p.id, quick.id, 1)]
        )
        assert await _owner(pg_url, p.id) == ("b", 2)
    finally:
        await a.kill()
        await b.kill()


async def test_a_second_replica_under_a_live_id_refuses_to_start(
    tmp_path: Path, pg_url: str
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    a = _replica(tmp_path, "a", pg_url, plugin)
    again = ServerProcess(
        port=free_port(),
        data_dir=tmp_path / "again",
        log=tmp_path / "again.log",
        extra=("--db", pg_url, "--replica-id", "a"),
    )
    try:
        await a.start()
        await a.wait_serving()
        assert f"journal {pg_url} as replica a" in a.log_text()  # the start-up line
        await again.start()
        assert await again.wait_exit(within=30) == 1
        errors = [r for r in again.log_records() if r.get("event") == "cannot serve"]
        assert len(errors) == 1, again.log_text()
        assert a.process is not None
        assert (
            f"replica id 'a' is in use by a live replica (process {a.process.pid}"
            in (errors[0]["error"])
        )
    finally:
        await again.kill()
        await a.kill()


async def test_a_bad_or_unreachable_database_url_is_a_clear_error_without_the_password(
    tmp_path: Path,
) -> None:
    cases = [
        ("postgresql://u:hunter2@127.0.0.1:5432/", 2, "names no database"),
        (
            "postgresql://u:hunter2@127.0.0.1:1/d",
            1,
            "cannot connect to postgresql://u@127.0.0.1:1/d",
        ),
    ]
    for i, (url, code, message) in enumerate(cases):
        server = ServerProcess(
            port=free_port(),
            data_dir=tmp_path / str(i),
            log=tmp_path / f"{i}.log",
            extra=("--db", url),
        )
        try:
            await server.start()
            assert await server.wait_exit(within=30) == code
        finally:
            await server.kill()
        text = server.log_text()
        assert message in text
        assert "hunter2" not in text
        assert "Traceback" not in text
