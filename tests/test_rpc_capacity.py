"""A server at its limit of active executions refuses more with RESOURCE_EXHAUSTED."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.tools import Gate

from executor_client import AsyncExecutorClient, ResourceExhaustedError, plan, status_name, step
from executor_server.app import Config, build_server
from executor_server.tools.registry import ToolRegistry


@pytest.fixture
async def small_client(
    tmp_path: Path, tools: ToolRegistry, no_blocking: object
) -> AsyncIterator[AsyncExecutorClient]:
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, max_active_executions=1)
    server = await build_server(config, tools=tools)
    port = await server.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{port}", timeout=20) as client:
            yield client
    finally:
        await server.stop(drain_seconds=0, grace_seconds=1)


async def test_a_full_server_says_when_to_come_back(
    small_client: AsyncExecutorClient, gate: Gate
) -> None:
    busy = plan(step("gate", {"key": "busy"}))
    await small_client.execute_plan(busy, detach=True)
    await gate.started("busy")

    waiting = plan(step("echo", {}))
    with pytest.raises(ResourceExhaustedError) as caught:
        await small_client.execute_plan(waiting)
    assert caught.value.reason == "CAPACITY_EXHAUSTED"
    assert caught.value.retry_delay is not None and caught.value.retry_delay.total_seconds() > 0

    # Attaching to the running execution is not a new one: still allowed.
    assert status_name((await small_client.execute_plan(busy, detach=True)).status) == "RUNNING"

    gate.open("busy")
    await small_client.wait(busy.id, timeout=20)
    assert status_name((await small_client.execute_plan(waiting)).status) == "COMPLETED"
