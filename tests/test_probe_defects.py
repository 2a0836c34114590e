"""The defects an outside probe of the running server found (issue 9), each through the wire.

Every test here failed on the server as it was before the fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from tests.support.tools import Gate

from executor_client import (
    AsyncExecutorClient,
    DeadlineExceededError,
    InvalidArgumentError,
    executor_pb2,
    output,
    plan,
    status_name,
    step,
    step_status_name,
)
from executor_server.app import Config, build_server
from executor_server.domain.limits import Limits
from executor_server.engine import executor as engine_executor
from executor_server.rpc.decoding import MAX_JSON_DEPTH
from executor_server.tools.registry import ToolRegistry

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


# ---------------------------------------------------------------- 3. $ref stays inside


@pytest.fixture
async def http_hits() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A local HTTP server that counts the requests it gets, answering a schema."""
    hits: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.readline())
        body = b'{"type": "string", "description": "fetched from the network"}'
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with srv:
        yield srv.sockets[0].getsockname()[1], hits


@pytest.mark.parametrize(
    "ref", ["http://127.0.0.1:{port}/schema.json", "file:///etc/passwd", "other.json#/x"]
)
async def test_a_schema_ref_outside_the_schema_is_refused_not_fetched(
    client: AsyncExecutorClient, http_hits: tuple[int, list[bytes]], ref: str
) -> None:
    port, hits = http_hits
    ref = ref.format(port=port)
    rules = [{"$ref": ref}]
    with pytest.raises(InvalidArgumentError) as refused:
        await client.execute_plan(plan(step("echo", {}, validation_rules=rules)))
    (violation,) = refused.value.field_violations
    assert violation.field == "plan.steps[0].validation_rules[0].json_schema"
    assert "points outside the schema" in violation.description
    assert "root:" not in violation.description  # nothing of /etc/passwd comes back
    assert hits == []
    with pytest.raises(InvalidArgumentError):  # the same through ExecuteStep
        await client.execute_step(step("echo", {}, validation_rules=rules))
    assert hits == []


async def test_a_schema_ref_within_the_schema_still_works(client: AsyncExecutorClient) -> None:
    schema = {"$defs": {"n": {"type": "integer"}}, "properties": {"n": {"$ref": "#/$defs/n"}}}
    ok = plan(step("echo", {"n": 1}, validation_rules=[schema]))
    assert status_name((await client.execute_plan(ok)).status) == "COMPLETED"
    bad = plan(step("echo", {"n": "one"}, validation_rules=[schema]))
    result = await client.execute_plan(bad)
    assert status_name(result.status) == "FAILED"
    assert result.error.error_type == pb.EXECUTION_ERROR_TYPE_VALIDATION


# ---------------------------------------------------------------- 5. malformed bodies

SERVICE = "/executor.v1.ExecutorService/"
UNARY_METHODS = [
    "ExecutePlan",
    "ExecuteStep",
    "CancelExecution",
    "PauseExecution",
    "ResumeExecution",
    "GetExecutionStatus",
    "RollbackExecution",
    "ListTools",
    "ListExecutions",
    "DeleteExecution",
]
# Not a valid message of any type: a field whose length runs past the end of the body.
GARBAGE = b"\x0a\xff\xff\xff\x0f\x01\x02"


def deep_plan(depth: int) -> bytes:
    """An ExecutePlanRequest whose arguments nest `depth` levels, built field by field (Go
    and Java clients encode such messages happily; only decoding has a limit)."""
    request = pb.ExecutePlanRequest(plan=plan(step("echo", {})))
    level = request.plan.steps[0].tool_execution.arguments
    for _ in range(depth):
        level = level.fields["a"].struct_value
    level.fields["leaf"].number_value = 1
    return request.SerializeToString()


async def raw_call(
    address: str, method: str, body: bytes, metadata: Any = ()
) -> grpc.aio.AioRpcError:
    """Send `body` as the request of `method`; returns the error the server answered."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(SERVICE + method, None, None)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call(body, metadata=metadata, timeout=10)
    return failed.value


@pytest.fixture
def address(port: int) -> str:
    return f"127.0.0.1:{port}"


@pytest.mark.parametrize("method", [*UNARY_METHODS, "WatchExecution"])
async def test_a_malformed_body_is_invalid_argument_without_a_traceback(
    address: str, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    if method == "WatchExecution":
        async with grpc.aio.insecure_channel(address) as channel:
            stream = channel.unary_stream(SERVICE + method, None, None)(GARBAGE, timeout=10)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                async for _ in stream:
                    pass
        error = failed.value
    else:
        error = await raw_call(address, method, GARBAGE)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "could not be decoded" in (error.details() or "")
    assert "DecodeError" not in (error.details() or "")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("depth", [28, 40, 1000])
async def test_json_nested_past_the_limit_is_invalid_argument_naming_it(
    address: str, client: AsyncExecutorClient, depth: int
) -> None:
    body = deep_plan(depth)
    if depth <= MAX_JSON_DEPTH:
        async with grpc.aio.insecure_channel(address) as channel:
            answer = await channel.unary_unary(SERVICE + "ExecutePlan", None, None)(
                body, timeout=10
            )
        result = pb.ExecutePlanResponse.FromString(answer).result
        assert status_name(result.status) == "COMPLETED"
        return
    error = await raw_call(address, "ExecutePlan", body)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{MAX_JSON_DEPTH} levels" in (error.details() or "")
    # The server goes on serving.
    assert status_name((await client.execute_plan(plan(step("echo", {})))).status) == "COMPLETED"


# ---------------------------------------------------------------- 6. bounded error answers


def trailer_bytes(error: grpc.aio.AioRpcError) -> int:
    trailers: Any = error.trailing_metadata() or ()
    size = sum(len(key) + len(value) for key, value in trailers)
    return size + len((error.details() or "").encode())


async def test_a_huge_id_still_gets_its_not_found(address: str) -> None:
    huge = "x" * 20_000
    body = pb.GetExecutionStatusRequest(plan_id=huge).SerializeToString()
    error = await raw_call(address, "GetExecutionStatus", body)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert trailer_bytes(error) < 8 * 1024
    assert "more characters" in (error.details() or "")


async def test_twenty_thousand_bad_steps_get_their_invalid_argument(
    address: str, client: AsyncExecutorClient
) -> None:
    p = pb.ActionPlan(id="not-a-uuid-" + "y" * 5000)
    for i in range(20_000):
        p.steps.add(id=f"bad-{i}", name=f"s{i}")  # no tool, id not a UUID
    body = pb.ExecutePlanRequest(plan=p).SerializeToString()
    error = await raw_call(address, "ExecutePlan", body)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailer_bytes(error) < 8 * 1024
    with pytest.raises(InvalidArgumentError) as refused:  # the client reads the details
        await client.execute_plan(p)
    violations = refused.value.field_violations
    assert violations[0].field == "plan.id"
    assert violations[-1].description.startswith("and ")
    assert violations[-1].description.endswith(" more violations not listed")
    assert len(violations) < 100


# ---------------------------------------------------------------- 4. bounded outputs


def doubling_plan(steps: int) -> pb.ActionPlan:
    """Each echo step doubles the previous one's text: 1 KiB · 2^(steps-1) at the end."""
    chain = [step("echo", {"v": "x" * 1024}, name="s0")]
    for k in range(1, steps):
        previous = f"${{steps.s{k - 1}.output.v}}"
        chain.append(step("echo", {"v": previous * 2}, name=f"s{k}", depends_on=[chain[-1]]))
    return plan(*chain)


async def test_a_doubling_chain_stops_at_the_argument_limit(client: AsyncExecutorClient) -> None:
    p = doubling_plan(18)  # a 256 MiB output at the end, unbounded
    result = await client.execute_plan(p)
    assert status_name(result.status) == "FAILED"
    assert result.error.error_type == pb.EXECUTION_ERROR_TYPE_RESOURCE_EXHAUSTED
    assert "max_argument_bytes" in result.error.message
    assert result.step_results[12].error_type == pb.EXECUTION_ERROR_TYPE_RESOURCE_EXHAUSTED
    # Every answer about it still arrives.
    status = await client.get_execution_status(p.id)
    assert status_name(status.status) == "FAILED"
    assert status_name([e async for e in client.watch(p.id)][-1].status) == "FAILED"


async def test_an_output_over_the_limit_fails_its_step(client: AsyncExecutorClient) -> None:
    half = step("echo", {"v": "y" * (3 * 1024 * 1024)}, name="half")
    p = plan(half, step("echo", {"v": "${steps.half.output.v}"}, name="copy", depends_on=[half]))
    assert status_name((await client.execute_plan(p)).status) == "COMPLETED"
    # An output of 5 MiB made by a tool itself (arguments are not the bound here).
    r = await client.execute_step(step("echo", {"v": "z" * (5 * 1024 * 1024)}))
    assert step_status_name(r.result.status) == "FAILED"
    assert r.result.error_type == pb.EXECUTION_ERROR_TYPE_RESOURCE_EXHAUSTED
    assert "max_output_bytes" in r.result.error


@pytest.fixture
async def small_server(tmp_path: Path, tools: ToolRegistry) -> AsyncIterator[str]:
    """A server whose answers may hold 1 MiB at most."""
    limits = Limits(
        max_message_bytes=1024 * 1024,
        max_output_bytes=600 * 1024,
        max_argument_bytes=600 * 1024,
    )
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, limits=limits)
    srv = await build_server(config, tools=tools)
    port = await srv.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)


async def test_answers_fit_the_message_limit_by_eliding_the_largest_outputs(
    small_server: str,
) -> None:
    a = step("echo", {"v": "o" * 250_000}, name="a")
    b = step("echo", {"v": "${steps.a.output.v}${steps.a.output.v}"}, name="b", depends_on=[a])
    c = step("echo", {"v": "${steps.a.output.v}"}, name="c", depends_on=[a])
    p = plan(a, b, c, step("echo", {"v": "small"}, name="d"))
    # The client accepts no more than the server may send.
    options = [("grpc.max_receive_message_length", 1024 * 1024)]
    async with AsyncExecutorClient(small_server, options=options, timeout=20) as client:
        result = await client.execute_plan(p)
        assert status_name(result.status) == "COMPLETED"
        status = await client.get_execution_status(p.id)
        for answer in (result.step_results, status.step_results):
            elided = [r.step_name for r in answer if r.elided_output_bytes]
            assert elided == ["b"]  # the largest, until the rest fits
            assert answer[1].elided_output_bytes > 500_000
            assert not answer[1].HasField("output")
            assert output(answer[2].output) == {"v": "o" * 250_000}
        # Watching delivers every output whole, in messages that each fit.
        completed = {
            e.step_name: output(e.output)
            async for e in client.watch(p.id)
            if e.step_status == pb.STEP_STATUS_COMPLETED
        }
        sizes = {name: len(v["v"]) for name, v in completed.items()}
        assert sizes == {"a": 250_000, "b": 500_000, "c": 250_000, "d": 5}
