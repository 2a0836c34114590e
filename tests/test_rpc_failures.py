"""Failures are data: failed steps, fail-fast, continue_on_failure, retries, timeouts,
output validation and budgets, as a client sees them in results and events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.support.events import (
    RETRY_SCHEDULED,
    STEP_CHANGED,
    assert_well_formed,
    both_stores,
    collect,
    error_type_name,
    result_by_id,
    step_statuses,
    step_transitions,
    wait_for_event,
)
from tests.support.tools import Gate

from executor_client import (
    AsyncExecutorClient,
    executor_pb2,
    output,
    plan,
    retry_policy,
    status_name,
    step,
    step_status_name,
)

pb = executor_pb2


def fast(max_attempts: int, **kwargs: Any) -> pb.RetryPolicy:
    """A retry policy with tiny backoffs."""
    return retry_policy(max_attempts, initial_backoff=0.01, max_backoff=0.05, **kwargs)


# ---------------------------------------------------------------- failed steps


@both_stores
async def test_a_failing_step_fails_the_execution_with_its_error(
    client: AsyncExecutorClient,
) -> None:
    ok = step("echo", {"a": 1}, name="ok")
    bad = step(
        "fail",
        {"message": "disk full", "error_type": "NETWORK", "retryable": False},
        name="bad",
        depends_on=[ok],
    )
    p = plan(ok, bad)

    result = await client.execute_plan(p)  # OK at the RPC level: the failure is data

    assert status_name(result.status) == "FAILED"
    assert result.HasField("error")
    assert error_type_name(result.error.error_type) == "NETWORK"
    assert result.error.message == "disk full"
    assert result.error.retryable is False
    assert result.error.step_id == bad.id
    failed = result.step_results[1]
    assert step_status_name(failed.status) == "FAILED"
    assert failed.error == "disk full"
    assert error_type_name(failed.error_type) == "NETWORK"
    assert failed.retry_count == 0
    assert not failed.HasField("output")
    assert step_status_name(result.step_results[0].status) == "COMPLETED"
    assert (result.progress.completed_steps, result.progress.failed_steps) == (1, 1)

    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "FAILED"
    assert status.error == result.error
    events = await collect(client, p.id)
    assert_well_formed(events)
    assert events[-1].error == result.error


async def test_a_tool_that_raises_a_plain_exception_is_tool_failed(
    client: AsyncExecutorClient,
) -> None:
    result = await client.execute_plan(plan(step("crash", {}, name="c")))
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert "RuntimeError" in result.error.message and "boom" in result.error.message
    assert "Traceback" not in result.error.message


@both_stores
async def test_fail_fast_cancels_running_siblings_and_skips_the_rest(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    sibling = step("gate", {"key": "sibling"}, name="sibling")
    boom = step("gate", {"key": "boom", "fail": True}, name="boom")
    queued = step("echo", {}, name="queued")  # ready, but no free slot
    after_sibling = step("echo", {}, name="after_sibling", depends_on=[sibling])
    after_boom = step("echo", {}, name="after_boom", depends_on=[boom])
    p = plan(sibling, boom, queued, after_sibling, after_boom)

    await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=2), detach=True)
    await gate.started("sibling")
    await gate.started("boom")
    gate.open("boom")
    final = await client.wait(p.id, timeout=20)

    assert status_name(final.status) == "FAILED"
    assert final.error.step_id == boom.id
    assert step_statuses(final.step_results) == [
        "CANCELLED",
        "FAILED",
        "SKIPPED",
        "SKIPPED",
        "SKIPPED",
    ]
    assert gate.cancelled == ["sibling"]  # the tool itself saw the cancellation
    assert gate.finished == ["boom"]
    p_ = final.progress
    assert (p_.cancelled_steps, p_.failed_steps, p_.skipped_steps, p_.pending_steps) == (1, 1, 3, 0)
    events = await collect(client, p.id)
    assert_well_formed(events)
    for skipped in (queued, after_sibling, after_boom):
        assert step_transitions(events, skipped.id) == ["SKIPPED"]


@both_stores
async def test_continue_on_failure_runs_the_independent_branch(
    client: AsyncExecutorClient,
) -> None:
    bad = step("fail", {"retryable": False, "message": "nope"}, name="bad")
    dep = step("echo", {}, name="dep", depends_on=[bad])
    dep2 = step("echo", {}, name="dep2", depends_on=[dep])
    indep = step("echo", {"i": 1}, name="indep")
    after = step("echo", {"i": "${steps.indep.output.i}"}, name="after", depends_on=[indep])
    p = plan(bad, dep, dep2, indep, after)

    result = await client.execute_plan(p, pb.ExecutionOptions(continue_on_failure=True))

    assert status_name(result.status) == "FAILED"
    assert result.error.step_id == bad.id
    assert result.error.message == "nope"
    assert step_statuses(result.step_results) == [
        "FAILED",
        "SKIPPED",
        "SKIPPED",
        "COMPLETED",
        "COMPLETED",
    ]
    by_id = result_by_id(result.step_results)
    for skipped in (dep, dep2):
        assert error_type_name(by_id[skipped.id].error_type) == "DEPENDENCY_FAILED"
        assert by_id[skipped.id].error
    assert output(by_id[after.id].output) == {"i": 1}
    assert_well_formed(await collect(client, p.id))


# ---------------------------------------------------------------- retries


@both_stores
async def test_retries_until_success(client: AsyncExecutorClient) -> None:
    flaky = step("fail", {"succeed_on_attempt": 3}, name="flaky", retry=fast(3))
    p = plan(flaky)
    result = await client.execute_plan(p)

    assert status_name(result.status) == "COMPLETED"
    (r,) = result.step_results
    assert step_status_name(r.status) == "COMPLETED"
    assert r.retry_count == 2
    assert output(r.output) == {"attempt": 3}
    assert r.error == ""  # a later success clears the earlier errors
    assert result.resource_usage.tool_invocations == 3

    events = await collect(client, p.id)
    step_events = [e for e in events if e.step_id == flaky.id]
    kinds = [
        ("retry" if e.type == RETRY_SCHEDULED else step_status_name(e.step_status), e.attempt)
        for e in step_events
    ]
    assert kinds == [
        ("RUNNING", 1),
        ("retry", 1),
        ("RUNNING", 2),
        ("retry", 2),
        ("RUNNING", 3),
        ("COMPLETED", 3),
    ]
    for retry in (e for e in step_events if e.type == RETRY_SCHEDULED):
        assert retry.HasField("retry_delay")
        assert retry.HasField("error")
        assert error_type_name(retry.error.error_type) == "TOOL_FAILED"
        assert retry.error.step_id == flaky.id


async def test_retry_delays_follow_the_policy(client: AsyncExecutorClient) -> None:
    # Jitter cannot be switched off over the wire (0 means "default"), so allow for it.
    policy = retry_policy(4, initial_backoff=0.01, backoff_multiplier=3, max_backoff=0.05)
    p = plan(step("fail", {}, name="f", retry=policy))
    result = await client.execute_plan(p)

    assert status_name(result.status) == "FAILED"
    assert result.step_results[0].retry_count == 3
    delays = [
        e.retry_delay.ToNanoseconds() / 1e9
        for e in await collect(client, p.id)
        if e.type == RETRY_SCHEDULED
    ]
    assert len(delays) == 3
    assert 0.01 * 0.85 <= delays[0] <= 0.01 * 1.15
    assert 0.03 * 0.85 <= delays[1] <= 0.03 * 1.15
    assert 0.05 * 0.85 <= delays[2] <= 0.05  # capped by max_backoff


@both_stores
async def test_retries_run_out(client: AsyncExecutorClient) -> None:
    flaky = step("fail", {"succeed_on_attempt": 3}, name="flaky", retry=fast(2))
    result = await client.execute_plan(plan(flaky))
    assert status_name(result.status) == "FAILED"
    assert result.step_results[0].retry_count == 1
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert result.resource_usage.tool_invocations == 2


async def test_the_plan_default_retry_policy_applies_to_steps_without_one(
    client: AsyncExecutorClient,
) -> None:
    flaky = step("fail", {"succeed_on_attempt": 2}, name="flaky")
    options = pb.ExecutionOptions(retry_policy=fast(2))
    result = await client.execute_plan(plan(flaky), options)
    assert status_name(result.status) == "COMPLETED"
    assert result.step_results[0].retry_count == 1


async def test_non_retryable_error_types_are_not_retried(client: AsyncExecutorClient) -> None:
    policy = fast(5, non_retryable=[pb.EXECUTION_ERROR_TYPE_NETWORK])
    result = await client.execute_plan(
        plan(step("fail", {"error_type": "NETWORK"}, name="net", retry=policy))
    )
    assert status_name(result.status) == "FAILED"
    assert result.step_results[0].retry_count == 0
    assert result.resource_usage.tool_invocations == 1
    assert error_type_name(result.error.error_type) == "NETWORK"

    # Other error types are still retried under the same policy.
    result = await client.execute_plan(
        plan(step("fail", {"error_type": "TOOL_FAILED", "succeed_on_attempt": 2}, retry=policy))
    )
    assert status_name(result.status) == "COMPLETED"
    assert result.step_results[0].retry_count == 1


async def test_errors_marked_not_retryable_are_not_retried(client: AsyncExecutorClient) -> None:
    p = plan(step("fail", {"retryable": False}, name="once", retry=fast(5)))
    result = await client.execute_plan(p)
    assert status_name(result.status) == "FAILED"
    assert result.step_results[0].retry_count == 0
    assert result.error.retryable is False
    assert not [e for e in await collect(client, p.id) if e.type == RETRY_SCHEDULED]


# ---------------------------------------------------------------- timeouts


@both_stores
async def test_a_step_timeout_fails_the_attempt_with_timeout(client: AsyncExecutorClient) -> None:
    slow = step("sleep", {"seconds": 30}, name="slow", timeout=0.2)
    result = await client.execute_plan(plan(slow))

    assert status_name(result.status) == "FAILED"
    (r,) = result.step_results
    assert step_status_name(r.status) == "FAILED"
    assert error_type_name(r.error_type) == "TIMEOUT"
    assert "timed out" in r.error
    assert error_type_name(result.error.error_type) == "TIMEOUT"
    assert 0.2 <= r.execution_time.ToNanoseconds() / 1e9 < 10


@pytest.mark.parametrize("source", ["expected_duration", "plan_default"])
async def test_attempt_timeouts_without_an_explicit_timeout(
    client: AsyncExecutorClient, source: str
) -> None:
    options = pb.ExecutionOptions()
    if source == "plan_default":
        options.timeout_policy.default_step_timeout.FromMilliseconds(150)
        slow = step("sleep", {"seconds": 30}, name="slow")
    else:  # expected_duration x 3 (the default multiplier)
        slow = step("sleep", {"seconds": 30}, name="slow", expected_duration=0.05)
    result = await client.execute_plan(plan(slow), options)
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.step_results[0].error_type) == "TIMEOUT"
    assert result.step_results[0].execution_time.ToNanoseconds() / 1e9 < 10


@both_stores
async def test_the_plan_deadline_fails_the_execution_with_timeout(
    client: AsyncExecutorClient,
) -> None:
    slow = step("sleep", {"seconds": 30}, name="slow")
    never = step("echo", {}, name="never", depends_on=[slow])
    options = pb.ExecutionOptions()
    options.resource_limits.max_execution_time.FromMilliseconds(300)

    result = await client.execute_plan(plan(slow, never), options)

    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TIMEOUT"
    assert "max_execution_time" in result.error.message
    statuses = step_statuses(result.step_results)
    assert statuses[0] == "CANCELLED"
    assert statuses[1] in {"SKIPPED", "CANCELLED"}
    assert 0.3 <= result.execution_time.ToNanoseconds() / 1e9 < 10


async def test_paused_time_does_not_count_against_the_deadline(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    held = step("gate", {"key": "hold"}, name="held")
    then = step("echo", {"x": 1}, name="then", depends_on=[held])
    options = pb.ExecutionOptions()
    options.resource_limits.max_execution_time.FromMilliseconds(1000)
    p = plan(held, then)

    await client.execute_plan(p, options, detach=True)
    await gate.started("hold")
    assert status_name(await client.pause_execution(p.id)) == "PAUSED"
    gate.open("hold")
    await wait_for_event(client, p.id, step_id=held.id, step_status="COMPLETED")
    # Wall time passes while paused (the point of the test, not a synchronisation).
    await asyncio.sleep(1.5)
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "PAUSED"
    assert status.execution_time.ToNanoseconds() / 1e9 < 1.0

    assert status_name(await client.resume_execution(p.id)) == "RUNNING"
    final = await client.wait(p.id, timeout=20)
    assert status_name(final.status) == "COMPLETED"
    assert final.execution_time.ToNanoseconds() / 1e9 < 1.0


@pytest.mark.parametrize(("tool", "retried"), [("sleep", True), ("slow", False)])
async def test_a_timed_out_attempt_is_retried_only_if_the_tool_is_idempotent(
    client: AsyncExecutorClient, tool: str, retried: bool
) -> None:
    s = step(tool, {"seconds": 30}, name="t", timeout=0.1, retry=fast(3))
    result = await client.execute_plan(plan(s))
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TIMEOUT"
    assert result.step_results[0].retry_count == (2 if retried else 0)
    assert result.error.retryable is retried


# ---------------------------------------------------------------- output validation


@both_stores
async def test_a_validation_rule_violation_fails_with_validation(
    client: AsyncExecutorClient,
) -> None:
    rule = pb.ValidationRule(description="n is small")
    rule.json_schema.update({"type": "object", "properties": {"n": {"maximum": 3}}})
    checked = step("echo", {"n": 5}, name="checked", validation_rules=[rule])
    passing = step("echo", {"n": 2}, name="passing", validation_rules=[rule])
    result = await client.execute_plan(
        plan(passing, checked), pb.ExecutionOptions(continue_on_failure=True)
    )

    assert status_name(result.status) == "FAILED"
    ok, bad = result.step_results
    assert step_status_name(ok.status) == "COMPLETED"
    assert step_status_name(bad.status) == "FAILED"
    assert error_type_name(bad.error_type) == "VALIDATION"
    assert "n is small" in bad.error
    assert not bad.HasField("output")


@pytest.mark.parametrize(("mode", "says"), [("schema", "output schema"), ("not_json", "JSON")])
async def test_tool_output_breaking_its_contract_fails_with_validation(
    client: AsyncExecutorClient, mode: str, says: str
) -> None:
    result = await client.execute_plan(plan(step("bad_output", {"mode": mode}, name="b")))
    assert status_name(result.status) == "FAILED"
    (r,) = result.step_results
    assert error_type_name(r.error_type) == "VALIDATION"
    assert says in r.error
    assert error_type_name(result.error.error_type) == "VALIDATION"


async def test_a_resolved_reference_that_breaks_the_input_schema_fails_with_validation(
    client: AsyncExecutorClient,
) -> None:
    source = step("echo", {"seconds": "soon"}, name="source")
    sleeper = step("sleep", {"seconds": "${steps.source.output.seconds}"}, depends_on=[source])
    result = await client.execute_plan(plan(source, sleeper))
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.step_results[1].error_type) == "VALIDATION"
    assert "seconds" in result.step_results[1].error


# ---------------------------------------------------------------- budgets


@both_stores
async def test_the_tool_invocation_budget_stops_further_steps(
    client: AsyncExecutorClient,
) -> None:
    a = step("echo", {}, name="a")
    b = step("echo", {}, name="b", depends_on=[a])
    c = step("echo", {}, name="c", depends_on=[b])
    options = pb.ExecutionOptions(resource_limits=pb.ResourceLimits(max_tool_invocations=2))
    result = await client.execute_plan(plan(a, b, c), options)

    assert status_name(result.status) == "FAILED"
    assert step_statuses(result.step_results) == ["COMPLETED", "COMPLETED", "FAILED"]
    assert error_type_name(result.step_results[2].error_type) == "RESOURCE_EXHAUSTED"
    assert error_type_name(result.error.error_type) == "RESOURCE_EXHAUSTED"
    assert "max_tool_invocations" in result.error.message
    assert result.resource_usage.tool_invocations == 2


async def test_the_tool_invocation_budget_stops_retries(client: AsyncExecutorClient) -> None:
    options = pb.ExecutionOptions(resource_limits=pb.ResourceLimits(max_tool_invocations=2))
    p = plan(step("fail", {}, name="f", retry=fast(5)))
    result = await client.execute_plan(p, options)

    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "RESOURCE_EXHAUSTED"
    assert result.resource_usage.tool_invocations == 2
    events = await collect(client, p.id)
    running = [
        e for e in events if e.type == STEP_CHANGED and step_status_name(e.step_status) == "RUNNING"
    ]
    assert len(running) == 2  # the third attempt never started
