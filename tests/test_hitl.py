"""Human in the loop over the wire: approval gates, the inbox, signals and sleeps.

A waiting step holds no concurrency slot, the rest of the plan runs on, and every wait,
decision and signal is journaled (see test_hitl_restart.py for restarts).
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest
from tests.support.events import (
    STEP_CHANGED,
    both_stores,
    collect,
    error_type_name,
    result_by_id,
    step_transitions,
    wait_for_event,
)
from tests.support.tools import Gate, Record

from executor_client import (
    AsyncExecutorClient,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    approval,
    compensation,
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
DECIDED = pb.EXECUTION_EVENT_TYPE_APPROVAL_DECIDED
SIGNALLED = pb.EXECUTION_EVENT_TYPE_SIGNAL_RECEIVED


async def _status(client: AsyncExecutorClient, plan_id: str) -> pb.GetExecutionStatusResponse:
    return await client.get_execution_status(plan_id)


async def _waiting(client: AsyncExecutorClient, plan_id: str, step_id: str) -> pb.ExecutionEvent:
    return await wait_for_event(client, plan_id, step_id=step_id, step_status="WAITING")


# ------------------------------------------------------------------ approval gates


@both_stores
@pytest.mark.parametrize("order", ["first-then-second", "second-then-first"])
async def test_parallel_gates_are_approved_in_either_order_while_a_third_branch_runs(
    client: AsyncExecutorClient, gate: Gate, recorder: Record, order: str
) -> None:
    first = step("record", {"n": 1}, name="first", approval=approval("ship 1?"))
    second = step("record", {"n": 2}, name="second", approval=approval("ship 2?"))
    busy = step("gate", {"key": "busy"}, name="busy")
    after = step("record", {"n": 3}, name="after", depends_on=[first, second])
    p = plan(first, second, busy, after, name="parallel-gates")
    # One slot: the running branch holds it, so the gates must wait without one.
    options = pb.ExecutionOptions(max_concurrent_steps=1)
    await client.execute_plan(p, options, detach=True)
    await gate.started("busy")
    await _waiting(client, p.id, first.id)
    await _waiting(client, p.id, second.id)

    status = await _status(client, p.id)
    assert status_name(status.status) == "RUNNING"
    assert status.progress.waiting_steps == 2 and status.progress.running_steps == 1
    inbox = await client.list_approvals()
    assert [(a.plan_id, a.step_name, a.prompt) for a in inbox] == [
        (p.id, "first", "ship 1?"),
        (p.id, "second", "ship 2?"),
    ]
    assert inbox[0].tool_name == "record" and output(inbox[0].arguments) == {"n": 1}

    one, two = (first, second) if order == "first-then-second" else (second, first)
    decided = await client.approve_step(p.id, one.name, comment="looks fine")
    assert decided.approval.decision == pb.APPROVAL_DECISION_APPROVE
    assert decided.approval.comment == "looks fine"
    assert [a.step_id for a in await client.list_approvals(p.id)] == [two.id]
    await client.approve_step(p.id, two.id)  # by id as well as by name
    assert await client.list_approvals(p.id) == []
    gate.open("busy")

    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "COMPLETED"
    calls = sorted(c.arguments["n"] for c in recorder.for_plan(p.id))
    assert calls == [1, 2, 3]  # each gated tool ran exactly once
    events = await collect(client, p.id)
    decisions = [e for e in events if e.type == DECIDED]
    assert [e.step_id for e in decisions] == [one.id, two.id]
    assert decisions[0].decision == pb.APPROVAL_DECISION_APPROVE
    assert decisions[0].message == "looks fine"
    assert step_transitions(events, first.id) == ["WAITING", "RUNNING", "COMPLETED"]
    results = result_by_id(final.step_results)
    assert output(results[first.id].metadata)["approval"]["decision"] == "APPROVE"


async def test_an_edited_call_runs_with_the_new_arguments_and_a_bad_edit_keeps_the_gate_open(
    client: AsyncExecutorClient,
) -> None:
    nap = step(
        "slow",
        {"seconds": 30},
        name="nap",
        approval=approval("how long?", allow_edit=True),
    )
    fixed = step("slow", {"seconds": 30}, name="fixed", approval=approval("no edits"))
    p = plan(nap, fixed)
    await client.execute_plan(p, detach=True)
    await _waiting(client, p.id, nap.id)
    await _waiting(client, p.id, fixed.id)

    with pytest.raises(InvalidArgumentError) as bad:
        await client.approve_step(p.id, "nap", arguments={"seconds": -1})
    assert [v.field for v in bad.value.field_violations] == ["arguments.seconds"]
    with pytest.raises(InvalidArgumentError) as not_allowed:
        await client.approve_step(p.id, "fixed", arguments={"seconds": 0})
    assert "allow_edit" in not_allowed.value.field_violations[0].description
    assert {a.step_name for a in await client.list_approvals(p.id)} == {"nap", "fixed"}

    decided = await client.approve_step(p.id, "nap", arguments={"seconds": 0})
    assert decided.approval.edited
    await client.reject_step(p.id, "fixed", comment="not now")
    final = await client.wait(p.id, timeout=20)
    results = result_by_id(final.step_results)
    assert output(results[nap.id].output) == {"slept": 0}
    assert step_status_name(results[fixed.id].status) == "FAILED"


@both_stores
async def test_a_rejection_fails_the_step_and_a_second_decision_is_refused(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    made = step("record", {"made": True}, name="made")
    ship = step("record", {"ship": True}, name="ship", depends_on=[made], approval=approval())
    p = plan(made, ship)
    await client.execute_plan(p, detach=True)
    await _waiting(client, p.id, ship.id)

    result = await client.reject_step(p.id, "ship", comment="wrong address")
    assert step_status_name(result.status) == "FAILED"
    assert error_type_name(result.error_type) == "REJECTED"
    assert "wrong address" in result.error
    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "FAILED"
    assert error_type_name(final.error.error_type) == "REJECTED"
    assert [c.step_name for c in recorder.for_plan(p.id)] == ["made"]  # never shipped

    with pytest.raises(FailedPreconditionError) as again:
        await client.approve_step(p.id, "ship")
    assert again.value.reason == "GATE_DECIDED"
    assert again.value.metadata["step_status"] == "FAILED"
    assert again.value.metadata["decision"] == "REJECT"
    with pytest.raises(FailedPreconditionError) as no_gate:
        await client.approve_step(p.id, "made")
    assert no_gate.value.reason == "NO_APPROVAL_GATE"
    with pytest.raises(NotFoundError) as unknown:
        await client.approve_step(p.id, "nobody")
    assert unknown.value.reason == "STEP_NOT_FOUND"


@both_stores
async def test_a_rejection_with_auto_rollback_undoes_what_completed(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    made = step(
        "record",
        {"made": True},
        name="made",
        compensation=compensation("record", {"undo": "${steps.self.output.made}"}),
    )
    ship = step("record", {}, name="ship", depends_on=[made], approval=approval())
    p = plan(made, ship)
    await client.execute_plan(p, pb.ExecutionOptions(auto_rollback=True), detach=True)
    await _waiting(client, p.id, ship.id)
    await client.reject_step(p.id, ship.id)
    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "ROLLED_BACK"
    assert error_type_name(final.error.error_type) == "REJECTED"
    undo = result_by_id(final.step_results)[made.id].compensation
    assert step_status_name(undo.status) == "COMPENSATED"
    assert [c.arguments for c in recorder.for_plan(p.id)] == [{"made": True}, {"undo": True}]


@pytest.mark.parametrize("on_timeout", ["REJECT", "APPROVE"])
async def test_a_gate_that_times_out_applies_on_timeout(
    client: AsyncExecutorClient, recorder: Record, on_timeout: str
) -> None:
    decision = (
        pb.APPROVAL_DECISION_REJECT if on_timeout == "REJECT" else pb.APPROVAL_DECISION_APPROVE
    )
    held = step("record", {}, name="held", approval=approval(timeout=0.2, on_timeout=decision))
    p = plan(held)
    await client.execute_plan(p, detach=True)
    waiting = await _waiting(client, p.id, held.id)
    assert waiting.HasField("wait_deadline")
    final = await client.wait(p.id, timeout=20)
    result = final.step_results[0]
    assert result.approval.timed_out and result.approval.decision == decision
    assert result.approval.actor == ""
    if on_timeout == "REJECT":
        assert status_name(final.status) == "FAILED"
        assert error_type_name(result.error_type) == "REJECTED"
        assert recorder.for_plan(p.id) == []
    else:
        assert status_name(final.status) == "COMPLETED"
        assert len(recorder.for_plan(p.id)) == 1


async def test_a_decision_during_a_pause_runs_the_tool_on_resume_and_cancel_ends_waits(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    held = step("record", {}, name="held", approval=approval())
    p = plan(held)
    await client.execute_plan(p, detach=True)
    await _waiting(client, p.id, held.id)
    await client.pause_execution(p.id)
    await client.approve_step(p.id, "held")
    await asyncio.sleep(0.2)  # give a (wrongly) started tool the time to run
    assert recorder.for_plan(p.id) == []
    assert step_status_name((await _status(client, p.id)).step_results[0].status) == "WAITING"
    await client.resume_execution(p.id)
    assert status_name((await client.wait(p.id, timeout=20)).status) == "COMPLETED"
    assert len(recorder.for_plan(p.id)) == 1

    waits = plan(
        step("record", {}, name="gated", approval=approval()),
        wait_for_signal("go", name="signalled"),
        sleep(3600, name="sleeper"),
    )
    await client.execute_plan(waits, detach=True)
    for s in waits.steps:
        await _waiting(client, waits.id, s.id)
    assert await client.cancel_execution(waits.id) == pb.EXECUTION_STATUS_CANCELLED
    final = await _status(client, waits.id)
    assert [step_status_name(r.status) for r in final.step_results] == ["CANCELLED"] * 3
    assert await client.list_approvals(waits.id) == []


async def test_the_inbox_lists_exactly_the_open_gates_oldest_first_in_pages(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    hold = step("gate", {"key": "hold"}, name="hold")
    later = step(
        "record",
        {"order": "${steps.hold.output.key}"},
        name="later",
        depends_on=[hold],
        approval=approval("order ${steps.hold.output.key}, attempt ${steps.hold.output.attempt}"),
    )
    early = step("record", {}, name="early", approval=approval("early", timeout=3600))
    p1 = plan(hold, later, early, name="one")
    p2 = plan(step("record", {}, name="other", approval=approval("other")), name="two")
    done = plan(step("record", {}, name="decided", approval=approval()), name="three")
    await client.execute_plan(p1, detach=True)
    await _waiting(client, p1.id, early.id)
    await client.execute_plan(p2, detach=True)
    await _waiting(client, p2.id, p2.steps[0].id)
    await client.execute_plan(done, detach=True)
    await _waiting(client, done.id, done.steps[0].id)
    await client.approve_step(done.id, "decided")
    await client.wait(done.id, timeout=20)
    gate.open("hold")
    await _waiting(client, p1.id, later.id)

    inbox = await client.list_approvals()
    assert [(a.plan_name, a.step_name) for a in inbox] == [
        ("one", "early"),
        ("two", "other"),
        ("one", "later"),
    ]
    assert inbox[0].HasField("deadline") and not inbox[1].HasField("deadline")
    assert inbox[2].prompt == "order hold, attempt 1"
    assert output(inbox[2].arguments) == {"order": "hold"}  # references resolved
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await client.list_approvals_page(page_size=2, page_token=token)
        pages.append([a.step_name for a in page.approvals])
        if not (token := page.next_page_token):
            break
    assert pages == [["early", "other"], ["later"]]
    assert [a.step_name for a in await client.list_approvals(p1.id)] == ["early", "later"]
    first_page = await client.list_approvals_page(page_size=1)
    with pytest.raises(InvalidArgumentError) as other_filter:
        await client.list_approvals_page(p2.id, page_token=first_page.next_page_token)
    assert "different plan_id" in _violations(other_filter.value)["page_token"]
    await client.cancel_execution(p1.id)
    await client.cancel_execution(p2.id)
    assert await client.list_approvals() == []


# ------------------------------------------------------------------ signals


@both_stores
async def test_a_signal_before_its_step_waits_is_kept_and_one_after_completes_it(
    client: AsyncExecutorClient, gate: Gate, recorder: Record
) -> None:
    hold = step("gate", {"key": "hold"}, name="hold")
    early = wait_for_signal(
        "paid",
        name="early",
        depends_on=[hold],
        payload_schema={"type": "object", "required": ["amount"]},
    )
    late = wait_for_signal("shipped", name="late")
    use = step(
        "record",
        {"amount": "${steps.early.output.amount}", "carrier": "${steps.late.output}"},
        name="use",
        depends_on=[early, late],
    )
    p = plan(hold, early, late, use)
    await client.execute_plan(p, detach=True)
    await _waiting(client, p.id, late.id)

    with pytest.raises(InvalidArgumentError) as bad:
        await client.signal_execution(p.id, "paid", {"amount_missing": 1})
    assert bad.value.field_violations[0].field == "payload"
    with pytest.raises(InvalidArgumentError) as unknown:
        await client.signal_execution(p.id, "refunded", {})
    assert unknown.value.reason == "UNKNOWN_SIGNAL"

    # Before `early` waits: kept, and consumed once it does.
    assert await client.signal_execution(p.id, "paid", {"amount": 42}) == (
        pb.EXECUTION_STATUS_RUNNING
    )
    with pytest.raises(FailedPreconditionError) as twice:
        await client.signal_execution(p.id, "paid", {"amount": 43})
    assert twice.value.reason == "SIGNAL_RECEIVED"
    gate.open("hold")
    await wait_for_event(client, p.id, step_id=early.id, step_status="COMPLETED")
    await client.signal_execution(p.id, "shipped", "dhl")  # after `late` waits

    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "COMPLETED"
    assert [c.arguments for c in recorder.for_plan(p.id)] == [{"amount": 42, "carrier": "dhl"}]
    events = await collect(client, p.id)
    assert step_transitions(events, early.id) == ["WAITING", "COMPLETED"]
    received = [e for e in events if e.type == SIGNALLED]
    assert [(e.signal, e.step_id) for e in received] == [("paid", early.id), ("shipped", late.id)]
    with pytest.raises(FailedPreconditionError):
        await client.signal_execution(p.id, "shipped", "again")


async def test_a_signal_that_does_not_come_in_time_fails_its_step(
    client: AsyncExecutorClient,
) -> None:
    p = plan(wait_for_signal("never", name="w", timeout=0.2))
    final = await client.execute_plan(p)
    assert status_name(final.status) == "FAILED"
    assert error_type_name(final.step_results[0].error_type) == "TIMEOUT"
    with pytest.raises(FailedPreconditionError):
        await client.signal_execution(p.id, "never", None)


# ------------------------------------------------------------------ sleeps


async def test_a_sleep_holds_no_slot_and_outputs_when_it_ended(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    nap = sleep(0.3, name="nap")
    busy = step("gate", {"key": "busy"}, name="busy")
    p = plan(nap, busy, step("echo", {"woke": "${steps.nap.output.slept_until}"}, depends_on=[nap]))
    await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=1), detach=True)
    await gate.started("busy")  # the sleep did not take the only slot
    waiting = await _waiting(client, p.id, nap.id)
    done = await wait_for_event(client, p.id, step_id=nap.id, step_status="COMPLETED")
    ends = waiting.wait_deadline.ToDatetime(datetime.UTC)
    slept_until = datetime.datetime.fromisoformat(output(done.output)["slept_until"])
    assert abs(slept_until - ends) < datetime.timedelta(milliseconds=1)
    assert done.event_time.ToDatetime(datetime.UTC) >= slept_until
    gate.open("busy")
    assert status_name((await client.wait(p.id, timeout=20)).status) == "COMPLETED"


# ------------------------------------------------------------------ validation


def _violations(error: InvalidArgumentError) -> dict[str, str]:
    return {v.field: v.description for v in error.field_violations}


async def test_waits_are_checked_at_submission(client: AsyncExecutorClient) -> None:
    base = step("echo", {}, name="base")
    unrelated = step("echo", {}, name="unrelated")
    steps: list[Any] = [
        base,
        unrelated,
        step("echo", {}, depends_on=[base], approval=approval("see ${steps.unrelated.output}")),
        step("echo", {}, approval=approval("x" * 5000)),
        step("echo", {}, approval=approval(timeout=0)),
        wait_for_signal("bad name!"),
        wait_for_signal("dup"),
        wait_for_signal("dup"),
        wait_for_signal("schema", payload_schema={"type": "nonsense"}),
        pb.ActionStep(id=step("echo").id, sleep=pb.Sleep()),
        pb.ActionStep(id=step("echo").id, sleep=pb.Sleep(duration={"seconds": 10**9})),
    ]
    with pytest.raises(InvalidArgumentError) as refused:
        await client.execute_plan(plan(*steps))
    got = _violations(refused.value)
    assert "not among its dependencies" in got["plan.steps[2].approval.prompt"]
    assert "4000" in got["plan.steps[3].approval.prompt"]
    assert "positive" in got["plan.steps[4].approval.timeout"]
    assert "plan.steps[5].wait_for_signal.name" in got
    assert "awaited by steps[6]" in got["plan.steps[7].wait_for_signal.name"]
    assert "not a valid JSON Schema" in got["plan.steps[8].wait_for_signal.payload_schema"]
    assert "exactly one" in got["plan.steps[9].sleep"]
    assert "days" in got["plan.steps[10].sleep.duration"]


async def test_requests_about_waits_are_bounded(client: AsyncExecutorClient) -> None:
    p = plan(step("record", {}, name="held", approval=approval()), wait_for_signal("go"))
    await client.execute_plan(p, detach=True)
    await _waiting(client, p.id, p.steps[0].id)
    with pytest.raises(InvalidArgumentError) as long_comment:
        await client.reject_step(p.id, "held", comment="x" * 5000)
    assert "comment" in _violations(long_comment.value)
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InvalidArgumentError) as too_deep:
        await client.signal_execution(p.id, "go", deep)
    assert "deeper" in _violations(too_deep.value)["payload"]
    with pytest.raises(InvalidArgumentError):
        await client._call(  # no decision
            client._stub.ApproveStep, pb.ApproveStepRequest(plan_id=p.id, step="held"), 10
        )
    with pytest.raises(NotFoundError):
        await client.signal_execution(step("echo").id, "go")
    await client.cancel_execution(p.id)
    assert [e.type for e in await collect(client, p.id) if e.type == STEP_CHANGED]


async def test_with_continue_on_failure_a_rejection_skips_only_what_depends_on_it(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    gated = step("record", {}, name="gated", approval=approval("deploy?"))
    after = step("record", {}, name="after", depends_on=[gated])
    other = step("record", {}, name="other")
    p = plan(gated, after, other)
    await client.execute_plan(p, pb.ExecutionOptions(continue_on_failure=True), detach=True)
    waiting = await _waiting(client, p.id, gated.id)
    assert waiting.message == "waiting for approval: deploy?"
    await client.reject_step(p.id, "gated", comment="not today")
    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "FAILED"
    results = result_by_id(final.step_results)
    assert step_status_name(results[after.id].status) == "SKIPPED"
    assert error_type_name(results[after.id].error_type) == "DEPENDENCY_FAILED"
    assert [c.step_name for c in recorder.for_plan(p.id)] == ["other"]
    assert results[gated.id].error == "rejected by request: not today"
    with pytest.raises(NotFoundError) as unknown:
        await client.approve_step(step("echo").id, "gated")
    assert unknown.value.reason == "EXECUTION_NOT_FOUND"
    with pytest.raises(InvalidArgumentError):
        await client.list_approvals_page(page_size=-1)
