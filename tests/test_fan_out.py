"""for_each over the wire: one run of a step's tool per element of a list, with bounded
parallelism, per-element retries, per-element rollback, redrive and restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.support.events import (
    STEP_CHANGED,
    assert_gap_free,
    both_stores,
    collect,
    error_type_name,
    statuses,
)
from tests.support.tools import BadOutput, Crash, Gate, Record, Slow, make_registry

from executor_client import (
    AsyncExecutorClient,
    InvalidArgumentError,
    executor_pb2,
    output,
    status_name,
    step_status_name,
)
from executor_client.plans import compensation, plan, retry_policy, step
from executor_server.app import Config, build_server
from executor_server.domain.limits import Limits
from executor_server.domain.models import JsonObject
from executor_server.tools.protocol import ToolContext, ToolSpec
from executor_server.tools.registry import ToolRegistry

pb = executor_pb2

NO_RETRY = retry_policy(max_attempts=1)


class Tracker:
    """Returns its arguments after a short wait; counts how many calls run at once."""

    spec = ToolSpec(
        name="track",
        description="Waits a moment, then returns its arguments.",
        input_schema={"type": "object"},
        idempotent=True,
    )

    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0
        self.calls = 0

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(0.002)
        finally:
            self.running -= 1
        return dict(arguments)


@pytest.fixture
def tracker() -> Tracker:
    return Tracker()


@pytest.fixture
def tools(gate: Gate, recorder: Record, slow: Slow, tracker: Tracker) -> ToolRegistry:
    return make_registry(gate, recorder, slow, BadOutput(), Crash(), tracker)


def _fan_out(count: int, **kwargs: Any) -> tuple[pb.ActionStep, pb.ActionStep]:
    source = step("echo", {"pages": [{"n": n} for n in range(count)]}, name="source")
    each = step(
        "track",
        {"page": "${item.n}", "index": "${item_index}", "label": "page ${item_index}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.pages}",
        **kwargs,
    )
    return source, each


@both_stores
@pytest.mark.parametrize(("count", "max_parallel"), [(0, 0), (1, 0), (1000, 7)])
async def test_for_each_runs_once_per_element_within_max_parallel(
    client: AsyncExecutorClient, tracker: Tracker, count: int, max_parallel: int
) -> None:
    source, each = _fan_out(count, max_parallel=max_parallel)
    after = step("echo", {"all": "${steps.each.output}"}, name="after", depends_on=[each])
    p = plan(source, each, after)

    result = await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=10))

    assert status_name(result.status) == "COMPLETED"
    fanned = result.step_results[1]
    expected = [{"page": n, "index": n, "label": f"page {n}"} for n in range(count)]
    assert output(fanned.output) == expected
    assert output(result.step_results[2].output) == {"all": expected}
    assert [i.index for i in fanned.items] == list(range(count))
    assert all(step_status_name(i.status) == "COMPLETED" for i in fanned.items)
    assert [output(i.output) for i in fanned.items] == expected
    assert tracker.calls == count
    assert tracker.max_running <= (max_parallel or 10)
    if count == 1000:
        assert tracker.max_running > 1  # it did run elements side by side
    assert result.resource_usage.tool_invocations == count + 2
    events = await collect(client, p.id)
    assert_gap_free(events)
    element_events = [e for e in events if e.HasField("item_index")]
    assert len(element_events) == 2 * count  # RUNNING and COMPLETED of each
    assert {e.item_index for e in element_events} == set(range(count))
    # In flight at once, from the events: never more than max_parallel.
    in_flight = peak = 0
    for e in element_events:
        in_flight += 1 if step_status_name(e.step_status) == "RUNNING" else -1
        peak = max(peak, in_flight)
    assert peak <= (max_parallel or 10)


async def test_an_element_retries_on_its_own(client: AsyncExecutorClient) -> None:
    source = step("echo", {"tries": [1, 3, 2]}, name="source")
    each = step(
        "fail",
        {"succeed_on_attempt": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.tries}",
        retry=retry_policy(max_attempts=3, initial_backoff=0.001),
    )
    result = await client.execute_plan(plan(source, each))

    assert status_name(result.status) == "COMPLETED"
    items = result.step_results[1].items
    assert [i.retry_count for i in items] == [0, 2, 1]
    assert output(result.step_results[1].output) == [
        {"attempt": 1},
        {"attempt": 3},
        {"attempt": 2},
    ]
    events = await collect(client, result.plan_id)
    retried = [
        e.item_index for e in events if e.type == pb.EXECUTION_EVENT_TYPE_STEP_RETRY_SCHEDULED
    ]
    assert sorted(retried) == [1, 1, 2]


async def test_an_element_that_fails_for_good_fails_the_step_and_cancels_its_siblings(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    source = step("echo", {"items": ["wait", "fail", "wait2", "later"]}, name="source")
    each = step(
        "gate",
        {"key": "${item}", "fail": True},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.items}",
        max_parallel=3,
        retry=NO_RETRY,
    )
    after = step("echo", {}, name="after", depends_on=[each])
    p = plan(source, each, after)
    await client.execute_plan(p, detach=True)
    for key in ("wait", "fail", "wait2"):
        await gate.started(key)

    gate.open("fail")
    events = await collect(client, p.id)

    result = await client.get_execution_status(p.id)
    assert status_name(result.status) == "FAILED"
    fanned = result.step_results[1]
    assert step_status_name(fanned.status) == "FAILED"
    assert [step_status_name(i.status) for i in fanned.items] == [
        "CANCELLED",
        "FAILED",
        "CANCELLED",
        "PENDING",
    ]
    assert fanned.error.startswith("item 1: ")
    assert result.error.step_id == each.id
    assert result.error.message.startswith("item 1: ")
    assert sorted(gate.cancelled) == ["wait", "wait2"]
    assert "later" not in gate.starts
    assert step_status_name(result.step_results[2].status) == "SKIPPED"
    assert_gap_free(events)


async def test_for_each_over_what_is_not_a_list_fails_the_step(
    client: AsyncExecutorClient,
) -> None:
    source = step("echo", {"pages": {"a": 1}}, name="source")
    each = step(
        "echo",
        {"p": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.pages}",
    )
    result = await client.execute_plan(plan(source, each))

    failed = result.step_results[1]
    assert step_status_name(failed.status) == "FAILED"
    assert error_type_name(failed.error_type) == "VALIDATION"
    assert failed.error == "for_each.items is an object, not a list"


async def test_too_many_elements_is_resource_exhausted(tmp_path: Path, tools: ToolRegistry) -> None:
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, limits=Limits(max_items_per_step=3))
    srv = await build_server(config, tools=tools)
    await srv.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{srv.port}", timeout=20.0) as client:
            source, each = _fan_out(4)
            result = await client.execute_plan(plan(source, each))
            failed = result.step_results[1]
            assert error_type_name(failed.error_type) == "RESOURCE_EXHAUSTED"
            assert "at most 3 (--max-items-per-step)" in failed.error
            assert not failed.items
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)


@pytest.mark.parametrize(
    ("for_each", "arguments", "field", "message"),
    [
        ("pages", {}, "plan.steps[1].for_each.items", "must be one reference"),
        ("x ${steps.source.output}", {}, "plan.steps[1].for_each.items", "must be one reference"),
        ("${item}", {}, "plan.steps[1].for_each.items", "must be one reference"),
        ("${steps.other.output}", {}, "plan.steps[1].for_each.items", "not among its dependencies"),
        ("${steps.ghost.output}", {}, "plan.steps[1].for_each.items", "unknown step 'ghost'"),
        (
            "",
            {"x": "${item}"},
            "plan.steps[1].tool_execution.arguments",
            "only defined in a for_each",
        ),
    ],
)
async def test_for_each_is_checked_at_submission(
    client: AsyncExecutorClient, for_each: str, arguments: JsonObject, field: str, message: str
) -> None:
    source = step("echo", {"pages": [1]}, name="source")
    other = step("echo", {}, name="other")
    each = step("echo", arguments, name="each", depends_on=[source])
    if for_each:
        each.for_each.items = for_each
    p = plan(source, each, other)

    with pytest.raises(InvalidArgumentError) as raised:
        await client.execute_plan(p)

    violations = {v.field: v.description for v in raised.value.field_violations}
    assert field in violations, violations
    assert message in violations[field]


@both_stores
async def test_rollback_compensates_each_element_last_first(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    source = step("echo", {"ids": ["a", "b", "c"]}, name="source")
    each = step(
        "echo",
        {"made": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.ids}",
        compensation=compensation(
            "record", {"undo": "${item}", "made": "${steps.self.output.made}", "i": "${item_index}"}
        ),
    )
    broken = step("fail", {}, name="broken", depends_on=[each], retry=NO_RETRY)
    p = plan(source, each, broken)
    await client.execute_plan(p)

    assert status_name(await client.rollback_execution(p.id)) == "ROLLED_BACK"

    undone = [c.arguments for c in recorder.for_plan(p.id)]
    assert undone == [
        {"undo": "c", "made": "c", "i": 2},
        {"undo": "b", "made": "b", "i": 1},
        {"undo": "a", "made": "a", "i": 0},
    ]
    result = await client.get_execution_status(p.id)
    fanned = result.step_results[1]
    assert step_status_name(fanned.status) == "COMPENSATED"
    assert [step_status_name(i.status) for i in fanned.items] == ["COMPENSATED"] * 3
    events = await collect(client, p.id)
    assert events[-1].message == "1 compensated, 1 with nothing to undo"


@both_stores
async def test_retry_reruns_only_the_failed_elements(client: AsyncExecutorClient) -> None:
    source = step("echo", {"tries": [1, 2, 1]}, name="source")
    each = step(
        "fail",
        {"succeed_on_attempt": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.tries}",
        max_parallel=1,
        retry=NO_RETRY,
    )
    p = plan(source, each)
    failed = await client.execute_plan(p)
    assert status_name(failed.status) == "FAILED"
    assert [step_status_name(i.status) for i in failed.step_results[1].items] == [
        "COMPLETED",
        "FAILED",
        "PENDING",
    ]

    result = await client.retry_execution(p.id)

    assert status_name(result.status) == "COMPLETED"
    assert output(result.step_results[1].output) == [
        {"attempt": 1},
        {"attempt": 2},
        {"attempt": 1},
    ]
    events = await collect(client, p.id)
    assert_gap_free(events)
    starts = [
        e.item_index
        for e in events
        if e.type == STEP_CHANGED
        and e.HasField("item_index")
        and e.step_status == pb.STEP_STATUS_RUNNING
    ]
    assert starts == [0, 1, 1, 2]  # element 0 completed the first time: never again
    assert statuses(events)[-1] == "COMPLETED"


async def test_elements_survive_a_restart(tmp_path: Path, recorder: Record) -> None:
    """Completed elements are not run again after the server stops mid-fan-out."""
    db = tmp_path / "x.db"
    source = step("echo", {"keys": ["k0", "k1", "k2"]}, name="source")
    each = step(
        "gate",
        {"key": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.keys}",
        max_parallel=2,
    )
    p = plan(source, each)

    first_gate = Gate()
    srv = await build_server(
        Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=db),
        tools=make_registry(first_gate, recorder),
    )
    await srv.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{srv.port}", timeout=20.0) as client:
            await client.execute_plan(p, detach=True)
            await first_gate.started("k0")
            await first_gate.started("k1")
            first_gate.open("k0")
            await first_gate.started("k2")
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)

    second_gate = Gate()
    second_gate.open("k1", "k2")
    srv = await build_server(
        Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=db),
        tools=make_registry(second_gate, recorder),
    )
    await srv.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{srv.port}", timeout=20.0) as client:
            events = await collect(client, p.id)
            result = await client.get_execution_status(p.id)
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)

    assert status_name(result.status) == "COMPLETED"
    assert sorted(second_gate.starts) == ["k1", "k2"]  # k0 completed before the stop
    keys = [o["key"] for o in output(result.step_results[1].output)]
    assert keys == ["k0", "k1", "k2"]
    assert_gap_free(events)


async def test_rollback_undoes_the_completed_elements_of_a_failed_fan_out(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    source = step("echo", {"tries": [1, 1, 0]}, name="source")  # the last never succeeds
    each = step(
        "fail",
        {"succeed_on_attempt": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.tries}",
        max_parallel=1,
        retry=NO_RETRY,
        compensation=compensation("record", {"undo": "${item_index}"}),
    )
    p = plan(source, each)
    failed = await client.execute_plan(p)
    assert status_name(failed.status) == "FAILED"

    assert status_name(await client.rollback_execution(p.id)) == "ROLLED_BACK"

    assert [c.arguments for c in recorder.for_plan(p.id)] == [{"undo": 1}, {"undo": 0}]
    result = await client.get_execution_status(p.id)
    fanned = result.step_results[1]
    assert step_status_name(fanned.status) == "FAILED"  # it failed; its elements are undone
    assert [step_status_name(i.status) for i in fanned.items] == [
        "COMPENSATED",
        "COMPENSATED",
        "FAILED",
    ]
    events = await collect(client, p.id)
    assert events[-1].message == "1 compensated, 1 with nothing to undo"


async def test_a_fan_out_whose_tool_is_gone_after_a_restart_ends_its_elements_too(
    tmp_path: Path, recorder: Record
) -> None:
    db = tmp_path / "x.db"
    source = step("echo", {"keys": ["a", "b"]}, name="source")
    each = step(
        "gate",
        {"key": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.keys}",
    )
    p = plan(source, each)
    gate = Gate()
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=db)
    srv = await build_server(config, tools=make_registry(gate))
    await srv.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{srv.port}", timeout=20.0) as client:
            await client.execute_plan(p, detach=True)
            await gate.started("a")
            await gate.started("b")
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)

    srv = await build_server(config, tools=make_registry())  # no gate any more
    await srv.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{srv.port}", timeout=20.0) as client:
            result = await client.get_execution_status(p.id)
            events = await collect(client, p.id)
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)
    assert status_name(result.status) == "FAILED"
    fanned = result.step_results[1]
    assert step_status_name(fanned.status) == "FAILED"
    assert [step_status_name(i.status) for i in fanned.items] == ["FAILED", "FAILED"]
    assert_gap_free(events)
