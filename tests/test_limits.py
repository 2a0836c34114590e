"""The limits on calls: watchers per execution and in all, calls in flight, submissions per
caller per minute. Each refusal is RESOURCE_EXHAUSTED naming its limit, and the server goes
on serving."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tests.support.tools import make_registry

from executor_client import AsyncExecutorClient, ResourceExhaustedError, plan, step
from executor_server.app import Config, build_server
from executor_server.domain.access import parse_tokens
from executor_server.domain.errors import LimitExceeded
from executor_server.domain.limits import Limits
from executor_server.rpc.admission import SubmissionRate
from executor_server.rpc.server import ExecutorServer


async def _serve(tmp_path: Path, limits: Limits, tokens: str = "") -> ExecutorServer:
    config = Config(
        address="127.0.0.1:0",
        data_dir=tmp_path,
        limits=limits,
        auth_tokens=parse_tokens(tokens.splitlines(), "tokens") or None,
    )
    server = await build_server(config, tools=make_registry())
    await server.start()
    return server


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[str]:
    limits = Limits(max_watchers_per_execution=2, max_watchers=3, max_concurrent_rpcs=4)
    server = await _serve(tmp_path, limits)
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(grace_seconds=1)


async def _watching(client: AsyncExecutorClient, plan_id: str) -> asyncio.Task[None]:
    """A watch that has received its first batch (so it is open), left running."""
    first = asyncio.Event()

    async def follow() -> None:
        async for _ in client.watch(plan_id):
            first.set()

    task = asyncio.create_task(follow())
    done, _ = await asyncio.wait(
        [task, asyncio.create_task(first.wait())], timeout=10, return_when=asyncio.FIRST_COMPLETED
    )
    if task in done:
        task.result()  # raises what ended it
    return task


async def _refusal(client: AsyncExecutorClient, plan_id: str) -> ResourceExhaustedError:
    with pytest.raises(ResourceExhaustedError) as caught:
        async for _ in client.watch(plan_id):
            pass
    return caught.value


async def test_watchers_are_limited_per_execution_and_in_all(limited: str) -> None:
    async with AsyncExecutorClient(limited) as client:
        a, b = plan(step("sleep", {"seconds": 60})), plan(step("sleep", {"seconds": 60}))
        for p in (a, b):
            await client.execute_plan(p, detach=True)
        watches = [await _watching(client, a.id), await _watching(client, a.id)]
        refused = await _refusal(client, a.id)
        assert refused.reason == "LIMIT_EXCEEDED"
        assert refused.metadata == {"limit": "max_watchers_per_execution", "value": "2"}
        assert refused.retry_delay is not None
        watches.append(await _watching(client, b.id))
        refused = await _refusal(client, b.id)
        assert refused.metadata["limit"] == "max_watchers"
        # A watcher that goes frees its place.
        watches.pop(0).cancel()
        await asyncio.sleep(0)
        for _ in range(100):
            with contextlib.suppress(ResourceExhaustedError):
                watches.append(await _watching(client, b.id))
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the freed place was never given to a new watcher")
        for w in watches:
            w.cancel()
        await client.cancel_execution(a.id)
        await client.cancel_execution(b.id)


async def test_calls_in_flight_are_limited_and_health_still_answers(limited: str) -> None:
    async with AsyncExecutorClient(limited) as client:
        p = plan(step("sleep", {"seconds": 60}))
        await client.execute_plan(p, detach=True)
        blocking = [asyncio.create_task(client.execute_plan(p)) for _ in range(4)]
        try:
            for _ in range(200):  # until all four are in flight at the server
                try:
                    await client.list_tools()
                except ResourceExhaustedError as refused:
                    assert refused.metadata == {"limit": "max_concurrent_rpcs", "value": "4"}
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("a fifth call was never refused")
            async with grpc.aio.insecure_channel(limited) as channel:
                health = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="")
                )
                assert health.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            for call in blocking:  # the client goes away: its calls end at the server too
                call.cancel()
            await asyncio.gather(*blocking, return_exceptions=True)
        for _ in range(200):  # room again, once the server has seen them go
            with contextlib.suppress(ResourceExhaustedError):
                await client.cancel_execution(p.id)
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the calls that went away still count")


async def test_each_caller_has_its_own_submission_rate(tmp_path: Path) -> None:
    server = await _serve(
        tmp_path, Limits(max_executions_per_minute=2), tokens="t-ann operator ann\nt-bo operator bo"
    )
    address = f"127.0.0.1:{server.port}"
    try:
        async with (
            AsyncExecutorClient(address, token="t-ann") as ann,
            AsyncExecutorClient(address, token="t-bo") as bo,
        ):
            await ann.execute_plan(plan(step("echo", {})))
            await ann.execute_step(step("echo", {}))
            with pytest.raises(ResourceExhaustedError) as caught:
                await ann.execute_plan(plan(step("echo", {})))
            assert caught.value.metadata == {"limit": "max_executions_per_minute", "value": "2"}
            assert caught.value.retry_delay is not None
            assert 0 < caught.value.retry_delay.total_seconds() <= 30
            assert "'ann' submitted 2 executions within a minute" in caught.value.message
            await bo.execute_plan(plan(step("echo", {})))  # bo has his own
            await ann.list_executions_page()  # reads are not submissions
    finally:
        await server.stop(grace_seconds=1)


def test_the_submission_rate_refills_evenly() -> None:
    now = [0.0]
    rate = SubmissionRate(60, clock=lambda: now[0])
    for _ in range(60):
        rate.take("ann")
    with pytest.raises(LimitExceeded, match=r"retry in 1\.0s"):
        rate.take("ann")
    now[0] += 1.0  # one more per second
    rate.take("ann")
    with pytest.raises(LimitExceeded, match="max-executions-per-minute"):
        rate.take("ann")


def test_limits_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="max_watchers_per_execution must not exceed"):
        Limits(max_watchers_per_execution=10, max_watchers=5)
    with pytest.raises(ValueError, match="max_concurrent_rpcs must be positive"):
        Limits(max_concurrent_rpcs=0)
