"""Bad requests: INVALID_ARGUMENT naming the field, NOT_FOUND for unknown plans, and a
server that keeps serving afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from google.protobuf import duration_pb2, struct_pb2
from tests.support.events import collect

from executor_client import (
    AsyncExecutorClient,
    InvalidArgumentError,
    NotFoundError,
    executor_pb2,
    plan,
    retry_policy,
    status_name,
    step,
)

pb = executor_pb2


def _duration(seconds: int = 0, nanos: int = 0) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


def _with(message_step: pb.ActionStep, **fields: object) -> pb.ActionStep:
    """A copy of the step with raw protobuf fields set (bypassing the client's checks)."""
    copy = pb.ActionStep()
    copy.CopyFrom(message_step)
    for name, value in fields.items():
        target = getattr(copy, name)
        if hasattr(target, "CopyFrom"):
            target.CopyFrom(value)
        else:
            setattr(copy, name, value)
    return copy


def _echo(name: str = "", **kwargs: object) -> pb.ActionStep:
    return step("echo", {"v": 1}, name=name, **kwargs)  # type: ignore[arg-type]


def _cycle() -> pb.ActionPlan:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    return plan(
        step("echo", {}, name="free"),
        step("echo", {}, name="a", id=a, depends_on=[c]),
        step("echo", {}, name="b", id=b, depends_on=[a]),
        step("echo", {}, name="c", id=c, depends_on=[b]),
    )


def _duplicate_ids() -> pb.ActionPlan:
    first = _echo("one")
    return plan(first, _echo("two", id=first.id))


@dataclass
class Case:
    """A bad request and the violation it must produce."""

    build: Callable[[], pb.ActionPlan | None]
    field: str
    says: str = ""  # a fragment of the violation's description
    options: pb.ExecutionOptions | None = None
    also: tuple[str, ...] = ()  # fragments the description must contain


CASES: dict[str, Case] = {
    "no steps": Case(lambda: plan(), "plan.steps", "at least one step"),
    "plan id not a UUID": Case(lambda: plan(_echo(), id="plan-1"), "plan.id", "UUID"),
    "step id not a UUID": Case(lambda: plan(_echo(id="step-1")), "plan.steps[0].id", "UUID"),
    "empty step id": Case(lambda: plan(_echo(id="")), "plan.steps[0].id", "UUID"),
    "duplicate step ids": Case(_duplicate_ids, "plan.steps[1].id", "duplicate"),
    "duplicate step names": Case(
        lambda: plan(_echo("same"), _echo("same")), "plan.steps[1].name", "duplicate"
    ),
    "bad step name": Case(lambda: plan(_echo("1st step")), "plan.steps[0].name"),
    "unknown dependency": Case(
        lambda: plan(_echo("a", depends_on=["nope"])), "plan.steps[0].dependencies[0]", "nope"
    ),
    "dependency cycle": Case(_cycle, "plan.steps", "cycle", also=("a", "b", "c")),
    "step without a tool call": Case(
        lambda: plan(pb.ActionStep(id=str(uuid.uuid4()))), "plan.steps[0].tool_execution"
    ),
    "unknown tool": Case(
        lambda: plan(step("teleport", {})), "plan.steps[0].tool_execution.tool_name", "teleport"
    ),
    "arguments missing a required property": Case(
        lambda: plan(step("sleep", {})), "plan.steps[0].tool_execution.arguments", "seconds"
    ),
    "argument of the wrong type": Case(
        lambda: plan(step("sleep", {"seconds": "long"})),
        "plan.steps[0].tool_execution.arguments.seconds",
    ),
    "reference to a step that is not a dependency": Case(
        lambda: plan(_echo("a"), step("echo", {"x": "${steps.a.output}"}, name="b")),
        "plan.steps[1].tool_execution.arguments",
        "not among its dependencies",
    ),
    "reference to an unknown step": Case(
        lambda: plan(step("echo", {"x": "${steps.ghost.output.v}"})),
        "plan.steps[0].tool_execution.arguments",
        "ghost",
    ),
    "negative timeout": Case(
        lambda: plan(_with(_echo(), timeout=_duration(-1))), "plan.steps[0].timeout", "negative"
    ),
    "zero timeout": Case(lambda: plan(_echo(timeout=0)), "plan.steps[0].timeout", "positive"),
    "negative expected duration": Case(
        lambda: plan(_with(_echo(), expected_duration=_duration(0, -5_000_000))),
        "plan.steps[0].expected_duration",
        "negative",
    ),
    "negative initial backoff": Case(
        lambda: plan(_echo(retry=pb.RetryPolicy(max_attempts=2, initial_backoff=_duration(-2)))),
        "plan.steps[0].retry_policy.initial_backoff",
        "negative",
    ),
    "backoff multiplier below 1": Case(
        lambda: plan(_echo(retry=retry_policy(3, backoff_multiplier=0.5))),
        "plan.steps[0].retry_policy.backoff_multiplier",
    ),
    "jitter above 1": Case(
        lambda: plan(_echo(retry=retry_policy(3, jitter=2))),
        "plan.steps[0].retry_policy.jitter",
    ),
    "too many attempts": Case(
        lambda: plan(_echo(retry=retry_policy(1000))), "plan.steps[0].retry_policy.max_attempts"
    ),
    "max backoff below initial backoff": Case(
        lambda: plan(_echo(retry=retry_policy(3, initial_backoff=2, max_backoff=1))),
        "plan.steps[0].retry_policy.max_backoff",
    ),
    "unknown non-retryable error type": Case(
        lambda: plan(_echo(retry=pb.RetryPolicy(non_retryable_error_types=[99]))),  # type: ignore[list-item]
        "plan.steps[0].retry_policy.non_retryable_error_types[0]",
    ),
    "plan default retry policy with jitter above 1": Case(
        lambda: plan(_echo()),
        "options.retry_policy.jitter",
        options=pb.ExecutionOptions(retry_policy=retry_policy(2, jitter=1.5)),
    ),
    "unknown non-retryable error type in the plan default": Case(
        lambda: plan(_echo()),
        "options.retry_policy.non_retryable_error_types[0]",
        options=pb.ExecutionOptions(
            retry_policy=pb.RetryPolicy(non_retryable_error_types=[42])  # type: ignore[list-item]
        ),
    ),
    "negative plan deadline": Case(
        lambda: plan(_echo()),
        "options.resource_limits.max_execution_time",
        options=pb.ExecutionOptions(
            resource_limits=pb.ResourceLimits(max_execution_time=_duration(-3))
        ),
    ),
    "zero default step timeout": Case(
        lambda: plan(_echo()),
        "options.timeout_policy.default_step_timeout",
        options=pb.ExecutionOptions(
            timeout_policy=pb.TimeoutPolicy(default_step_timeout=_duration(0))
        ),
    ),
    "negative expected duration multiplier": Case(
        lambda: plan(_echo()),
        "options.timeout_policy.expected_duration_multiplier",
        options=pb.ExecutionOptions(
            timeout_policy=pb.TimeoutPolicy(expected_duration_multiplier=-1)
        ),
    ),
    "absurd concurrency": Case(
        lambda: plan(_echo()),
        "options.max_concurrent_steps",
        options=pb.ExecutionOptions(max_concurrent_steps=10_000_000),
    ),
    "validation rule that is not a JSON Schema": Case(
        lambda: plan(_echo(validation_rules=[{"type": 12}])),
        "plan.steps[0].validation_rules[0].json_schema",
    ),
    "missing plan": Case(lambda: None, "plan", "required"),
}


async def _assert_still_serves(client: AsyncExecutorClient) -> None:
    good = plan(step("echo", {"ok": True}, name="ok"))
    result = await client.execute_plan(good)
    assert status_name(result.status) == "COMPLETED"


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
async def test_a_bad_plan_is_invalid_argument_naming_the_field(
    client: AsyncExecutorClient, case: Case
) -> None:
    bad = case.build()
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(bad, case.options)  # type: ignore[arg-type]
    error = caught.value
    fields = {v.field: v.description for v in error.field_violations}
    assert case.field in fields, fields
    description = fields[case.field]
    assert case.says.lower() in description.lower(), description
    for fragment in case.also:
        assert fragment in description, description
    assert error.reason in {"INVALID_PLAN", "INVALID_ARGUMENT", "MISSING_FIELD"}
    assert case.field in error.message  # the status message summarises the violations
    if bad is not None and bad.id:
        # Nothing was created under the plan's id.
        with pytest.raises((NotFoundError, InvalidArgumentError)):
            await client.get_execution_status(bad.id)
    await _assert_still_serves(client)


async def test_a_cycle_names_only_the_steps_in_it(client: AsyncExecutorClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(_cycle())
    (violation,) = [v for v in caught.value.field_violations if v.field == "plan.steps"]
    assert "free" not in violation.description
    # "dependency cycle: a → b → c → a" (some rotation of it)
    assert "cycle" in violation.description
    named = {part.strip(" '") for part in violation.description.split(":", 1)[1].split("→")}
    assert named == {"a", "b", "c"}


async def test_every_violation_is_reported_at_once(client: AsyncExecutorClient) -> None:
    bad = plan(
        step("teleport", {}, name="x"),
        step("sleep", {}, name="y", depends_on=["nowhere"]),
        _echo("x"),
        id="not-a-uuid",
    )
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(bad)
    fields = {v.field for v in caught.value.field_violations}
    assert {
        "plan.id",
        "plan.steps[0].tool_execution.tool_name",
        "plan.steps[1].dependencies[0]",
        "plan.steps[1].tool_execution.arguments",
        "plan.steps[2].name",
    } <= fields


async def test_the_server_keeps_serving_after_a_stream_of_bad_plans(
    client: AsyncExecutorClient,
) -> None:
    for case in CASES.values():
        with pytest.raises(InvalidArgumentError):
            await client.execute_plan(case.build(), case.options)  # type: ignore[arg-type]
    p = plan(
        step("echo", {"n": 1}, name="a"),
        step("echo", {"m": "${steps.a.output.n}"}, name="b", depends_on=["a"]),
    )
    result = await client.execute_plan(p)
    assert status_name(result.status) == "COMPLETED"
    assert len(await collect(client, p.id)) > 0


async def test_out_of_range_duration_is_invalid_argument(client: AsyncExecutorClient) -> None:
    """A Duration outside protobuf's range (+-10,000 years) is the client's mistake."""
    bad = plan(_with(_echo(), timeout=_duration(10**15)))
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(bad)
    assert any(v.field == "plan.steps[0].timeout" for v in caught.value.field_violations)
    await _assert_still_serves(client)


async def test_non_finite_numbers_in_arguments_are_refused_or_survive(
    client: AsyncExecutorClient,
) -> None:
    """NaN has no JSON form: the server either refuses the plan or runs it, never breaks."""
    arguments = struct_pb2.Struct()
    arguments.update({"x": float("nan")})
    s = step("echo", {})
    s.tool_execution.arguments.CopyFrom(arguments)
    try:
        result = await client.execute_plan(plan(s))
    except InvalidArgumentError:
        pass
    else:
        assert status_name(result.status) in {"COMPLETED", "FAILED"}
    await _assert_still_serves(client)


# ---------------------------------------------------------------- unknown or missing ids

UNKNOWN = "00000000-0000-4000-8000-00000000dead"


async def _watch(client: AsyncExecutorClient, plan_id: str) -> None:
    await collect(client, plan_id)


def _calls(
    client: AsyncExecutorClient,
) -> dict[str, Callable[[str], object]]:
    return {
        "status": client.get_execution_status,
        "pause": client.pause_execution,
        "resume": client.resume_execution,
        "cancel": client.cancel_execution,
        "rollback": client.rollback_execution,
        "watch": lambda plan_id: _watch(client, plan_id),
    }


@pytest.mark.parametrize("rpc", ["status", "pause", "resume", "cancel", "rollback", "watch"])
async def test_unknown_plan_id_is_not_found(client: AsyncExecutorClient, rpc: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        await _calls(client)[rpc](UNKNOWN)  # type: ignore[misc]
    assert caught.value.reason == "EXECUTION_NOT_FOUND"
    assert caught.value.metadata.get("plan_id") == UNKNOWN
    assert UNKNOWN in caught.value.message


@pytest.mark.parametrize("rpc", ["status", "pause", "resume", "cancel", "rollback", "watch"])
async def test_empty_plan_id_is_invalid_argument(client: AsyncExecutorClient, rpc: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await _calls(client)[rpc]("")  # type: ignore[misc]
    assert [v.field for v in caught.value.field_violations] == ["plan_id"]
