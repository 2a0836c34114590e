"""The real server process, killed with SIGKILL mid-flight and restarted on its data:
every execution ends correctly, nothing completed runs twice, event logs stay whole.

The test tools come from a plugin installed as a real distribution (entry points in a
dist-info on PYTHONPATH), so this also covers plugin discovery in the shipped server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from pathlib import Path

import pytest
from tests.support.events import (
    STEP_CHANGED,
    assert_well_formed,
    error_type_name,
    raw_watch,
    result_by_id,
    step_statuses,
)
from tests.support.proc import ServerProcess, free_port, read_marks, wait_until, write_plugin

from executor_client import (
    AsyncExecutorClient,
    compensation,
    executor_pb2,
    output,
    plan,
    retry_policy,
    status_name,
    step,
    step_status_name,
)

pb = executor_pb2

LONG = 60  # seconds a held step sleeps: far longer than the test, it must be interrupted


def _attempts(marks: list[tuple[str, str, int]]) -> dict[tuple[str, str], list[int]]:
    by_step: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for plan_id, step_id, attempt in marks:
        by_step[(plan_id, step_id)].append(attempt)
    return dict(by_step)


async def _watch_into(
    client: AsyncExecutorClient, plan_id: str, sink: list[pb.ExecutionEvent]
) -> None:
    """A client watch that rides out the crash: it reconnects after its last sequence."""
    async for event in client.watch(plan_id, max_reconnect_delay=0.5, timeout=50):
        sink.append(event)


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The server's journal flags: the default SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return ()
    return ("--db", request.getfixturevalue("pg_url"))


async def test_a_killed_server_resumes_every_execution_correctly(
    tmp_path: Path, journal: tuple[str, ...]
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    marks = tmp_path / "marks.txt"
    data = tmp_path / "data"
    port = free_port()
    log = tmp_path / "server.log"
    server = ServerProcess(port=port, data_dir=data, log=log, pythonpath=plugin, extra=journal)
    f = str(marks)

    # (a) a chain: a1 completes, a2 (idempotent) is running at the crash.
    a1 = step("mark_idempotent", {"file": f}, name="a1")
    a2 = step(
        "mark_idempotent",
        {"file": f, "seconds": LONG, "fast_from_attempt": 2},
        name="a2",
        depends_on=[a1],
    )
    a3 = step("echo", {"a2_attempt": "${steps.a2.output.attempt}"}, name="a3", depends_on=[a2])
    plan_a = plan(a1, a2, a3, name="chain")
    # (b) a non-idempotent step with no retry left is running at the crash.
    b1 = step("mark", {"file": f, "seconds": LONG}, name="b1", retry=retry_policy(1))
    b2 = step("echo", {}, name="b2", depends_on=[b1])
    plan_b = plan(b1, b2, name="unsafe")
    # (c) paused at the crash, with its first step still running.
    c1 = step("mark_idempotent", {"file": f, "seconds": LONG, "fast_from_attempt": 2}, name="c1")
    c2 = step("mark", {"file": f}, name="c2", depends_on=[c1])
    plan_c = plan(c1, c2, name="paused")
    # (d) finished before the crash.
    d1 = step("mark", {"file": f}, name="d1")
    plan_d = plan(d1, name="done")
    # (e) rolling back at the crash: e2's compensation is done, e1's is running.
    e1 = step(
        "mark_idempotent",
        {"file": f},
        name="e1",
        compensation=compensation(
            "mark_idempotent", {"file": f, "seconds": LONG, "fast_from_attempt": 2}
        ),
    )
    e2 = step(
        "mark_idempotent",
        {"file": f},
        name="e2",
        depends_on=[e1],
        compensation=compensation("mark_idempotent", {"file": f}),
    )
    plan_e = plan(e1, e2, step("fail", {"retryable": False}, depends_on=[e2]), name="saga")

    survivor: list[pb.ExecutionEvent] = []
    watcher: asyncio.Task[None] | None = None
    try:
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(server.address) as client:
            page = await client.list_tools_page()
            # A plugin that cannot load is reported, and the server runs without it.
            assert any(e.entry_point.startswith("broken = crashtools") for e in page.load_errors), (
                page.load_errors
            )
            tools = {t.name: t for t in page.tools}
            assert "broken" not in tools
            assert tools["mark"].idempotent is False
            assert tools["mark_idempotent"].idempotent is True

            assert status_name((await client.execute_plan(plan_d)).status) == "COMPLETED"
            for p in (plan_a, plan_b, plan_c):
                await client.execute_plan(p, detach=True)
            await client.execute_plan(plan_e, pb.ExecutionOptions(auto_rollback=True), detach=True)
            running = {(plan_a.id, a2.id), (plan_b.id, b1.id), (plan_c.id, c1.id)}
            await wait_until(lambda: running <= set(_attempts(read_marks(marks))))
            # e1 ran forward, then its compensation started (after e2's had finished).
            await wait_until(
                lambda: len(_attempts(read_marks(marks)).get((plan_e.id, e1.id), [])) == 2
            )
            assert status_name(await client.pause_execution(plan_c.id)) == "PAUSED"

            # A watcher of (a) that has seen everything up to a2's start.
            seen_before: list[pb.ExecutionEvent] = []
            async with asyncio.timeout(10):
                async for event in client.watch(plan_a.id, reconnect=False):
                    seen_before.append(event)
                    if event.step_id == a2.id and event.type == STEP_CHANGED:
                        break
            k = seen_before[-1].sequence
            before = {
                p.id: (await client.get_execution_status(p.id)).last_sequence
                for p in (plan_a, plan_b, plan_c, plan_d, plan_e)
            }
            assert status_name((await client.get_execution_status(plan_e.id)).status) == (
                "ROLLING_BACK"
            )

        # One more watcher, left running through the crash (it must reconnect by itself).
        survivor_client = AsyncExecutorClient(server.address)
        watcher = asyncio.create_task(_watch_into(survivor_client, plan_b.id, survivor))
        await wait_until(lambda: len(survivor) >= before[plan_b.id])

        await server.kill()
        marks_at_crash = _attempts(read_marks(marks))
        await server.start()  # same data dir, same port
        await server.wait_serving()

        async with AsyncExecutorClient(server.address) as client:
            # (a) a1 kept its result, a2 ran again as attempt 2, a3 saw that.
            final_a = await client.wait(plan_a.id, timeout=30)
            assert status_name(final_a.status) == "COMPLETED"
            by_id = result_by_id(final_a.step_results)
            assert by_id[a1.id].retry_count == 0
            assert by_id[a2.id].retry_count == 1
            assert output(by_id[a2.id].output) == {"attempt": 2}
            assert output(by_id[a3.id].output) == {"a2_attempt": 2}

            # (b) not run again: failed, saying why.
            final_b = await client.wait(plan_b.id, timeout=30)
            assert status_name(final_b.status) == "FAILED"
            assert step_statuses(final_b.step_results) == ["FAILED", "SKIPPED"]
            b1_result = final_b.step_results[0]
            assert "restart" in b1_result.error
            assert "not idempotent" in b1_result.error
            assert final_b.error.step_id == b1.id
            assert "restart" in final_b.error.message
            assert error_type_name(final_b.error.error_type) == "INTERNAL"

            # (c) still paused, and nothing started while paused; resume completes it.
            status_c = await client.get_execution_status(plan_c.id)
            assert status_name(status_c.status) == "PAUSED"
            assert _attempts(read_marks(marks)).get((plan_c.id, c1.id)) == [1]
            assert status_name(await client.resume_execution(plan_c.id)) == "RUNNING"
            final_c = await client.wait(plan_c.id, timeout=30)
            assert status_name(final_c.status) == "COMPLETED"
            assert final_c.step_results[0].retry_count == 1

            # (e) the rollback went on: e1's compensation ran again, e2's did not.
            final_e = await client.wait(plan_e.id, timeout=30)
            assert status_name(final_e.status) == "ROLLED_BACK"
            by_id = result_by_id(final_e.step_results)
            assert step_status_name(by_id[e1.id].compensation.status) == "COMPENSATED"
            assert by_id[e1.id].compensation.attempts == 2
            assert by_id[e2.id].compensation.attempts == 1

            # (d) untouched.
            final_d = await client.get_execution_status(plan_d.id)
            assert status_name(final_d.status) == "COMPLETED"
            assert final_d.last_sequence == before[plan_d.id]

            # The marker file: nothing that completed ran twice; interrupted steps once more
            # only where that is safe.
            attempts = _attempts(read_marks(marks))
            assert attempts[(plan_a.id, a1.id)] == [1]
            assert attempts[(plan_a.id, a2.id)] == [1, 2]
            assert attempts[(plan_b.id, b1.id)] == [1]
            assert attempts[(plan_c.id, c1.id)] == [1, 2]
            assert attempts[(plan_c.id, c2.id)] == [1]
            assert attempts[(plan_d.id, d1.id)] == [1]
            assert attempts[(plan_e.id, e1.id)] == [1, 1, 2]  # forward, then undo twice
            assert attempts[(plan_e.id, e2.id)] == [1, 1]  # forward, then undo once
            assert marks_at_crash[(plan_a.id, a2.id)] == [1]

            # Every log is whole: 1..N, PENDING first, terminal last, nothing lost or doubled,
            # and it still holds everything journaled before the crash.
            logs = {}
            for p in (plan_a, plan_b, plan_c, plan_d, plan_e):
                batches = await raw_watch(server.port, p.id)
                events = [e for b in batches for e in b]
                assert_well_formed(events, rollback=p is plan_e)
                assert len(events) >= before[p.id]
                logs[p.id] = events
            a_transitions = [
                (e.step_name, step_status_name(e.step_status), e.attempt)
                for e in logs[plan_a.id]
                if e.type == STEP_CHANGED
            ]
            assert a_transitions == [
                ("a1", "RUNNING", 1),
                ("a1", "COMPLETED", 1),
                ("a2", "RUNNING", 1),
                ("a2", "RUNNING", 2),
                ("a2", "COMPLETED", 2),
                ("a3", "RUNNING", 1),
                ("a3", "COMPLETED", 1),
            ]

            # The watcher that stopped at k before the crash resumes with k: every later
            # event exactly once.
            rest = [e for b in await raw_watch(server.port, plan_a.id, after=k) for e in b]
            combined = [e.SerializeToString() for e in seen_before + rest]
            assert combined == [e.SerializeToString() for e in logs[plan_a.id]]

            # The watcher left running reconnected by itself and missed nothing.
            await asyncio.wait_for(watcher, 30)
            assert [e.SerializeToString() for e in survivor] == [
                e.SerializeToString() for e in logs[plan_b.id]
            ]
            await survivor_client.close()

        records = server.log_records()
        resumed = {r.get("plan_id") for r in records if r.get("event") == "execution resumed"}
        assert {plan_a.id, plan_b.id, plan_c.id, plan_e.id} <= resumed
        assert plan_d.id not in resumed
    finally:
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
        await server.kill()


async def test_a_killed_server_resumes_a_fan_out_element_by_element(
    tmp_path: Path, journal: tuple[str, ...]
) -> None:
    """Elements that completed before the crash never run again; an interrupted element
    runs again only where that is safe, and a retry then finishes what was left."""
    plugin = write_plugin(tmp_path / "plugin")
    marks = tmp_path / "marks.txt"
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path / "data",
        log=tmp_path / "server.log",
        pythonpath=plugin,
        extra=journal,
    )
    f = str(marks)
    source = step("echo", {"waits": [0, 0, LONG]}, name="source")
    safe = step(
        "mark_idempotent",
        {"file": f, "seconds": "${item}", "fast_from_attempt": 2},
        name="safe",
        depends_on=[source],
        for_each="${steps.source.output.waits}",
        retry=retry_policy(1),
    )
    unsafe = step(
        "mark",
        {"file": f, "seconds": "${item}", "fast_from_attempt": 2},
        name="unsafe",
        depends_on=[source],
        for_each="${steps.source.output.waits}",
        retry=retry_policy(1),
    )
    plan_safe, plan_unsafe = plan(source, safe), plan(source, unsafe)
    try:
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(server.address) as client:
            for p in (plan_safe, plan_unsafe):
                await client.execute_plan(p, detach=True)
            await wait_until(
                lambda: all(
                    len(_attempts(read_marks(marks)).get((p.id, s.id), [])) == 3
                    for p, s in ((plan_safe, safe), (plan_unsafe, unsafe))
                )
            )
            # Elements 0 and 1 completed (journaled: watchers see only what is stored);
            # element 2 sleeps.
            for p in (plan_safe, plan_unsafe):
                completed: set[int] = set()
                async with asyncio.timeout(20):
                    async for event in client.watch(p.id, reconnect=False):
                        if event.HasField("item_index") and (
                            event.step_status == pb.STEP_STATUS_COMPLETED
                        ):
                            completed.add(event.item_index)
                        if completed == {0, 1}:
                            break
        await server.kill()
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(server.address) as client:
            final_safe = await client.wait(plan_safe.id, timeout=30)
            assert status_name(final_safe.status) == "COMPLETED"
            assert output(final_safe.step_results[1].output) == [
                {"attempt": 1},
                {"attempt": 1},
                {"attempt": 2},
            ]
            final_unsafe = await client.wait(plan_unsafe.id, timeout=30)
            assert status_name(final_unsafe.status) == "FAILED"
            items = final_unsafe.step_results[1].items
            assert [step_status_name(i.status) for i in items] == [
                "COMPLETED",
                "COMPLETED",
                "FAILED",
            ]
            assert "not idempotent" in items[2].error
            retried = await client.retry_execution(plan_unsafe.id)
            assert status_name(retried.status) == "COMPLETED"
            for p in (plan_safe, plan_unsafe):
                events = [e for b in await raw_watch(server.port, p.id) for e in b]
                assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        attempts = _attempts(read_marks(marks))
        assert attempts[(plan_safe.id, safe.id)] == [1, 1, 1, 2]  # only element 2 again
        assert attempts[(plan_unsafe.id, unsafe.id)] == [1, 1, 1, 2]  # by the retry
    finally:
        await server.kill()


async def test_a_corrupt_database_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    garbage = b"this is not an SQLite database\n" * 512
    db.write_bytes(garbage)
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path / "data",
        log=tmp_path / "server.log",
        extra=("--db", str(db)),
    )
    try:
        await server.start()
        code = await server.wait_exit(within=30)
    finally:
        await server.kill()
    assert code != 0
    text = server.log_text()
    assert str(db) in text
    errors = [r for r in server.log_records() if r.get("level") == "error"]
    assert errors, text
    assert any(str(db) in str(r) for r in errors)
    assert "Traceback" not in text
    assert db.read_bytes() == garbage
