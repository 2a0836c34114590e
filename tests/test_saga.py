"""Saga rollback over the wire: declared and self-compensation, order, retries, control."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.support.events import (
    STEP_CHANGED,
    both_stores,
    collect,
    statuses,
    wait_for_event,
)
from tests.support.tools import Gate, Record, make_registry

from executor_client import (
    AsyncExecutorClient,
    FailedPreconditionError,
    InvalidArgumentError,
    executor_pb2,
    output,
    status_name,
    step_status_name,
)
from executor_client.plans import compensation, plan, retry_policy, step
from executor_server.app import Config, build_server
from executor_server.domain.errors import ToolError
from executor_server.domain.models import JsonObject
from executor_server.tools.protocol import ToolContext, ToolSpec
from executor_server.tools.registry import ToolRegistry

pb = executor_pb2


class Ledger:
    """`create` makes an item and returns its id; `delete` removes one and records the order.

    `delete` fails the first `fail_times[id]` calls for an id, to show retries.
    """

    def __init__(self) -> None:
        self.items: dict[str, JsonObject] = {}
        self.deleted: list[str] = []
        self.delete_calls: Counter[str] = Counter()
        self.fail_times: dict[str, int] = {}

    def tools(self) -> list[Any]:
        ledger = self

        class Create:
            spec = ToolSpec(name="create", description="Creates an item.", idempotent=True)

            async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
                item_id = f"item-{arguments['label']}"
                ledger.items[item_id] = dict(arguments)
                return {"id": item_id}

        class Delete:
            spec = ToolSpec(
                name="delete",
                description="Deletes an item.",
                input_schema={
                    "type": "object",
                    "properties": {"id": {"type": "string"}},
                    "required": ["id"],
                },
                idempotent=True,
            )

            async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
                item_id = arguments["id"]
                ledger.delete_calls[item_id] += 1
                if ledger.delete_calls[item_id] <= ledger.fail_times.get(item_id, 0):
                    raise ToolError(f"cannot delete {item_id} yet")
                ledger.items.pop(item_id, None)
                ledger.deleted.append(item_id)
                return {"deleted": item_id, "with": {k: v for k, v in arguments.items()}}

        class Reserve:
            """Undoes itself: no compensation needs declaring."""

            spec = ToolSpec(
                name="reserve",
                description="Reserves a seat; rollback releases it.",
                compensable=True,
            )

            async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
                ledger.items[f"seat-{arguments['seat']}"] = {}
                return {"seat": arguments["seat"]}

            async def compensate(
                self, arguments: JsonObject, result: Any, context: ToolContext
            ) -> Any:
                ledger.items.pop(f"seat-{result['seat']}", None)
                ledger.deleted.append(f"seat-{result['seat']}")
                return {"released": result["seat"]}

        return [Create(), Delete(), Reserve()]


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def tools(gate: Gate, recorder: Record, ledger: Ledger) -> ToolRegistry:
    return make_registry(gate, recorder, *ledger.tools())


def undoable(label: str, **kwargs: Any) -> pb.ActionStep:
    """A `create` step whose compensation deletes what it created."""
    return step(
        "create",
        {"label": label},
        name=label,
        compensation=compensation("delete", {"id": "${steps.self.output.id}"}),
        **kwargs,
    )


def boom(*depends_on: pb.ActionStep) -> pb.ActionStep:
    return step("fail", {"retryable": False}, name="boom", depends_on=depends_on)


AUTO = pb.ExecutionOptions(auto_rollback=True, max_concurrent_steps=4)


def compensation_order(events: list[pb.ExecutionEvent], names: dict[str, str]) -> list[str]:
    """Names of the steps in the order their compensation completed."""
    return [
        names[e.step_id]
        for e in events
        if e.type == STEP_CHANGED and step_status_name(e.step_status) == "COMPENSATED"
    ]


@both_stores
async def test_auto_rollback_compensates_a_diamond_in_reverse_dependency_order(
    client: AsyncExecutorClient, ledger: Ledger
) -> None:
    a = undoable("a")
    b = undoable("b", depends_on=[a])
    c = undoable("c", depends_on=[a])
    d = undoable("d", depends_on=[b, c])
    p = plan(a, b, c, d, boom(d))
    result = await client.execute_plan(p, AUTO)

    assert status_name(result.status) == "ROLLED_BACK"
    assert ledger.items == {}
    # d before b and c; a last; between b and c the later plan position goes first.
    assert ledger.deleted == ["item-d", "item-c", "item-b", "item-a"]
    # The failure that caused the rollback stays on the result.
    assert result.error.step_id == p.steps[4].id
    by_id = {r.step_id: r for r in result.step_results}
    for s in (a, b, c, d):
        record = by_id[s.id]
        assert step_status_name(record.status) == "COMPENSATED"
        assert step_status_name(record.compensation.status) == "COMPENSATED"
        assert record.compensation.attempts == 1
        assert output(record.output) == {"id": f"item-{s.name}"}
    assert step_status_name(by_id[p.steps[4].id].status) == "FAILED"
    assert result.progress.compensated_steps == 4
    assert result.compensation_usage.tool_invocations == 4
    assert result.resource_usage.tool_invocations == 5

    events = await collect(client, p.id)
    assert statuses(events) == ["PENDING", "RUNNING", "FAILED", "ROLLING_BACK", "ROLLED_BACK"]
    names = {s.id: s.name for s in p.steps}
    assert compensation_order(events, names) == ["d", "c", "b", "a"]
    # a's compensation starts only after both b and c are compensated
    a_starts = next(
        i
        for i, e in enumerate(events)
        if e.step_id == a.id and step_status_name(e.step_status) == "COMPENSATING"
    )
    done = [
        i
        for i, e in enumerate(events)
        if e.step_id in (b.id, c.id) and step_status_name(e.step_status) == "COMPENSATED"
    ]
    assert max(done) < a_starts


async def test_independent_compensations_run_in_parallel_up_to_the_limit(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    root = step("echo", {"root": True}, name="root")
    leaves = [
        step(
            "echo",
            {"n": n},
            name=f"leaf{n}",
            depends_on=[root],
            compensation=compensation("gate", {"key": f"undo{n}"}),
        )
        for n in range(6)
    ]
    p = plan(root, *leaves, boom(*leaves))
    options = pb.ExecutionOptions(auto_rollback=True, max_concurrent_steps=3)
    run = asyncio.create_task(client.execute_plan(p, options))
    # Later plan positions first: leaves 5, 4, 3 start, and no more until one ends.
    for n in (5, 4, 3):
        await gate.started(f"undo{n}")
    assert gate.running == 3
    assert sorted(gate.starts) == ["undo3", "undo4", "undo5"]
    gate.open("undo5")
    await gate.started("undo2")
    gate.open(*(f"undo{n}" for n in range(6)))
    result = await run
    assert status_name(result.status) == "ROLLED_BACK"
    assert gate.max_running == 3
    assert gate.starts[:4] == ["undo5", "undo4", "undo3", "undo2"]


async def test_outputs_flow_into_compensation_arguments(
    client: AsyncExecutorClient, ledger: Ledger
) -> None:
    parent = step("create", {"label": "parent"}, name="parent")
    child = step(
        "create",
        {"label": "child"},
        name="child",
        depends_on=[parent],
        compensation=compensation(
            "delete",
            {
                "id": "${steps.child.output.id}",
                "parent": "${steps.parent.output.id}",
                "note": "undo ${steps.self.output.id} under ${steps.parent.output.id}",
            },
        ),
    )
    result = await client.execute_plan(plan(parent, child, boom(child)), AUTO)
    assert status_name(result.status) == "ROLLED_BACK"
    undo = {r.step_id: r for r in result.step_results}[child.id].compensation
    assert output(undo.output) == {
        "deleted": "item-child",
        "with": {
            "id": "item-child",
            "parent": "item-parent",
            "note": "undo item-child under item-parent",
        },
    }
    # parent declared no compensation: it stays completed, and is not undone
    assert "item-parent" in ledger.items


async def test_a_compensation_that_fails_then_succeeds_on_retry(
    client: AsyncExecutorClient, ledger: Ledger
) -> None:
    ledger.fail_times["item-x"] = 2
    x = step(
        "create",
        {"label": "x"},
        name="x",
        compensation=compensation(
            "delete",
            {"id": "${steps.self.output.id}"},
            retry=retry_policy(max_attempts=3, initial_backoff=0.01),
        ),
    )
    result = await client.execute_plan(plan(x, boom(x)), AUTO)
    assert status_name(result.status) == "ROLLED_BACK"
    undo = result.step_results[0].compensation
    assert step_status_name(undo.status) == "COMPENSATED"
    assert undo.attempts == 3
    assert ledger.delete_calls["item-x"] == 3


@both_stores
async def test_a_failed_compensation_does_not_stop_the_others_and_a_second_rollback_retries_only_it(
    client: AsyncExecutorClient, ledger: Ledger
) -> None:
    ledger.fail_times["item-b"] = 1
    a = undoable("a")
    b = undoable("b", depends_on=[a])
    c = undoable("c", depends_on=[a])
    p = plan(a, b, c, boom(b, c))
    result = await client.execute_plan(p, AUTO)

    assert status_name(result.status) == "ROLLBACK_FAILED"
    by_id = {r.step_id: r for r in result.step_results}
    assert step_status_name(by_id[b.id].status) == "COMPENSATION_FAILED"
    assert "cannot delete item-b yet" in by_id[b.id].compensation.error
    assert step_status_name(by_id[c.id].status) == "COMPENSATED"
    assert step_status_name(by_id[a.id].status) == "COMPENSATED"  # not held back by b
    assert "'b'" in result.error.message and "cannot delete item-b yet" in result.error.message
    assert result.error.step_id == b.id

    assert status_name(await client.rollback_execution(p.id)) == "ROLLED_BACK"
    assert ledger.delete_calls == Counter({"item-a": 1, "item-b": 2, "item-c": 1})
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "ROLLED_BACK"
    assert all(step_status_name(r.status) == "COMPENSATED" for r in status.step_results[:3])


async def test_repeating_a_finished_rollback_changes_nothing(
    client: AsyncExecutorClient, ledger: Ledger
) -> None:
    a = undoable("a")
    p = plan(a, boom(a))
    assert status_name((await client.execute_plan(p, AUTO)).status) == "ROLLED_BACK"
    before = await client.get_execution_status(p.id)
    assert status_name(await client.rollback_execution(p.id)) == "ROLLED_BACK"
    after = await client.get_execution_status(p.id)
    assert after.last_sequence == before.last_sequence
    assert ledger.delete_calls["item-a"] == 1


async def test_rollback_on_request_of_a_failed_execution(
    client: AsyncExecutorClient, ledger: Ledger
) -> None:
    a = undoable("a")
    b = step("reserve", {"seat": "12A"}, name="b", depends_on=[a])
    p = plan(a, b, boom(b))
    result = await client.execute_plan(p)
    assert status_name(result.status) == "FAILED"
    assert "item-a" in ledger.items and "seat-12A" in ledger.items

    assert status_name(await client.rollback_execution(p.id)) == "ROLLED_BACK"
    # The self-compensating tool needed no declaration, and ran before a's.
    assert ledger.deleted == ["seat-12A", "item-a"]
    status = await client.get_execution_status(p.id)
    undo = {r.step_id: r for r in status.step_results}[b.id].compensation
    assert output(undo.output) == {"released": "12A"}
    assert status.compensation_usage.tool_invocations == 2


async def test_auto_rollback_on_cancel(
    client: AsyncExecutorClient, gate: Gate, ledger: Ledger
) -> None:
    a = undoable("a")
    wait = step("gate", {"key": "hold"}, name="wait", depends_on=[a])
    p = plan(a, wait)
    options = pb.ExecutionOptions(auto_rollback=True, rollback_on_cancel=True)
    await client.execute_plan(p, options, detach=True)
    await gate.started("hold")
    await client.cancel_execution(p.id, reason="user changed their mind")
    final = await client.wait(p.id)
    assert status_name(final.status) == "ROLLED_BACK"
    assert ledger.deleted == ["item-a"]
    events = await collect(client, p.id)
    assert statuses(events)[-3:] == ["CANCELLED", "ROLLING_BACK", "ROLLED_BACK"]


async def test_cancel_without_rollback_on_cancel_leaves_it_cancelled(
    client: AsyncExecutorClient, gate: Gate, ledger: Ledger
) -> None:
    a = undoable("a")
    p = plan(a, step("gate", {"key": "hold2"}, depends_on=[a]))
    await client.execute_plan(p, AUTO, detach=True)
    await gate.started("hold2")
    assert status_name(await client.cancel_execution(p.id)) == "CANCELLED"
    assert ledger.deleted == []


async def test_rollback_is_refused_for_running_and_completed_executions(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    running = plan(step("gate", {"key": "busy"}))
    await client.execute_plan(running, detach=True)
    await gate.started("busy")
    with pytest.raises(FailedPreconditionError) as caught:
        await client.rollback_execution(running.id)
    assert caught.value.status == pb.EXECUTION_STATUS_RUNNING
    gate.open("busy")
    await client.wait(running.id)

    done = plan(undoable("z"))
    assert status_name((await client.execute_plan(done)).status) == "COMPLETED"
    with pytest.raises(FailedPreconditionError) as caught:
        await client.rollback_execution(done.id)
    assert caught.value.status == pb.EXECUTION_STATUS_COMPLETED
    assert "COMPLETED" in caught.value.message


async def test_pause_holds_a_rollback_and_resume_continues_it(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    first = step("echo", {}, name="first", compensation=compensation("gate", {"key": "u1"}))
    second = step(
        "echo",
        {},
        name="second",
        depends_on=[first],
        compensation=compensation("gate", {"key": "u2"}),
    )
    p = plan(first, second, boom(second))
    run = asyncio.create_task(client.execute_plan(p, AUTO))
    await gate.started("u2")
    assert status_name(await client.pause_execution(p.id)) == "PAUSED"
    gate.open("u2")  # the running compensation finishes and is recorded ...
    await wait_for_event(client, p.id, step_id=second.id, step_status="COMPENSATED")
    assert "u1" not in gate.starts  # ... but no new one starts while paused
    assert status_name(await client.resume_execution(p.id)) == "ROLLING_BACK"
    gate.open("u1")
    assert status_name((await run).status) == "ROLLED_BACK"
    events = await collect(client, p.id)
    assert statuses(events)[-4:] == ["ROLLING_BACK", "PAUSED", "ROLLING_BACK", "ROLLED_BACK"]


async def test_cancel_during_rollback_stops_it_and_names_what_was_not_compensated(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    first = step("echo", {}, name="first", compensation=compensation("gate", {"key": "c1"}))
    second = step(
        "echo",
        {},
        name="second",
        depends_on=[first],
        compensation=compensation("gate", {"key": "c2"}),
    )
    p = plan(first, second, boom(second))
    run = asyncio.create_task(client.execute_plan(p, AUTO))
    await gate.started("c2")
    assert status_name(await client.cancel_execution(p.id)) == "ROLLBACK_FAILED"
    result = await run
    assert status_name(result.status) == "ROLLBACK_FAILED"
    assert "c2" in gate.cancelled
    assert "not compensated: 'first'" in result.error.message
    by_id = {r.step_id: r for r in result.step_results}
    assert step_status_name(by_id[second.id].status) == "COMPENSATION_FAILED"
    assert step_status_name(by_id[first.id].status) == "COMPLETED"


async def test_compensation_references_are_checked_at_submission(
    client: AsyncExecutorClient,
) -> None:
    a = step("create", {"label": "a"}, name="a")
    b = step(
        "create",
        {"label": "b"},
        name="b",
        compensation=compensation("delete", {"id": "${steps.a.output.id}"}),
    )
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(plan(a, b))
    fields = {v.field: v.description for v in caught.value.field_violations}
    assert "not among its dependencies" in fields["plan.steps[1].compensation.arguments"]

    no_id = step("create", {"label": "c"}, compensation=compensation("delete", {}))
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(plan(no_id))
    assert caught.value.field_violations[0].field == "plan.steps[0].compensation.arguments"


async def test_an_interrupted_rollback_resumes_after_restart_without_compensating_twice(
    tmp_path: Path, gate: Gate, ledger: Ledger
) -> None:
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=tmp_path / "j.db")
    tools = make_registry(gate, *ledger.tools())
    a = undoable("a")
    b = step(
        "echo", {}, name="b", depends_on=[a], compensation=compensation("gate", {"key": "slow"})
    )
    c = undoable("c", depends_on=[a])
    p = plan(a, b, c, boom(b, c))

    first = await build_server(config, tools=tools)
    await first.start()
    async with AsyncExecutorClient(f"127.0.0.1:{first.port}") as client:
        await client.execute_plan(p, AUTO, detach=True)
        await gate.started("slow")
        await wait_for_event(client, p.id, step_id=c.id, step_status="COMPENSATED")
    await first.stop(drain_seconds=0, grace_seconds=0)  # the rollback is cut off mid-way
    assert ledger.deleted == ["item-c"]

    gate.open("slow")
    second = await build_server(config, tools=tools)
    await second.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{second.port}") as client:
            final = await client.wait(p.id)
            events = await collect(client, p.id)
    finally:
        await second.stop(drain_seconds=0, grace_seconds=1)
    assert status_name(final.status) == "ROLLED_BACK"
    assert ledger.deleted == ["item-c", "item-a"]  # c was not compensated again
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
