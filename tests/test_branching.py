"""Plans that branch, over the wire: `when` conditions, dependency rules, and re-running an
execution from where it failed (RetryExecution)."""

from __future__ import annotations

import pytest
from tests.support.events import (
    STATUS_CHANGED,
    assert_gap_free,
    both_stores,
    collect,
    error_type_name,
    result_by_id,
    statuses,
    step_statuses,
    step_transitions,
)
from tests.support.tools import Gate, Record

from executor_client import (
    AsyncExecutorClient,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    executor_pb2,
    output,
    status_name,
    step_status_name,
)
from executor_client.plans import approval, compensation, plan, retry_policy, step

pb = executor_pb2

NO_RETRY = retry_policy(max_attempts=1)


def _by_name(
    result: pb.ExecutionResult | pb.GetExecutionStatusResponse,
) -> dict[str, pb.StepResult]:
    return {r.step_name: r for r in result.step_results}


# ---------------------------------------------------------------- when and join rules


@both_stores
@pytest.mark.parametrize("found", [True, False])
async def test_two_conditional_branches_join_with_none_failed(
    client: AsyncExecutorClient, recorder: Record, found: bool
) -> None:
    search = step("echo", {"count": 3 if found else 0}, name="search")
    fetch = step(
        "record",
        {"what": "fetch", "count": "${steps.search.output.count}"},
        name="fetch",
        depends_on=[search],
        when="steps.search.output.count > 0",
    )
    ask = step(
        "record",
        {"what": "ask"},
        name="ask",
        depends_on=[search],
        when="steps.search.output.count == 0 && plan.metadata.interactive",
    )
    join = step(
        "record",
        {"fetched": "${steps.fetch.output.count}", "asked": "${steps.ask.output.what}"},
        name="join",
        depends_on=[fetch, ask],
        dependency_rule="NONE_FAILED",
    )
    after = step("record", {"what": "after"}, name="after", depends_on=[fetch, ask])
    p = plan(search, fetch, ask, join, after, metadata={"interactive": True})

    result = await client.execute_plan(p)

    assert status_name(result.status) == "COMPLETED"
    steps = _by_name(result)
    ran, skipped = ("fetch", "ask") if found else ("ask", "fetch")
    assert step_status_name(steps[ran].status) == "COMPLETED"
    assert step_status_name(steps[skipped].status) == "SKIPPED"
    assert steps[skipped].skipped_reason == "condition false"
    assert not steps[skipped].error  # a false condition is no failure
    # The join runs after either branch; a reference to the skipped one is null.
    assert step_status_name(steps["join"].status) == "COMPLETED"
    joined = output(steps["join"].output)
    assert joined == (
        {"fetched": 3, "asked": None, "attempt": 1}
        if found
        else {"fetched": None, "asked": "ask", "attempt": 1}
    )
    # ALL_COMPLETED (the default): a skipped dependency skips it too.
    assert step_status_name(steps["after"].status) == "SKIPPED"
    assert steps["after"].skipped_reason == f"not run: dependency {skipped!r} was skipped"
    called = [c.step_name for c in recorder.for_plan(p.id)]
    assert sorted(called) == sorted([ran, "join"])
    events = await collect(client, p.id)
    assert_gap_free(events)
    assert step_transitions(events, p.steps[[s.name for s in p.steps].index(skipped)].id) == [
        "SKIPPED"
    ]


@both_stores
async def test_all_done_cleanup_runs_after_a_failure_under_fail_fast(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    setup = step("echo", {"workspace": "w1"}, name="setup")
    work = step("fail", {"message": "broken"}, name="work", depends_on=[setup], retry=NO_RETRY)
    slow = step("gate", {"key": "slow"}, name="slow", depends_on=[setup])
    report = step("echo", {}, name="report", depends_on=[work])
    cleanup = step(
        "echo",
        {"remove": "${steps.setup.output.workspace}", "work": "${steps.work.output}"},
        name="cleanup",
        depends_on=[work, slow, report],
        dependency_rule="ALL_DONE",
    )
    p = plan(setup, work, slow, report, cleanup)

    result = await client.execute_plan(p)

    assert status_name(result.status) == "FAILED"
    assert result.error.message == "broken"
    steps = _by_name(result)
    assert step_status_name(steps["work"].status) == "FAILED"
    assert step_status_name(steps["slow"].status) == "CANCELLED"  # fail-fast stopped it
    assert step_status_name(steps["report"].status) == "SKIPPED"
    assert step_status_name(steps["cleanup"].status) == "COMPLETED"
    assert output(steps["cleanup"].output) == {"remove": "w1", "work": None}
    events = await collect(client, p.id)
    assert_gap_free(events)
    assert statuses(events)[-1] == "FAILED"
    # The cleanup ran after everything it depends on had settled.
    ends = {e.step_name: e.sequence for e in events if e.step_status and e.step_name}
    assert ends["cleanup"] > max(ends["work"], ends["slow"], ends["report"])


async def test_a_cancel_stops_the_cleanup_too(client: AsyncExecutorClient, gate: Gate) -> None:
    work = step("fail", {}, name="work", retry=NO_RETRY)
    cleanup = step(
        "gate", {"key": "cleanup"}, name="cleanup", depends_on=[work], dependency_rule="ALL_DONE"
    )
    p = plan(work, cleanup)
    await client.execute_plan(p, detach=True)
    await gate.started("cleanup")

    assert status_name(await client.cancel_execution(p.id, "enough")) == "CANCELLED"

    result = await client.get_execution_status(p.id)
    assert step_statuses(result.step_results) == ["FAILED", "CANCELLED"]
    assert "cleanup" in gate.cancelled


async def test_continue_on_failure_runs_all_done_steps_and_skips_the_rest(
    client: AsyncExecutorClient,
) -> None:
    bad = step("fail", {}, name="bad", retry=NO_RETRY)
    after = step("echo", {}, name="after", depends_on=[bad])
    after2 = step("echo", {}, name="after2", depends_on=[after])
    finally_ = step("echo", {}, name="finally", depends_on=[after2], dependency_rule="ALL_DONE")
    p = plan(bad, after, after2, finally_)

    result = await client.execute_plan(p, pb.ExecutionOptions(continue_on_failure=True))

    assert status_name(result.status) == "FAILED"
    assert step_statuses(result.step_results) == ["FAILED", "SKIPPED", "SKIPPED", "COMPLETED"]
    steps = _by_name(result)
    assert error_type_name(steps["after2"].error_type) == "DEPENDENCY_FAILED"
    assert "'bad' failed" in steps["after2"].error


async def test_a_condition_that_fails_fails_its_step(client: AsyncExecutorClient) -> None:
    source = step("echo", {"n": 1}, name="source")
    divides = step(
        "echo", {}, name="divides", depends_on=[source], when="steps.source.output.n / 0 == 1"
    )
    p = plan(source, divides)

    result = await client.execute_plan(p)

    assert status_name(result.status) == "FAILED"
    failed = _by_name(result)["divides"]
    assert step_status_name(failed.status) == "FAILED"
    assert error_type_name(failed.error_type) == "VALIDATION"
    assert "division by zero" in failed.error
    assert result.error.step_id == divides.id


async def test_a_condition_must_give_a_bool(client: AsyncExecutorClient) -> None:
    source = step("echo", {"n": 1}, name="source")
    number = step("echo", {}, name="number", depends_on=[source], when="steps.source.output.n")
    result = await client.execute_plan(plan(source, number))

    failed = _by_name(result)["number"]
    assert error_type_name(failed.error_type) == "VALIDATION"
    assert "must evaluate to a bool" in failed.error


async def test_a_condition_reads_statuses_and_ids(client: AsyncExecutorClient) -> None:
    first = step("echo", {"ok": True}, name="first")
    by_id = step(
        "echo",
        {},
        name="by_id",
        depends_on=[first],
        when=f'steps["{first.id}"].status == "COMPLETED" && steps.first.output.ok',
    )
    result = await client.execute_plan(plan(first, by_id))

    assert step_statuses(result.step_results) == ["COMPLETED", "COMPLETED"]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("steps.a.output.n >", "not a valid CEL expression"),
        ("steps.b.output.n > 0", "which is not among its dependencies"),
        ("steps.ghost.output == null", "reads unknown step 'ghost'"),
        ("x > 1", "undeclared reference 'x'"),
        ("lowerAscii(steps.a.output.s) == 'x'", "unknown function 'lowerAscii'"),
        ("steps.a.result == 1", "read steps.a.output or steps.a.status"),
        ("steps == 1", "a step is named"),
        ("plan.name == 'x'", "plan.metadata"),
        (
            "[1, 2].all(x, [3].exists(y, y == x))",
            "comprehensions (exists) cannot be nested",
        ),
        ("true || " * 200 + "true", "at most 1,024 are allowed"),
        (" + ".join(["steps.a.output.n"] * 17) + " > 0", "more than 16 times"),
    ],
)
async def test_conditions_are_checked_at_submission(
    client: AsyncExecutorClient, when: str, message: str
) -> None:
    a = step("echo", {"n": 1}, name="a")
    b = step("echo", {}, name="b")
    c = step("echo", {}, name="c", depends_on=[a], when=when)

    with pytest.raises(InvalidArgumentError) as raised:
        await client.execute_plan(plan(a, b, c))

    violations = {v.field: v.description for v in raised.value.field_violations}
    assert list(violations) == ["plan.steps[2].when"], violations
    assert message in violations["plan.steps[2].when"]
    assert len(violations["plan.steps[2].when"]) <= 512


async def test_an_unknown_dependency_rule_is_refused(client: AsyncExecutorClient) -> None:
    a = step("echo", {}, name="a")
    a.dependency_rule = 9  # type: ignore[assignment]
    with pytest.raises(InvalidArgumentError) as raised:
        await client.execute_plan(plan(a))
    assert [v.field for v in raised.value.field_violations] == ["plan.steps[0].dependency_rule"]


# ---------------------------------------------------------------- RetryExecution


@both_stores
async def test_retry_runs_only_what_did_not_complete(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    first = step("record", {"what": "first"}, name="first")
    flaky = step(
        "fail",
        {"message": "not yet", "succeed_on_attempt": 2},
        name="flaky",
        depends_on=[first],
        retry=NO_RETRY,
    )
    last = step("record", {"got": "${steps.flaky.output.attempt}"}, name="last", depends_on=[flaky])
    p = plan(first, flaky, last)
    failed = await client.execute_plan(p)
    assert step_statuses(failed.step_results) == ["COMPLETED", "FAILED", "SKIPPED"]
    before = await collect(client, p.id)

    result = await client.retry_execution(p.id)

    assert status_name(result.status) == "COMPLETED"
    assert not result.HasField("error")
    steps = _by_name(result)
    assert step_statuses(result.step_results) == ["COMPLETED", "COMPLETED", "COMPLETED"]
    assert output(steps["flaky"].output) == {"attempt": 2}  # attempt numbers go on
    assert output(steps["last"].output) == {"got": 2, "attempt": 1}
    # `first` completed the first time: it never ran again.
    assert [c.step_name for c in recorder.for_plan(p.id)] == ["first", "last"]
    events = await collect(client, p.id)
    assert events[: len(before)] == before  # the same log, continued
    assert_gap_free(events)
    assert statuses(events) == ["PENDING", "RUNNING", "FAILED", "RUNNING", "COMPLETED"]
    retried = events[len(before)]
    assert retried.type == STATUS_CHANGED and status_name(retried.status) == "RUNNING"
    assert step_transitions(events, flaky.id) == [
        "RUNNING",
        "FAILED",
        "PENDING",
        "RUNNING",
        "COMPLETED",
    ]
    assert step_transitions(events, first.id) == ["RUNNING", "COMPLETED"]


@both_stores
async def test_retry_with_raised_limits_after_resource_exhausted(
    client: AsyncExecutorClient,
) -> None:
    s0 = step("echo", {"i": 0}, name="s0")
    s1 = step("echo", {"i": 1}, name="s1", depends_on=[s0])
    s2 = step("echo", {"i": 2}, name="s2", depends_on=[s1])
    p = plan(s0, s1, s2)
    limited = pb.ExecutionOptions(resource_limits=pb.ResourceLimits(max_tool_invocations=2))
    failed = await client.execute_plan(p, limited)
    assert status_name(failed.status) == "FAILED"
    assert error_type_name(failed.error.error_type) == "RESOURCE_EXHAUSTED"

    # The same limit again fails at once: what was used still counts.
    again = await client.retry_execution(p.id)
    assert status_name(again.status) == "FAILED"
    assert error_type_name(again.error.error_type) == "RESOURCE_EXHAUSTED"

    raised = await client.retry_execution(
        p.id, resource_limits=pb.ResourceLimits(max_tool_invocations=3)
    )
    assert status_name(raised.status) == "COMPLETED"
    assert step_statuses(raised.step_results) == ["COMPLETED"] * 3
    assert raised.resource_usage.tool_invocations == 3
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "COMPLETED"


async def test_retry_detached_returns_while_it_runs(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    first = step("fail", {"succeed_on_attempt": 2}, name="first", retry=NO_RETRY)
    second = step("gate", {"key": "second"}, name="second", depends_on=[first])
    p = plan(first, second)
    await client.execute_plan(p)

    started = await client.retry_execution(p.id, detach=True)

    assert status_name(started.status) == "RUNNING"
    await gate.started("second")
    gate.open("second")
    events = await collect(client, p.id)
    assert statuses(events)[-1] == "COMPLETED"


async def test_retry_of_a_cancelled_execution(client: AsyncExecutorClient, gate: Gate) -> None:
    first = step("echo", {}, name="first")
    held = step("gate", {"key": "held"}, name="held", depends_on=[first])
    after = step("echo", {}, name="after", depends_on=[held])
    p = plan(first, held, after)
    await client.execute_plan(p, detach=True)
    await gate.started("held")
    await client.cancel_execution(p.id)
    assert gate.cancelled == ["held"]

    gate.open("held")
    result = await client.retry_execution(p.id)

    assert status_name(result.status) == "COMPLETED"
    assert step_statuses(result.step_results) == ["COMPLETED"] * 3
    assert gate.starts == ["held", "held"]


async def test_retry_refusals(client: AsyncExecutorClient, gate: Gate) -> None:
    with pytest.raises(NotFoundError):
        await client.retry_execution("6f1c2a9e-8a8e-4c5e-9d7e-1a2b3c4d5e6f")

    done = plan(step("echo", {}))
    await client.execute_plan(done)
    with pytest.raises(FailedPreconditionError) as refused:
        await client.retry_execution(done.id)
    assert refused.value.status == pb.EXECUTION_STATUS_COMPLETED

    running = plan(step("gate", {"key": "r"}))
    await client.execute_plan(running, detach=True)
    await gate.started("r")
    with pytest.raises(FailedPreconditionError) as refused:
        await client.retry_execution(running.id)
    assert refused.value.status == pb.EXECUTION_STATUS_RUNNING
    gate.open("r")

    undone = plan(step("fail", {}, retry=NO_RETRY))
    await client.execute_plan(undone)
    await client.rollback_execution(undone.id)
    with pytest.raises(FailedPreconditionError) as refused:
        await client.retry_execution(undone.id)
    assert refused.value.status == pb.EXECUTION_STATUS_ROLLED_BACK

    failed = plan(step("fail", {}, retry=NO_RETRY))
    await client.execute_plan(failed)
    bad_limits = pb.ResourceLimits(max_execution_time={"seconds": -1})
    with pytest.raises(InvalidArgumentError) as invalid:
        await client.retry_execution(failed.id, resource_limits=bad_limits)
    fields = [v.field for v in invalid.value.field_violations]
    assert fields == ["resource_limits.max_execution_time"]


async def test_retry_restarts_the_deadline(client: AsyncExecutorClient) -> None:
    p = plan(step("sleep", {"seconds": 0.5}, name="nap"))
    limits = pb.ResourceLimits(max_execution_time={"nanos": 200_000_000})
    failed = await client.execute_plan(p, pb.ExecutionOptions(resource_limits=limits))
    assert error_type_name(failed.error.error_type) == "TIMEOUT"

    # A fresh 0.2 s: not enough still; with a longer limit it completes.
    again = await client.retry_execution(p.id)
    assert error_type_name(again.error.error_type) == "TIMEOUT"
    longer = pb.ResourceLimits(max_execution_time={"seconds": 30})
    result = await client.retry_execution(p.id, resource_limits=longer)
    assert status_name(result.status) == "COMPLETED"


# ---------------------------------------------------------------- honest rollback


@both_stores
async def test_rollback_reports_the_steps_with_nothing_to_undo(
    client: AsyncExecutorClient,
) -> None:
    made = step(
        "echo",
        {"id": 1},
        name="made",
        compensation=compensation("echo", {"undo": "${steps.self.output.id}"}),
    )
    napped = step("sleep", {"seconds": 0}, name="napped", depends_on=[made])
    echoed = step("echo", {}, name="echoed", depends_on=[made])
    broken = step("fail", {}, name="broken", depends_on=[napped, echoed], retry=NO_RETRY)
    p = plan(made, napped, echoed, broken)
    await client.execute_plan(p)

    assert status_name(await client.rollback_execution(p.id)) == "ROLLED_BACK"

    result = await client.get_execution_status(p.id)
    steps = _by_name(result)
    assert step_status_name(steps["made"].status) == "COMPENSATED"
    assert not steps["made"].nothing_to_undo
    for name in ("napped", "echoed"):
        assert step_status_name(steps[name].status) == "COMPLETED"
        assert steps[name].nothing_to_undo
        assert not steps[name].HasField("compensation")
    events = await collect(client, p.id)
    assert events[-1].message == "1 compensated, 2 with nothing to undo"
    nothing = [e for e in events if e.type == pb.EXECUTION_EVENT_TYPE_STEP_NOTHING_TO_UNDO]
    assert sorted(e.step_name for e in nothing) == ["echoed", "napped"]
    assert "tool 'sleep' cannot undo its calls" in next(
        e.message for e in nothing if e.step_name == "napped"
    )
    # Each is reported before the step it depended on is compensated.
    undone = next(e.sequence for e in events if step_status_name(e.step_status) == "COMPENSATED")
    assert all(e.sequence < undone for e in nothing)
    assert result_by_id(result.step_results)[broken.id].status == pb.STEP_STATUS_FAILED


# ---------------------------------------------------------------- with approval gates


async def test_a_condition_is_decided_before_the_gate(client: AsyncExecutorClient) -> None:
    check = step("echo", {"risky": False}, name="check")
    gated = step(
        "echo",
        {},
        name="gated",
        depends_on=[check],
        when="steps.check.output.risky",
        approval=approval("Go?"),
    )
    result = await client.execute_plan(plan(check, gated))

    assert status_name(result.status) == "COMPLETED"
    assert step_statuses(result.step_results) == ["COMPLETED", "SKIPPED"]
    assert result.step_results[1].skipped_reason == "condition false"
    events = await collect(client, result.plan_id)
    assert "WAITING" not in [step_status_name(e.step_status) for e in events]  # never asked


async def test_a_retried_rejected_gate_waits_for_a_decision_of_its_own(
    client: AsyncExecutorClient,
) -> None:
    gated = step("echo", {"n": 1}, name="gated", approval=approval("Ship?"))
    cleanup = step("echo", {}, name="cleanup", depends_on=[gated], dependency_rule="ALL_DONE")
    p = plan(gated, cleanup)
    await client.execute_plan(p, detach=True)
    async for event in client.watch(p.id):
        if step_status_name(event.step_status) == "WAITING":
            break
    await client.reject_step(p.id, "gated", comment="not now")
    first = await client.wait(p.id)
    assert status_name(first.status) == "FAILED"
    # A rejection is a failure: the ALL_DONE cleanup still ran.
    assert step_statuses(first.step_results) == ["FAILED", "COMPLETED"]

    retried = await client.retry_execution(p.id, detach=True)
    assert status_name(retried.status) == "RUNNING"
    async for event in client.watch(p.id, after_sequence=first.last_sequence):
        if step_status_name(event.step_status) == "WAITING":
            break
    (gate,) = await client.list_approvals(p.id)
    assert gate.step_name == "gated"
    await client.approve_step(p.id, "gated", comment="now")
    final = await client.wait(p.id)

    assert status_name(final.status) == "COMPLETED"
    assert output(final.step_results[0].output) == {"n": 1}
    assert final.step_results[0].approval.comment == "now"
    assert step_statuses(final.step_results) == ["COMPLETED", "COMPLETED"]
