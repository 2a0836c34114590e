"""ExecutePlan end to end: data flow, results, ordering, concurrency, detach, idempotency."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tests.support.events import (
    STEP_CHANGED,
    assert_well_formed,
    both_stores,
    collect,
    result_by_id,
    step_statuses,
)
from tests.support.tools import Gate, Record

from executor_client import (
    AlreadyExistsError,
    AsyncExecutorClient,
    executor_pb2,
    output,
    plan,
    status_name,
    step,
    step_status_name,
)

pb = executor_pb2


@both_stores
async def test_diamond_runs_and_outputs_flow_between_steps(client: AsyncExecutorClient) -> None:
    a = step(
        "echo",
        {"n": 3, "items": [1, 2], "word": "hi", "flag": True},
        name="a",
        parameters={"owner": "team-a", "weight": 2},
    )
    # Whole-string references keep their JSON type (number, list, object, bool).
    b = step(
        "echo",
        {
            "n": "${steps.a.output.n}",
            "list": "${steps.a.output.items}",
            "f": "${steps.a.output.flag}",
        },
        name="b",
        depends_on=[a],
    )
    # References inside a longer string are interpolated as text.
    c = step(
        "echo",
        {"text": "n=${steps.a.output.n} w=${steps.a.output.word}", "all": "${steps.a.output}"},
        name="c",
        depends_on=["a"],  # by name
    )
    # d reads a transitive dependency (a), by name and by id, and a list element.
    d = step(
        "echo",
        {
            "from_b": "${steps.b.output.list}",
            "from_c": "${steps.c.output.text}",
            "first": f"${{steps.{a.id}.output.items.0}}",
            "mixed": "[${steps.b.output.list}]",
        },
        name="d",
        depends_on=[b, c],
    )
    # Plan order differs from execution order: results must come back in plan order.
    p = plan(d, c, b, a, name="diamond", metadata={"ticket": "T-1", "nested": {"k": [1, "x"]}})

    result = await client.execute_plan(p)

    assert status_name(result.status) == "COMPLETED"
    assert result.plan_id == p.id
    assert result.plan_name == "diamond"
    assert not result.HasField("error")
    assert output(result.metadata) == {"ticket": "T-1", "nested": {"k": [1, "x"]}}
    assert [r.step_id for r in result.step_results] == [d.id, c.id, b.id, a.id]
    assert [r.step_name for r in result.step_results] == ["d", "c", "b", "a"]
    assert step_statuses(result.step_results) == ["COMPLETED"] * 4
    by_id = result_by_id(result.step_results)
    assert output(by_id[a.id].output) == {"n": 3, "items": [1, 2], "word": "hi", "flag": True}
    assert output(by_id[b.id].output) == {"n": 3, "list": [1, 2], "f": True}
    assert output(by_id[c.id].output) == {
        "text": "n=3 w=hi",
        "all": {"n": 3, "items": [1, 2], "word": "hi", "flag": True},
    }
    assert output(by_id[d.id].output) == {
        "from_b": [1, 2],
        "from_c": "n=3 w=hi",
        "first": 1,
        "mixed": "[[1,2]]",
    }
    # Step parameters come back in the step's metadata; steps without any have none.
    assert output(by_id[a.id].metadata) == {"owner": "team-a", "weight": 2}
    assert output(by_id[b.id].metadata) == {}
    for r in result.step_results:
        assert r.retry_count == 0
        assert r.error == ""
        assert r.error_type == pb.EXECUTION_ERROR_TYPE_UNSPECIFIED
        assert r.HasField("start_time") and r.HasField("end_time")
        assert r.start_time.ToNanoseconds() <= r.end_time.ToNanoseconds()
        assert r.execution_time.ToNanoseconds() >= 0
    # A dependent starts only after its dependencies ended.
    assert by_id[d.id].start_time.ToNanoseconds() >= by_id[b.id].end_time.ToNanoseconds()
    assert by_id[d.id].start_time.ToNanoseconds() >= by_id[c.id].end_time.ToNanoseconds()
    assert by_id[b.id].start_time.ToNanoseconds() >= by_id[a.id].end_time.ToNanoseconds()

    assert result.resource_usage.tool_invocations == 4
    progress = result.progress
    assert (progress.total_steps, progress.completed_steps) == (4, 4)
    assert progress.pending_steps == progress.running_steps == progress.failed_steps == 0
    assert progress.skipped_steps == progress.cancelled_steps == 0
    assert result.create_time.ToNanoseconds() <= result.start_time.ToNanoseconds()
    assert result.start_time.ToNanoseconds() <= result.end_time.ToNanoseconds()
    assert result.execution_time.ToNanoseconds() > 0

    # The status RPC tells the same story after the fact.
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "COMPLETED"
    assert [output(r.output) for r in status.step_results] == [
        output(r.output) for r in result.step_results
    ]
    assert status.resource_usage.tool_invocations == 4
    events = await collect(client, p.id)
    assert_well_formed(events)
    assert status.last_sequence == events[-1].sequence


@both_stores
async def test_tool_invocations_count_every_attempt(client: AsyncExecutorClient) -> None:
    from executor_client import retry_policy

    flaky = step(
        "fail",
        {"succeed_on_attempt": 3},
        name="flaky",
        retry=retry_policy(3, initial_backoff=0.01, max_backoff=0.01),
    )
    after = step("echo", {"attempt": "${steps.flaky.output.attempt}"}, depends_on=[flaky])
    result = await client.execute_plan(plan(flaky, after))
    assert status_name(result.status) == "COMPLETED"
    assert result.resource_usage.tool_invocations == 4  # three attempts of flaky, one of after
    assert output(result.step_results[1].output) == {"attempt": 3}


def _descending_ids(count: int) -> list[str]:
    """UUIDs whose lexical order is the reverse of their position."""
    return sorted((str(uuid.uuid4()) for _ in range(count)), reverse=True)


async def test_ready_steps_start_in_plan_order(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    names = ["e", "d", "c", "b", "a"]  # neither names nor ids sort into plan order
    ids = _descending_ids(len(names))
    steps = [
        step("record", {"i": i}, name=n, id=s)
        for i, (n, s) in enumerate(zip(names, ids, strict=True))
    ]
    p = plan(*steps)

    result = await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=1))

    assert status_name(result.status) == "COMPLETED"
    events = await collect(client, p.id)
    started = [
        e.step_name
        for e in events
        if e.type == STEP_CHANGED and step_status_name(e.step_status) == "RUNNING"
    ]
    assert started == names
    assert [c.step_name for c in recorder.for_plan(p.id)] == names
    # One at a time: each step completes before the next one starts.
    changes = [
        (e.step_name, step_status_name(e.step_status)) for e in events if e.type == STEP_CHANGED
    ]
    assert changes == [(n, s) for n in names for s in ("RUNNING", "COMPLETED")]


async def test_same_plan_same_events(client: AsyncExecutorClient) -> None:
    """Determinism: the same plan (fresh plan id) yields the same sequence of events."""

    def build() -> pb.ActionPlan:
        a = step("echo", {"v": 1}, name="a", id="00000000-0000-4000-8000-00000000000a")
        b = step(
            "echo",
            {"v": "${steps.a.output.v}"},
            name="b",
            depends_on=[a],
            id="00000000-0000-4000-8000-00000000000b",
        )
        c = step("echo", {"v": 2}, name="c", id="00000000-0000-4000-8000-00000000000c")
        d = step("echo", {}, name="d", depends_on=[b, c], id="00000000-0000-4000-8000-00000000000d")
        return plan(a, b, c, d)

    logs = []
    for _ in range(2):
        p = build()
        await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=1))
        events = await collect(client, p.id)
        logs.append([(e.type, e.status, e.step_name, e.step_status, e.attempt) for e in events])
    assert logs[0] == logs[1]


async def test_concurrency_is_bounded(client: AsyncExecutorClient, gate: Gate) -> None:
    keys = [f"g{i}" for i in range(5)]
    p = plan(*(step("gate", {"key": k}, name=k) for k in keys))

    started = await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=2), detach=True)
    assert status_name(started.status) == "RUNNING"

    await gate.started("g0")
    await gate.started("g1")
    for i in range(2, 5):
        assert gate.running == 2
        assert gate.starts == keys[:i]
        gate.open(keys[i - 2])  # one slot frees up: the next step in plan order takes it
        await gate.started(keys[i])
    gate.open(*keys)

    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "COMPLETED"
    assert gate.max_running == 2
    # The journal agrees: never more than two steps RUNNING at once.
    running: set[str] = set()
    for event in await collect(client, p.id):
        if event.type != STEP_CHANGED:
            continue
        if step_status_name(event.step_status) == "RUNNING":
            running.add(event.step_id)
        else:
            running.discard(event.step_id)
        assert len(running) <= 2


@both_stores
async def test_detach_returns_at_once_and_wait_returns_the_end(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    held = step("gate", {"key": "hold"}, name="held")
    then = step("echo", {"after": "${steps.held.output.key}"}, name="then", depends_on=[held])
    p = plan(held, then, name="detached")

    accepted = await client.execute_plan(p, detach=True)
    assert status_name(accepted.status) == "RUNNING"
    assert accepted.plan_id == p.id
    assert accepted.progress.total_steps == 2

    await gate.started("hold")
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "RUNNING"
    assert status.plan_name == "detached"
    assert status.progress.total_steps == 2
    assert status.progress.running_steps == 1
    assert status.progress.pending_steps == 1
    assert status.progress.completed_steps == 0
    assert step_statuses(status.step_results) == ["RUNNING", "PENDING"]
    assert status.last_sequence >= 3  # PENDING, RUNNING, step RUNNING

    gate.open("hold")
    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "COMPLETED"
    assert final.progress.completed_steps == 2
    assert output(final.step_results[1].output) == {"after": "hold"}


@both_stores
async def test_resubmitting_the_same_plan_attaches(
    client: AsyncExecutorClient, gate: Gate, recorder: Record
) -> None:
    first = step("record", {"n": 1}, name="first")
    held = step("gate", {"key": "hold"}, name="held", depends_on=[first])
    p = plan(first, held)

    await client.execute_plan(p, detach=True)
    await gate.started("hold")

    # While it runs: a detached resubmission attaches and reports the live execution...
    again = await client.execute_plan(p, detach=True)
    assert status_name(again.status) == "RUNNING"
    assert step_statuses(again.step_results) == ["COMPLETED", "RUNNING"]
    # ...and a blocking one waits for the same execution to end.
    blocking = asyncio.create_task(client.execute_plan(p))
    await asyncio.sleep(0)  # let the call go out before the gate opens
    gate.open("hold")
    finished = await asyncio.wait_for(blocking, 20)
    assert status_name(finished.status) == "COMPLETED"
    assert len(recorder.for_plan(p.id)) == 1
    assert gate.starts == ["hold"]

    # After the end: the stored result comes back, nothing runs again.
    done = await client.execute_plan(p)
    assert status_name(done.status) == "COMPLETED"
    assert output(done.step_results[0].output) == {"n": 1, "attempt": 1}
    assert done.resource_usage.tool_invocations == 2
    assert len(recorder.for_plan(p.id)) == 1
    assert gate.starts == ["hold"]


@both_stores
async def test_same_id_with_other_content_is_already_exists(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    held = step("gate", {"key": "hold"}, name="held")
    p = plan(held)
    other = plan(step("gate", {"key": "other"}, name="held", id=held.id), id=p.id)

    await client.execute_plan(p, detach=True)
    await gate.started("hold")
    with pytest.raises(AlreadyExistsError) as running:
        await client.execute_plan(other, detach=True)
    assert running.value.reason == "PLAN_ID_CONFLICT"
    assert running.value.metadata.get("plan_id") == p.id

    gate.open("hold")
    await client.wait(p.id, timeout=20)
    with pytest.raises(AlreadyExistsError) as finished:
        await client.execute_plan(other)
    assert finished.value.reason == "PLAN_ID_CONFLICT"
    assert gate.starts == ["hold"]


async def test_the_default_concurrency_is_four(client: AsyncExecutorClient, gate: Gate) -> None:
    keys = [f"d{i}" for i in range(6)]
    p = plan(*(step("gate", {"key": k}) for k in keys))
    await client.execute_plan(p, detach=True)
    for key in keys[:4]:
        await gate.started(key)
    assert gate.running == 4
    assert gate.starts == keys[:4]
    gate.open(*keys)
    assert status_name((await client.wait(p.id, timeout=20)).status) == "COMPLETED"
    assert gate.max_running == 4


async def test_simultaneous_submissions_of_one_plan_run_it_once(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    p = plan(step("record", {"n": 1}, name="once"))
    results = await asyncio.gather(*(client.execute_plan(p) for _ in range(6)))
    assert {status_name(r.status) for r in results} == {"COMPLETED"}
    assert len(recorder.for_plan(p.id)) == 1
    assert {r.resource_usage.tool_invocations for r in results} == {1}


async def test_simultaneous_submissions_with_different_content_admit_exactly_one(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    plan_id = str(uuid.uuid4())
    variants = [plan(step("record", {"variant": i}, name="v"), id=plan_id) for i in range(5)]
    outcomes = await asyncio.gather(
        *(client.execute_plan(v) for v in variants), return_exceptions=True
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, AlreadyExistsError) for o in losers), losers
    assert len(recorder.for_plan(plan_id)) == 1


@both_stores
async def test_a_refused_resubmission_does_not_refuse_the_identical_one_beside_it(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    p = plan(step("record", {"variant": "stored"}, name="v"))
    await client.execute_plan(p)
    other = plan(step("record", {"variant": "other"}, name="v"), id=p.id)
    for _ in range(3):  # the other content first, then the stored one, at once
        outcomes = await asyncio.gather(
            client.execute_plan(other), client.execute_plan(p), return_exceptions=True
        )
        assert isinstance(outcomes[0], AlreadyExistsError), outcomes[0]
        assert not isinstance(outcomes[1], BaseException), outcomes[1]
        assert status_name(outcomes[1].status) == "COMPLETED"
    assert len(recorder.for_plan(p.id)) == 1


async def test_a_client_that_gives_up_waiting_leaves_the_execution_running(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    from executor_client import DeadlineExceededError

    p = plan(step("gate", {"key": "slow"}, name="held"))
    with pytest.raises(DeadlineExceededError):
        await client.execute_plan(p, timeout=0.3)
    await gate.started("slow")
    assert status_name((await client.get_execution_status(p.id)).status) == "RUNNING"
    gate.open("slow")
    # Re-attaching by resubmitting the same plan returns its result.
    again = await client.execute_plan(p)
    assert status_name(again.status) == "COMPLETED"
    assert gate.starts == ["slow"]
