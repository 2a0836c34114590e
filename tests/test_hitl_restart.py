"""Waits survive a crash: the real server process killed with SIGKILL while steps wait, and
restarted on its journal (SQLite and PostgreSQL), twice.

A sleep ends at the time journaled when it began, an approval after the restart runs the
tool once and never again, a decision made during a pause and a signal that came early
are still there after the restart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tests.support.events import STEP_CHANGED, collect, wait_for_event
from tests.support.proc import ServerProcess, free_port, read_marks, write_plugin

from executor_client import (
    AsyncExecutorClient,
    approval,
    executor_pb2,
    output,
    plan,
    sleep,
    status_name,
    step,
    step_status_name,
    wait_for_signal,
)

pb = executor_pb2


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request: pytest.FixtureRequest) -> tuple[str, ...]:
    if request.param == "sqlite":
        return ()
    return ("--db", request.getfixturevalue("pg_url"))


async def _restart(server: ServerProcess) -> float:
    """Kill the server (SIGKILL) and start it again; returns when it serves again."""
    await server.kill()
    await server.start()
    await server.wait_serving()
    return time.time()


async def test_waits_decisions_and_signals_survive_a_killed_server(
    tmp_path: Path, journal: tuple[str, ...]
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    marks = tmp_path / "marks.txt"
    f = str(marks)
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path / "data",
        log=tmp_path / "log",
        pythonpath=plugin,
        extra=journal,
    )
    # (a) waits for its approval across the crash; `mark` is not idempotent.
    gated = step("mark", {"file": f}, name="gated", approval=approval("go?"))
    plan_a = plan(gated, name="approve-after-restart")
    # (b) approved while paused, then the crash: its tool runs once, on resume.
    paused = step("mark", {"file": f}, name="paused", approval=approval())
    plan_b = plan(paused, name="decided-while-paused")
    # (c) a signal kept before its step waits, then the crash mid-way through `hold`.
    hold = step("mark_idempotent", {"file": f, "seconds": 60, "fast_from_attempt": 2}, name="hold")
    paid = wait_for_signal("paid", name="paid", depends_on=[hold])
    plan_c = plan(hold, paid, name="early-signal")
    # (d) sleeps across the crash.
    nap = sleep(3, name="nap")
    plan_d = plan(nap, step("echo", {"woke": "${steps.nap.output.slept_until}"}, depends_on=[nap]))
    try:
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(server.address, timeout=20) as client:
            for p in (plan_a, plan_b, plan_c):
                await client.execute_plan(p, detach=True)
            await wait_for_event(client, plan_a.id, step_id=gated.id, step_status="WAITING")
            await wait_for_event(client, plan_b.id, step_id=paused.id, step_status="WAITING")
            await client.pause_execution(plan_b.id)
            await client.approve_step(plan_b.id, "paused", comment="after the pause")
            await wait_for_event(client, plan_c.id, step_id=hold.id, step_status="RUNNING")
            await client.signal_execution(plan_c.id, "paid", {"amount": 7})
            await client.execute_plan(plan_d, detach=True)
            waiting = await wait_for_event(client, plan_d.id, step_id=nap.id, step_status="WAITING")
        assert [m[1] for m in read_marks(marks)] == [hold.id]
        ends = waiting.wait_deadline.ToNanoseconds() / 1e9

        serving_again = await _restart(server)
        async with AsyncExecutorClient(server.address, timeout=20) as client:
            inbox = await client.list_approvals()
            assert [(a.plan_id, a.step_name, a.prompt) for a in inbox] == [
                (plan_a.id, "gated", "go?")
            ]
            await client.approve_step(plan_a.id, "gated")
            await client.resume_execution(plan_b.id)
            results = {
                p.id: await client.wait(p.id, timeout=30) for p in (plan_a, plan_b, plan_c, plan_d)
            }
            slept = await collect(client, plan_d.id)
            decided = results[plan_b.id].step_results[0].approval
            assert decided.comment == "after the pause"
            assert output(results[plan_c.id].step_results[1].output) == {"amount": 7}
        (woke,) = [
            e
            for e in slept
            if e.type == STEP_CHANGED
            and step_status_name(e.step_status) == "COMPLETED"
            and e.step_id == nap.id
        ]
        woke_at = woke.event_time.ToNanoseconds() / 1e9
        # Not shortened: never before the journaled end. Not restarted: at that end, or at
        # once after the restart when the end passed while the server was down.
        assert woke_at >= ends
        assert woke_at <= max(ends, serving_again) + 1.5, (woke_at - ends, serving_again - ends)
        assert [e.step_status for e in slept].count(pb.STEP_STATUS_WAITING) == 1
        final_d = results[plan_d.id]
        assert output(final_d.step_results[1].output)["woke"] == output(woke.output)["slept_until"]

        await _restart(server)  # the completions are journaled: nothing runs again
        async with AsyncExecutorClient(server.address, timeout=20) as client:
            for p in (plan_a, plan_b, plan_c, plan_d):
                final = await client.get_execution_status(p.id)
                assert status_name(final.status) == "COMPLETED", p.name
            await asyncio.sleep(0.3)  # a tool (wrongly) run again would have marked by now
    finally:
        await server.kill()
    ran = [step_id for _, step_id, _ in read_marks(marks)]
    assert sorted(ran) == sorted([hold.id, hold.id, gated.id, paused.id]), ran
