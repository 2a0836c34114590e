"""ListTools and the standard gRPC health service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from executor_client import AsyncExecutorClient, InvalidArgumentError, output
from executor_server.app import Config, build_server
from executor_server.tools.registry import ToolRegistry

TOOL_NAMES = ["bad_output", "crash", "echo", "fail", "gate", "record", "sleep", "slow"]
SERVICE = "executor.v1.ExecutorService"


async def test_list_tools_describes_every_tool(client: AsyncExecutorClient) -> None:
    page = await client.list_tools_page()
    assert [t.name for t in page.tools] == TOOL_NAMES  # sorted by name
    assert page.next_page_token == ""
    assert list(page.load_errors) == []
    tools = {t.name: t for t in page.tools}

    sleep = tools["sleep"]
    assert sleep.title == "Sleep"
    assert sleep.description
    assert output(sleep.input_schema)["required"] == ["seconds"]
    assert output(sleep.input_schema)["properties"]["seconds"]["type"] == "number"
    assert output(sleep.output_schema)["required"] == ["slept"]
    assert sleep.read_only and sleep.idempotent
    assert not sleep.destructive and not sleep.open_world

    assert tools["crash"].destructive
    assert not tools["crash"].idempotent
    assert tools["fail"].default_timeout.ToSeconds() == 30
    assert not tools["echo"].HasField("default_timeout")
    assert output(tools["echo"].input_schema) == {"type": "object"}
    assert not tools["crash"].HasField("output_schema")
    for spec in page.tools:
        assert output(spec.input_schema)["type"] == "object"


@pytest.mark.parametrize("size", [1, 2, 3, 1000])
async def test_list_tools_pages_walk_every_tool_once(
    client: AsyncExecutorClient, size: int
) -> None:
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await client.list_tools_page(size, token)
        pages += 1
        assert 1 <= len(page.tools) <= size
        names.extend(t.name for t in page.tools)
        token = page.next_page_token
        if not token:
            break
        assert pages < 20
    assert names == TOOL_NAMES
    assert pages == -(-len(TOOL_NAMES) // size)
    assert [t.name for t in await client.list_tools(page_size=size)] == TOOL_NAMES


@pytest.mark.parametrize("token", ["garbage", "b2Zmc2V0Oi0x", "!!!"])
async def test_a_bad_page_token_is_invalid_argument(
    client: AsyncExecutorClient, token: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.list_tools_page(1, token)
    assert [v.field for v in caught.value.field_violations] == ["page_token"]


async def test_a_negative_page_size_is_invalid_argument(client: AsyncExecutorClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.list_tools_page(-1)
    assert [v.field for v in caught.value.field_violations] == ["page_size"]


async def test_health_reports_serving(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE):
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_turns_not_serving_when_shutdown_starts(
    tmp_path: Path, tools: ToolRegistry
) -> None:
    # No blockbuster here: once this test's server and channel are gone, grpc.aio joins its
    # poller thread from the loop (grpc's own shutdown, not our code), which it would flag.
    server = await build_server(
        Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=None), tools=tools
    )
    port = await server.start()
    stopping: asyncio.Task[None] | None = None
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            updates = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
            first = await asyncio.wait_for(updates.read(), 5)
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            stopping = asyncio.create_task(server.stop(drain_seconds=0.5, grace_seconds=1))
            second = await asyncio.wait_for(updates.read(), 5)
            assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
            updates.cancel()
    finally:
        if stopping is None:
            await server.stop(drain_seconds=0, grace_seconds=1)
        else:
            await stopping
