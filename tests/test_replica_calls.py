"""Two replicas on one PostgreSQL database, in this process, each a real gRPC server: any
replica answers any call (status, listing, watching, control) for an execution the other
runs; a full replica queues new work for one with room; a leaving one hands its executions
over at once; a replica whose database connections break takes its executions back from
their journals. And the owner's answer to a forwarded call, status or refusal, reaches the
caller with every detail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.events import assert_well_formed
from tests.support.tools import Gate, Record

from executor_client import (
    AsyncExecutorClient,
    FailedPreconditionError,
    approval,
    compensation,
    output,
    plan,
    retry_policy,
    status_name,
    step,
    step_status_name,
    wait_for_signal,
)
from executor_server.app import Config, build_server
from executor_server.domain.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    RequestError,
    ResourceExhausted,
    StillRunning,
    Unavailable,
)
from executor_server.domain.status import ExecutionStatus
from executor_server.engine.replicas import Moved, decode_answer, encode_answer
from executor_server.rpc.server import ExecutorServer
from executor_server.tools.registry import ToolRegistry

PLAN = "00000000-0000-4000-8000-000000000001"
Start = Callable[..., Coroutine[Any, Any, tuple[ExecutorServer, AsyncExecutorClient]]]


@pytest.fixture
async def replica(tmp_path: Path, tools: ToolRegistry, pg_url: str) -> AsyncIterator[Start]:
    """Starts replicas (named, with Config overrides) on one database; all stop at the end."""
    running: list[tuple[ExecutorServer, AsyncExecutorClient]] = []

    async def start(name: str, **overrides: Any) -> tuple[ExecutorServer, AsyncExecutorClient]:
        config = Config(
            address="127.0.0.1:0",
            data_dir=tmp_path / name,
            db_url=pg_url,
            replica_id=name,
            **overrides,
        )
        server = await build_server(config, tools=tools)
        await server.start()
        client = AsyncExecutorClient(f"127.0.0.1:{server.port}", timeout=20.0)
        running.append((server, client))
        return server, client

    try:
        yield start
    finally:
        for server, client in reversed(running):
            await client.close()
            await server.stop(drain_seconds=0, grace_seconds=1)


async def _owner(server: ExecutorServer, plan_id: str) -> str | None:
    store = server.executor._shared
    assert store is not None
    lease = await store.lease(plan_id)
    return None if lease is None else lease.owner


async def test_any_replica_answers_for_an_execution_the_other_runs(
    replica: Start, gate: Gate
) -> None:
    a, to_a = await replica("a")
    _, to_b = await replica("b")
    first = step("gate", {"key": "first"}, name="first")
    second = step("echo", {"n": 2}, name="second", depends_on=[first])
    p = plan(first, second, name="elsewhere")

    await to_a.execute_plan(p, detach=True)
    await gate.started("first")
    assert await _owner(a, p.id) == "a"
    seen: list[Any] = []

    async def watch() -> None:  # through b, from the first event, live
        async for event in to_b.watch(p.id):
            seen.append(event)

    watching = asyncio.create_task(watch())
    status = await to_b.get_execution_status(p.id)
    assert status_name(status.status) == "RUNNING"
    listed = await to_b.list_executions_page()
    assert [e.plan_id for e in listed.executions] == [p.id]

    # Control calls on b reach a, and answer with the status a journaled.
    assert status_name(await to_b.pause_execution(p.id)) == "PAUSED"
    assert status_name((await to_a.get_execution_status(p.id)).status) == "PAUSED"
    assert status_name(await to_b.pause_execution(p.id)) == "PAUSED"  # already holds
    assert status_name(await to_b.resume_execution(p.id)) == "RUNNING"
    with pytest.raises(FailedPreconditionError) as refused:
        await to_b.rollback_execution(p.id)  # a's refusal, with its details
    assert refused.value.status is not None and status_name(refused.value.status) == "RUNNING"
    assert await _owner(a, p.id) == "a"  # nothing moved

    gate.open("first")
    result = await to_b.execute_plan(p)  # attaches, and returns when it ends on a
    assert status_name(result.status) == "COMPLETED"
    async with asyncio.timeout(10):
        await watching
    assert_well_formed(seen)
    assert status_name(seen[-1].status) == "COMPLETED"
    assert [e.sequence for e in seen] == [e.sequence for e in await _all(to_a, p.id)]


async def _all(client: AsyncExecutorClient, plan_id: str) -> list[Any]:
    return [e async for e in client.watch(plan_id, reconnect=False)]


async def test_cancel_and_rollback_on_another_replica(replica: Start, gate: Gate) -> None:
    _, to_a = await replica("a")
    _, to_b = await replica("b")
    done = step("echo", {"n": 1}, name="done", compensation=compensation("echo", {"undo": 1}))
    held = step("gate", {"key": "held"}, name="held", depends_on=[done])
    p = plan(done, held, name="undo elsewhere")
    await to_a.execute_plan(p, detach=True)
    await gate.started("held")
    assert status_name(await to_b.cancel_execution(p.id, "enough")) == "CANCELLED"
    assert gate.cancelled == ["held"]  # the tool on a saw the cancellation
    assert status_name(await to_b.rollback_execution(p.id)) == "ROLLED_BACK"
    assert status_name(await to_a.rollback_execution(p.id)) == "ROLLED_BACK"  # holds
    events = await _all(to_b, p.id)
    assert_well_formed(events, rollback=True)


async def test_gates_and_signals_are_decided_on_any_replica(replica: Start) -> None:
    _, to_a = await replica("a")
    _, to_b = await replica("b")
    gated = step("echo", {"n": 1}, name="gated", approval=approval("ship?"))
    told = wait_for_signal("go", name="told", depends_on=[gated])
    p = plan(gated, told, name="decided elsewhere")
    await to_a.execute_plan(p, detach=True)
    async with asyncio.timeout(10):
        while not await to_a.list_approvals(p.id):  # noqa: ASYNC110 (the gate opens on a)
            await asyncio.sleep(0.02)
    with pytest.raises(FailedPreconditionError):  # a's refusal, through b: no gate there
        await to_b.approve_step(p.id, "told")
    decided = await to_b.approve_step(p.id, "gated", comment="fine")  # applied on a
    assert decided.approval.comment == "fine"
    status = await to_b.signal_execution(p.id, "go", {"ok": True})
    assert status_name(status) in ("RUNNING", "COMPLETED")  # the signal may end it
    result = await to_b.wait(p.id, timeout=20)
    assert status_name(result.status) == "COMPLETED"
    assert output(result.step_results[1].output) == {"ok": True}


async def _inbox(client: AsyncExecutorClient, plan_id: str = "") -> list[Any]:
    return list(await client.list_approvals(plan_id))


async def _listed(client: AsyncExecutorClient, count: int) -> list[Any]:
    async with asyncio.timeout(10):
        while len(inbox := await _inbox(client)) < count:  # noqa: ASYNC110 (gates open on a)
            await asyncio.sleep(0.02)
    return inbox


async def test_the_inbox_lists_every_replicas_gates(replica: Start) -> None:
    _, to_a = await replica("a")
    _, to_b = await replica("b")
    who = step("echo", {"who": "ops"}, name="who")
    ship = step(
        "echo",
        {"to": "${steps.who.output.who}"},
        name="ship",
        depends_on=[who],
        approval=approval("ship to ${steps.who.output.who}?", timeout=3600, allow_edit=True),
    )
    audit = step("echo", {}, name="audit", approval=approval("audit?"))
    one = plan(who, ship, audit, name="one")
    two = plan(step("echo", {}, name="other", approval=approval("other?")), name="two")
    three = plan(step("echo", {}, name="third", approval=approval("third?")), name="three")
    for p, gates in ((one, 2), (two, 3), (three, 4)):  # each opens after the one before
        await to_a.execute_plan(p, detach=True)
        await _listed(to_a, gates)

    # Through b, the gates a runs: the same entries, oldest first.
    on_a = await _inbox(to_a)
    on_b = await _inbox(to_b)
    assert on_b == on_a
    names = [(e.plan_name, e.step_name) for e in on_b]
    assert sorted(names[:2]) == [("one", "audit"), ("one", "ship")]
    assert names[2:] == [("two", "other"), ("three", "third")]
    shipping = next(e for e in on_b if e.step_name == "ship")
    assert shipping.prompt == "ship to ops?" and output(shipping.arguments) == {"to": "ops"}
    assert shipping.HasField("deadline") and shipping.allow_edit
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await to_b.list_approvals_page(page_size=3, page_token=token)
        pages.append([e.step_name for e in page.approvals])
        if not (token := page.next_page_token):
            break
    assert pages == [[e.step_name for e in on_a[:3]], ["third"]]
    assert {e.step_name for e in await _inbox(to_b, one.id)} == {"ship", "audit"}

    # A decision through either replica closes the gate in both inboxes; so does cancel.
    await to_b.approve_step(one.id, "ship", comment="fine")
    await to_a.approve_step(two.id, "other")
    assert status_name(await to_b.cancel_execution(three.id)) == "CANCELLED"
    for client in (to_a, to_b):
        assert [(e.plan_name, e.step_name) for e in await _inbox(client)] == [("one", "audit")]
    await to_b.approve_step(one.id, "audit")
    assert status_name((await to_b.wait(one.id, timeout=20)).status) == "COMPLETED"
    assert await _inbox(to_a) == [] and await _inbox(to_b) == []

    # Run again, the cancelled execution's gate waits for a decision of its own again.
    await to_b.retry_execution(three.id, detach=True)
    (again,) = await _listed(to_b, 1)
    assert (again.plan_name, again.step_name) == ("three", "third")
    assert list(await _inbox(to_a)) == [again]
    await to_a.approve_step(three.id, "third")
    assert status_name((await to_b.wait(three.id, timeout=20)).status) == "COMPLETED"
    assert await _inbox(to_b) == []


async def test_a_cancel_closes_gates_at_once_while_attempts_wind_down(
    replica: Start, gate: Gate
) -> None:
    """The waiting step ends in the journal when the stop begins, not when the attempt that
    takes its time to stop ends; so no replica lists a gate that can no longer be decided."""
    _, to_a = await replica("a")
    _, to_b = await replica("b")
    busy = step("gate", {"key": "busy", "linger": 3}, name="busy")
    ship = step("echo", {}, name="ship", approval=approval("ship?"))
    p = plan(busy, ship, name="winding")
    await to_a.execute_plan(p, detach=True)
    await gate.started("busy")
    await _listed(to_b, 1)
    cancelling = asyncio.create_task(to_a.cancel_execution(p.id))
    async with asyncio.timeout(2):  # well inside the 3 s the attempt takes to stop
        while await _inbox(to_b):  # noqa: ASYNC110 (the gate closes on a)
            await asyncio.sleep(0.02)
    during = await to_b.get_execution_status(p.id)
    assert status_name(during.status) == "RUNNING"  # still winding down
    assert status_name(await cancelling) == "CANCELLED"
    result = await to_b.wait(p.id, timeout=20)
    assert [step_status_name(s.status) for s in result.step_results] == ["CANCELLED"] * 2


async def test_a_full_replica_queues_work_for_one_with_room(replica: Start, gate: Gate) -> None:
    _, to_a = await replica("a", max_active_executions=1)
    b, _ = await replica("b")
    busy = plan(step("gate", {"key": "busy"}, name="busy"), name="busy")
    queued = plan(step("echo", {"n": 1}, name="quick"), name="queued")
    await to_a.execute_plan(busy, detach=True)
    await gate.started("busy")
    # a is full: the plan is journaled unowned, b claims it at once; the blocking call on
    # a returns when it ends on b.
    result = await to_a.execute_plan(queued)
    assert status_name(result.status) == "COMPLETED"
    assert await _owner(b, queued.id) == "b"
    assert_well_formed(await _all(to_a, queued.id))
    gate.open("busy")
    assert status_name((await to_a.wait(busy.id)).status) == "COMPLETED"


async def test_a_leaving_replica_hands_its_executions_over_at_once(
    replica: Start, gate: Gate
) -> None:
    # Leases far longer than the test: only the handover can explain a quick takeover.
    a, to_a = await replica("a", lease_seconds=60.0)
    b, to_b = await replica("b", lease_seconds=60.0)
    held = step("gate", {"key": "held"}, name="held")
    after = step("echo", {"n": 2}, name="after", depends_on=[held])
    p = plan(held, after, name="handover")
    await to_a.execute_plan(p, detach=True)
    await gate.started("held")
    starts = len(gate.starts)

    stopping = asyncio.create_task(a.stop(drain_seconds=0.5, grace_seconds=1))
    async with asyncio.timeout(10):
        while await _owner(b, p.id) != "b":  # noqa: ASYNC110 (another replica's claim)
            await asyncio.sleep(0.02)
        while len(gate.starts) == starts:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    gate.open("held")
    assert status_name((await to_b.wait(p.id)).status) == "COMPLETED"
    await stopping
    events = await _all(to_b, p.id)
    assert_well_formed(events)


async def test_a_replica_whose_database_connections_break_goes_on_from_the_journal(
    replica: Start, gate: Gate, pg_url: str
) -> None:
    _, client = await replica("a")
    p = plan(step("gate", {"key": "held"}, name="held"), name="blip")
    await client.execute_plan(p, detach=True)
    await gate.started("held")
    # Every connection of the replica is cut (a restart of PostgreSQL, a failover).
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as db:
        await db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    gate.open("held")  # its outcome cannot be journaled on the broken connection
    result = await client.wait(p.id, timeout=20)
    assert status_name(result.status) == "COMPLETED"
    events = await _all(client, p.id)
    assert_well_formed(events)


@pytest.mark.parametrize(
    "error",
    [
        FailedPrecondition(
            "cannot pause", plan_id=PLAN, status=ExecutionStatus.COMPLETED, reason="X"
        ),
        StillRunning("winding down", plan_id=PLAN, status=ExecutionStatus.CANCELLED),
        NotFound(PLAN),
        InvalidArgument([FieldViolation("step_id", "no such step")], reason="UNKNOWN_STEP"),
        ResourceExhausted("busy", retry_after_seconds=2.5),
        Moved(PLAN),
        Unavailable("shutting down"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_owners_refusal_reaches_the_caller_as_it_was(error: RequestError) -> None:
    with pytest.raises(type(error)) as caught:
        decode_answer(encode_answer(error), PLAN)
    decoded = caught.value
    assert (decoded.message, decoded.reason, decoded.metadata) == (
        error.message,
        error.reason,
        error.metadata,
    )
    assert getattr(decoded, "status", None) == getattr(error, "status", None)
    assert getattr(decoded, "violations", None) == getattr(error, "violations", None)
    assert getattr(decoded, "retry_after_seconds", None) == getattr(
        error, "retry_after_seconds", None
    )


def test_an_owners_status_reaches_the_caller() -> None:
    assert decode_answer(encode_answer(ExecutionStatus.PAUSED), PLAN) is ExecutionStatus.PAUSED


async def test_retry_through_either_replica(replica: Start, gate: Gate, recorder: Record) -> None:
    """RetryExecution on b of an execution a runs is a's refusal; once it failed, b (or
    whichever replica takes it) runs it again from where it failed."""
    _, to_a = await replica("a")
    _, to_b = await replica("b")
    first = step("record", {"what": "first"}, name="first")
    held = step("gate", {"key": "held"}, name="held", depends_on=[first])
    flaky = step(
        "fail",
        {"succeed_on_attempt": 2},
        name="flaky",
        depends_on=[held],
        retry=retry_policy(max_attempts=1),
    )
    p = plan(first, held, flaky, name="redrive")
    await to_a.execute_plan(p, detach=True)
    await gate.started("held")
    with pytest.raises(FailedPreconditionError) as refused:
        await to_b.retry_execution(p.id)
    assert refused.value.status is not None and status_name(refused.value.status) == "RUNNING"
    gate.open("held")
    assert status_name((await to_a.wait(p.id)).status) == "FAILED"

    result = await to_b.retry_execution(p.id)

    assert status_name(result.status) == "COMPLETED"
    assert output(result.step_results[2].output) == {"attempt": 2}
    assert [c.step_name for c in recorder.for_plan(p.id)] == ["first"]  # not run again
    assert status_name((await to_a.get_execution_status(p.id)).status) == "COMPLETED"
