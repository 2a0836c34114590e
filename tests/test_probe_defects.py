"""The defects an outside probe of the running server found (issue 9), each through the wire.

Every test here failed on the server as it was before the fix.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.support.tools import Gate

from executor_client import (
    AsyncExecutorClient,
    DeadlineExceededError,
    executor_pb2,
    plan,
    status_name,
    step,
    step_status_name,
)
from executor_server.engine import executor as engine_executor

pb = executor_pb2


# ---------------------------------------------------------------- 1. fail beside a sibling


async def test_a_step_failing_at_once_beside_a_ready_sibling_ends_the_plan(
    client: AsyncExecutorClient,
) -> None:
    p = plan(step("fail", {"retryable": False}, name="f"), step("echo", {}, name="e"))
    result = await asyncio.wait_for(client.execute_plan(p), 10)
    assert status_name(result.status) == "FAILED"
    statuses = {r.step_name: step_status_name(r.status) for r in result.step_results}
    assert statuses == {"f": "FAILED", "e": "SKIPPED"}
    watched = [e async for e in client.watch(p.id)]  # ends: the execution is over
    assert status_name(watched[-1].status) == "FAILED"


async def test_a_failure_beside_a_long_sibling_ends_the_plan_at_once(
    client: AsyncExecutorClient,
) -> None:
    p = plan(
        step("fail", {"retryable": False}, name="f"), step("sleep", {"seconds": 30}, name="nap")
    )
    result = await asyncio.wait_for(client.execute_plan(p), 10)
    assert status_name(result.status) == "FAILED"
    assert step_status_name(result.step_results[1].status) in ("SKIPPED", "CANCELLED")


async def test_cancel_answers_cancelled_for_a_plan_that_was_stuck_before(
    client: AsyncExecutorClient,
) -> None:
    p = plan(step("sleep", {"seconds": 30}, name="nap"), step("echo", {}, name="e"))
    await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=1), detach=True)
    assert status_name(await client.cancel_execution(p.id)) == "CANCELLED"
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "CANCELLED"


async def test_cancel_that_cannot_finish_in_time_says_so(
    client: AsyncExecutorClient, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_executor, "CANCEL_WAIT_SECONDS", 0.2)
    p = plan(step("gate", {"key": "slow-to-stop", "linger": 1.0}, name="g"))
    await client.execute_plan(p, detach=True)
    await gate.started("slow-to-stop")
    with pytest.raises(DeadlineExceededError) as refused:
        await client.cancel_execution(p.id)
    assert refused.value.reason == "STILL_WINDING_DOWN"
    # Once the attempt has wound down, the execution is cancelled and cancel says so.
    events = [e async for e in client.watch(p.id)]
    assert status_name(events[-1].status) == "CANCELLED"
    assert status_name(await client.cancel_execution(p.id)) == "CANCELLED"
