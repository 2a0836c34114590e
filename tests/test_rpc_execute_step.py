"""ExecuteStep: one step outside any plan, with references from the caller's context."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from tests.support.events import both_stores, error_type_name
from tests.support.tools import Record

from executor_client import (
    AsyncExecutorClient,
    InvalidArgumentError,
    NotFoundError,
    executor_pb2,
    output,
    retry_policy,
    step,
    step_status_name,
)

pb = executor_pb2

CONTEXT_PLAN = "00000000-0000-4000-8000-0000000000c7"


def _value(obj: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    holder = struct_pb2.Struct()
    holder.update({"v": obj})
    value.CopyFrom(holder.fields["v"])
    return value


@both_stores
async def test_a_single_step_returns_its_result(client: AsyncExecutorClient) -> None:
    s = step("echo", {"hello": "world", "n": [1, 2]}, name="solo", parameters={"team": "x"})
    response = await client.execute_step(s)
    r = response.result
    assert r.step_id == s.id
    assert r.step_name == "solo"
    assert step_status_name(r.status) == "COMPLETED"
    assert output(r.output) == {"hello": "world", "n": [1, 2]}
    assert output(r.metadata) == {"team": "x"}
    assert r.retry_count == 0
    assert r.error == ""
    assert r.start_time.ToNanoseconds() <= r.end_time.ToNanoseconds()
    assert response.resource_usage.tool_invocations == 1


async def test_references_resolve_from_the_context(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    context = pb.ExecutionContext(plan_id=CONTEXT_PLAN)
    context.step_outputs["prev"].CopyFrom(_value({"n": 4, "tags": ["a", "b"]}))
    context.step_outputs["raw"].CopyFrom(_value("text"))
    s = step(
        "record",
        {
            "n": "${steps.prev.output.n}",
            "tag": "${steps.prev.output.tags.1}",
            "line": "n=${steps.prev.output.n} raw=${steps.raw.output}",
        },
    )
    response = await client.execute_step(s, context)
    assert step_status_name(response.result.status) == "COMPLETED"
    assert output(response.result.output) == {
        "n": 4,
        "tag": "b",
        "line": "n=4 raw=text",
        "attempt": 1,
    }
    # The tool ran under the caller's plan id...
    assert [c.plan_id for c in recorder.calls] == [CONTEXT_PLAN]
    # ...but a single step is not an execution anyone can look up.
    with pytest.raises(NotFoundError):
        await client.get_execution_status(CONTEXT_PLAN)


async def test_a_reference_missing_from_the_context_is_invalid_argument(
    client: AsyncExecutorClient, recorder: Record
) -> None:
    s = step("record", {"x": "${steps.elsewhere.output.v}"})
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_step(s)
    (violation,) = caught.value.field_violations
    assert violation.field == "step.tool_execution.arguments"
    assert "elsewhere" in violation.description
    assert recorder.calls == []


async def test_a_reference_to_a_missing_path_fails_the_step(client: AsyncExecutorClient) -> None:
    context = pb.ExecutionContext()
    context.step_outputs["prev"].CopyFrom(_value({"n": 4}))
    response = await client.execute_step(step("echo", {"x": "${steps.prev.output.m}"}), context)
    assert step_status_name(response.result.status) == "FAILED"
    assert error_type_name(response.result.error_type) == "VALIDATION"


@both_stores
async def test_a_failing_step_returns_a_failed_result_after_its_retries(
    client: AsyncExecutorClient,
) -> None:
    s = step("fail", {"message": "still broken"}, retry=retry_policy(3, initial_backoff=0.01))
    response = await client.execute_step(s)  # OK: the failure is data
    r = response.result
    assert step_status_name(r.status) == "FAILED"
    assert r.retry_count == 2
    assert r.error == "still broken"
    assert error_type_name(r.error_type) == "TOOL_FAILED"
    assert response.resource_usage.tool_invocations == 3


async def test_the_context_retry_policy_is_the_default(client: AsyncExecutorClient) -> None:
    context = pb.ExecutionContext(retry_policy=retry_policy(2, initial_backoff=0.01))
    response = await client.execute_step(step("fail", {"succeed_on_attempt": 2}), context)
    assert step_status_name(response.result.status) == "COMPLETED"
    assert response.result.retry_count == 1
    assert output(response.result.output) == {"attempt": 2}


async def test_a_step_timeout_applies(client: AsyncExecutorClient) -> None:
    response = await client.execute_step(step("sleep", {"seconds": 30}, timeout=0.1))
    assert step_status_name(response.result.status) == "FAILED"
    assert error_type_name(response.result.error_type) == "TIMEOUT"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (step("echo", {}, id="nope"), "step.id"),
        (step("echo", {}, depends_on=["other"]), "step.dependencies"),
        (step("teleport", {}), "step.tool_execution.tool_name"),
        (step("sleep", {}), "step.tool_execution.arguments"),
        (None, "step"),
    ],
    ids=["bad id", "dependencies", "unknown tool", "bad arguments", "missing step"],
)
async def test_a_bad_step_is_invalid_argument(
    client: AsyncExecutorClient, bad: pb.ActionStep | None, field: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_step(bad)  # type: ignore[arg-type]
    assert field in [v.field for v in caught.value.field_violations]
