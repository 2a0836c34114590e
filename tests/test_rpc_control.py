"""Pause, resume and cancel over the wire, including their races and refusals."""

from __future__ import annotations

import asyncio

import pytest
from tests.support.events import (
    RETRY_SCHEDULED,
    STATUS_CHANGED,
    STEP_CHANGED,
    assert_well_formed,
    both_stores,
    collect,
    error_type_name,
    first_index,
    statuses,
    step_statuses,
    step_transitions,
    wait_for_event,
)
from tests.support.tools import Gate, Record

from executor_client import (
    AsyncExecutorClient,
    FailedPreconditionError,
    executor_pb2,
    plan,
    retry_policy,
    status_name,
    step,
    step_status_name,
)

pb = executor_pb2

ONE_AT_A_TIME = pb.ExecutionOptions(max_concurrent_steps=1)

# A paused execution has no event that says "nothing else will start": tests that check
# that nothing starts give a wrong scheduler this long to show itself.
SETTLE_SECONDS = 0.2


async def _completed_plan(client: AsyncExecutorClient) -> str:
    p = plan(step("echo", {}, name="done"))
    result = await client.execute_plan(p)
    assert status_name(result.status) == "COMPLETED"
    return p.id


async def _failed_plan(client: AsyncExecutorClient) -> str:
    p = plan(step("fail", {"retryable": False}, name="failed"))
    result = await client.execute_plan(p)
    assert status_name(result.status) == "FAILED"
    return p.id


# ---------------------------------------------------------------- pause and resume


@both_stores
async def test_pause_lets_the_running_step_finish_and_starts_nothing_until_resume(
    client: AsyncExecutorClient, gate: Gate, recorder: Record
) -> None:
    held = step("gate", {"key": "held"}, name="held")
    waiting = step("record", {"n": 1}, name="waiting")  # ready, but the only slot is taken
    later = step("record", {"n": 2}, name="later", depends_on=[held])
    p = plan(held, waiting, later)

    await client.execute_plan(p, ONE_AT_A_TIME, detach=True)
    await gate.started("held")

    assert status_name(await client.pause_execution(p.id)) == "PAUSED"
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "PAUSED"  # at once, while the step still runs
    assert step_statuses(status.step_results) == ["RUNNING", "PENDING", "PENDING"]

    gate.open("held")
    done = await wait_for_event(client, p.id, step_id=held.id, step_status="COMPLETED")
    assert status_name(done.status) == "PAUSED"
    await asyncio.sleep(SETTLE_SECONDS)
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "PAUSED"
    assert step_statuses(status.step_results) == ["COMPLETED", "PENDING", "PENDING"]
    assert recorder.for_plan(p.id) == []

    assert status_name(await client.resume_execution(p.id)) == "RUNNING"
    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "COMPLETED"
    assert [c.step_name for c in recorder.for_plan(p.id)] == ["waiting", "later"]

    events = await collect(client, p.id)
    assert_well_formed(events)
    assert statuses(events) == ["PENDING", "RUNNING", "PAUSED", "RUNNING", "COMPLETED"]
    resumed = max(
        i
        for i, e in enumerate(events)
        if e.type == STATUS_CHANGED and e.status == pb.EXECUTION_STATUS_RUNNING
    )
    first_new_start = first_index(events, step_id=waiting.id, step_status=pb.STEP_STATUS_RUNNING)
    assert first_new_start > resumed


async def test_pause_holds_a_pending_retry(client: AsyncExecutorClient) -> None:
    flaky = step(
        "fail",
        {"succeed_on_attempt": 2},
        name="flaky",
        retry=retry_policy(2, initial_backoff=0.1, max_backoff=0.1),
    )
    p = plan(flaky)
    await client.execute_plan(p, detach=True)
    retry = next(
        e
        for e in await _events_until(client, p.id, lambda e: e.type == RETRY_SCHEDULED)
        if e.type == RETRY_SCHEDULED
    )
    assert status_name(await client.pause_execution(p.id)) == "PAUSED"
    await asyncio.sleep(0.1 + SETTLE_SECONDS)  # well past the backoff
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "PAUSED"
    assert status.last_sequence == retry.sequence + 1  # only the PAUSED event since

    await client.resume_execution(p.id)
    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "COMPLETED"
    assert final.step_results[0].retry_count == 1


async def _events_until(
    client: AsyncExecutorClient, plan_id: str, stop: object
) -> list[pb.ExecutionEvent]:
    seen: list[pb.ExecutionEvent] = []
    async with asyncio.timeout(10):
        async for event in client.watch(plan_id, reconnect=False):
            seen.append(event)
            if stop(event):  # type: ignore[operator]
                return seen
    raise AssertionError("the stream ended first")


async def test_pause_twice_and_resume_of_a_running_execution_are_no_ops(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    p = plan(step("gate", {"key": "g"}, name="g"))
    await client.execute_plan(p, detach=True)
    await gate.started("g")

    assert status_name(await client.resume_execution(p.id)) == "RUNNING"  # already running
    assert status_name(await client.pause_execution(p.id)) == "PAUSED"
    assert status_name(await client.pause_execution(p.id)) == "PAUSED"
    assert status_name(await client.resume_execution(p.id)) == "RUNNING"
    gate.open("g")
    await client.wait(p.id, timeout=20)

    events = await collect(client, p.id)
    assert_well_formed(events)
    assert statuses(events) == ["PENDING", "RUNNING", "PAUSED", "RUNNING", "COMPLETED"]


@pytest.mark.parametrize("operation", ["pause", "resume"])
async def test_pause_or_resume_of_a_finished_execution_is_failed_precondition(
    client: AsyncExecutorClient, operation: str
) -> None:
    for plan_id, expected in (
        (await _completed_plan(client), pb.EXECUTION_STATUS_COMPLETED),
        (await _failed_plan(client), pb.EXECUTION_STATUS_FAILED),
    ):
        call = client.pause_execution if operation == "pause" else client.resume_execution
        with pytest.raises(FailedPreconditionError) as caught:
            await call(plan_id)
        assert caught.value.status == expected
        assert caught.value.metadata.get("plan_id") == plan_id


# ---------------------------------------------------------------- cancel


@both_stores
async def test_cancel_stops_the_running_step_and_the_pending_ones(
    client: AsyncExecutorClient, gate: Gate, recorder: Record
) -> None:
    held = step("gate", {"key": "held"}, name="held")
    after = step("record", {}, name="after", depends_on=[held])
    queued = step("record", {}, name="queued")
    p = plan(held, after, queued)
    await client.execute_plan(p, ONE_AT_A_TIME, detach=True)
    await gate.started("held")

    assert status_name(await client.cancel_execution(p.id, "the test says stop")) == "CANCELLED"

    assert gate.cancelled == ["held"]  # the tool saw the cancellation
    assert recorder.for_plan(p.id) == []
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "CANCELLED"
    assert step_statuses(status.step_results) == ["CANCELLED"] * 3
    assert error_type_name(status.error.error_type) == "CANCELLED"
    assert "the test says stop" in status.error.message
    assert error_type_name(status.step_results[0].error_type) == "CANCELLED"
    assert status.progress.cancelled_steps == 3

    # Again: the effect already holds, so it succeeds and changes nothing.
    assert status_name(await client.cancel_execution(p.id)) == "CANCELLED"
    events = await collect(client, p.id)
    assert_well_formed(events)
    assert statuses(events) == ["PENDING", "RUNNING", "CANCELLED"]
    assert step_transitions(events, held.id) == ["RUNNING", "CANCELLED"]
    assert status.last_sequence == events[-1].sequence


async def test_cancel_during_a_retry_backoff(client: AsyncExecutorClient) -> None:
    flaky = step(
        "fail", {}, name="flaky", retry=retry_policy(3, initial_backoff=30, max_backoff=30)
    )
    p = plan(flaky, step("echo", {}, name="after", depends_on=[flaky]))
    await client.execute_plan(p, detach=True)
    await _events_until(client, p.id, lambda e: e.type == RETRY_SCHEDULED)

    assert status_name(await client.cancel_execution(p.id)) == "CANCELLED"
    status = await client.get_execution_status(p.id)
    assert step_statuses(status.step_results) == ["CANCELLED", "CANCELLED"]
    assert status.resource_usage.tool_invocations == 1  # the retry never ran
    assert_well_formed(await collect(client, p.id))


async def test_cancel_of_a_paused_execution(client: AsyncExecutorClient, gate: Gate) -> None:
    held = step("gate", {"key": "held"}, name="held")
    then = step("echo", {}, name="then", depends_on=[held])
    p = plan(held, then)
    await client.execute_plan(p, detach=True)
    await gate.started("held")
    await client.pause_execution(p.id)

    assert status_name(await client.cancel_execution(p.id)) == "CANCELLED"

    assert gate.cancelled == ["held"]
    status = await client.get_execution_status(p.id)
    assert step_statuses(status.step_results) == ["CANCELLED", "CANCELLED"]
    events = await collect(client, p.id)
    assert_well_formed(events)
    assert statuses(events) == ["PENDING", "RUNNING", "PAUSED", "CANCELLED"]


async def test_cancel_of_a_finished_execution_is_failed_precondition(
    client: AsyncExecutorClient,
) -> None:
    for plan_id, expected in (
        (await _completed_plan(client), pb.EXECUTION_STATUS_COMPLETED),
        (await _failed_plan(client), pb.EXECUTION_STATUS_FAILED),
    ):
        with pytest.raises(FailedPreconditionError) as caught:
            await client.cancel_execution(plan_id)
        assert caught.value.status == expected
        assert caught.value.reason == "INVALID_TRANSITION"
        status = await client.get_execution_status(plan_id)
        assert status.status == expected  # unchanged


@pytest.mark.parametrize("store_kind", ["sqlite"])  # its journal writes widen the window
async def test_cancel_racing_completion_never_answers_ok_with_another_status(
    client: AsyncExecutorClient,
) -> None:
    """Cancel either wins (CANCELLED) or finds the execution ended (FAILED_PRECONDITION);
    an OK answer whose status is COMPLETED tells the caller the cancel took effect."""
    wrong: list[str] = []
    for i in range(300):
        p = plan(step("echo", {"i": i}))
        await client.execute_plan(p, detach=True)
        await asyncio.sleep(0.0005 * (i % 5))  # spread the cancel over the execution's end
        try:
            answered = await client.cancel_execution(p.id)
        except FailedPreconditionError as refused:
            assert refused.status == pb.EXECUTION_STATUS_COMPLETED
            continue
        if status_name(answered) != "CANCELLED":
            wrong.append(f"attempt {i}: OK with status {status_name(answered)}")
            break
    assert wrong == []


@pytest.mark.parametrize("pause_first", [True, False])
async def test_pause_and_cancel_at_once_end_consistently(
    client: AsyncExecutorClient, gate: Gate, pause_first: bool
) -> None:
    for round_ in range(4):
        key = f"r{round_}"
        held = step("gate", {"key": key}, name="held")
        p = plan(held, step("echo", {}, name="then", depends_on=[held]))
        await client.execute_plan(p, detach=True)
        await gate.started(key)

        calls = [client.pause_execution(p.id), client.cancel_execution(p.id)]
        if not pause_first:
            calls.reverse()
        results = await asyncio.gather(*calls, return_exceptions=True)

        for outcome in results:
            if isinstance(outcome, BaseException):
                # Only the pause may lose the race, and then it says why.
                assert isinstance(outcome, FailedPreconditionError), outcome
            else:
                assert status_name(outcome) in {"PAUSED", "CANCELLED"}
        final = await client.wait(p.id, timeout=20)
        assert status_name(final.status) == "CANCELLED"
        assert step_statuses(final.step_results) == ["CANCELLED", "CANCELLED"]
        events = await collect(client, p.id)
        assert_well_formed(events)
        assert statuses(events)[-1] == "CANCELLED"
        assert final.last_sequence == events[-1].sequence
        step_events = [e for e in events if e.type == STEP_CHANGED]
        assert [step_status_name(e.step_status) for e in step_events if e.step_id == held.id] == [
            "RUNNING",
            "CANCELLED",
        ]


# ---------------------------------------------------------------- rollback refusals


async def test_rollback_of_a_running_or_completed_execution_is_failed_precondition(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    p = plan(step("gate", {"key": "g"}, name="g"))
    await client.execute_plan(p, detach=True)
    await gate.started("g")
    with pytest.raises(FailedPreconditionError) as running:
        await client.rollback_execution(p.id)
    assert running.value.status == pb.EXECUTION_STATUS_RUNNING
    gate.open("g")
    await client.wait(p.id, timeout=20)

    with pytest.raises(FailedPreconditionError) as completed:
        await client.rollback_execution(p.id)
    assert completed.value.status == pb.EXECUTION_STATUS_COMPLETED
