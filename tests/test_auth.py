"""Bearer-token authentication: the service is closed, health and reflection stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tests.support.tools import make_registry

from executor_client import (
    AsyncExecutorClient,
    UnauthenticatedError,
    executor_pb2,
    plan,
    status_name,
    step,
)
from executor_server.engine.executor import Executor
from executor_server.rpc.server import ExecutorServer
from executor_server.store.memory import MemoryStore

pb = executor_pb2

TOKEN = "correct horse battery staple"


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[str]:
    executor = Executor(make_registry(), MemoryStore(), workspace_root=tmp_path)
    server = ExecutorServer(
        executor, MemoryStore(), address="127.0.0.1:0", auth_tokens=["other", TOKEN]
    )
    port = await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace_seconds=1)


async def test_calls_without_a_valid_token_are_refused(secured: str) -> None:
    for metadata in [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)]:
        async with AsyncExecutorClient(secured, metadata=metadata) as client:
            with pytest.raises(UnauthenticatedError) as caught:
                await client.list_tools()
            assert caught.value.reason == "UNAUTHENTICATED"
            assert TOKEN not in str(caught.value)
            with pytest.raises(UnauthenticatedError):  # a stream is refused the same way
                async for _ in client.watch("00000000-0000-4000-8000-000000000001"):
                    pass


async def test_a_valid_token_opens_the_service(secured: str) -> None:
    async with AsyncExecutorClient(
        secured, metadata=[("authorization", f"Bearer {TOKEN}")]
    ) as client:
        result = await client.execute_plan(plan(step("echo", {"x": 1})))
        assert status_name(result.status) == "COMPLETED"
        assert {t.name for t in await client.list_tools()} >= {"echo", "sleep", "fail"}


async def test_health_and_reflection_need_no_token(secured: str) -> None:
    async with grpc.aio.insecure_channel(secured) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for response in reflection.ServerReflectionInfo(iter([request])):
            names = {s.name for s in response.list_services_response.service}
            assert "executor.v1.ExecutorService" in names


async def test_an_anonymous_body_is_refused_before_it_is_decoded(secured: str) -> None:
    # Garbage, and a body nested past the decoder's limit: neither is parsed, both are
    # refused for what they lack.
    deep = pb.ExecutePlanRequest(plan=plan(step("echo", {})))
    level = deep.plan.steps[0].tool_execution.arguments
    for _ in range(200):
        level = level.fields["a"].struct_value
    async with grpc.aio.insecure_channel(secured) as channel:
        for body in (b"\x0a\xff\xff\xff\x0f", deep.SerializeToString()):
            call = channel.unary_unary("/executor.v1.ExecutorService/ExecutePlan", None, None)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(body, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
