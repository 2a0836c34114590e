"""Unit tests of executor_client that need no Executor server.

Errors and watch reconnects are exercised against tiny in-process grpc.aio
servers, so the clients parse real wire statuses, not mocks.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import any_pb2, duration_pb2, struct_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from executor_client import (
    AsyncExecutorClient,
    DeadlineExceededError,
    ExecutorClient,
    ExecutorClientError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    compensation,
    executor_pb2,
    executor_pb2_grpc,
    from_rpc_error,
    output,
    plan,
    retry_policy,
    status_name,
    step,
    step_status_name,
)
from executor_client._common import WatchCursor

pb = executor_pb2

# ---------------------------------------------------------------- helpers


def _is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


def test_step_defaults_to_a_uuid_and_converts_arguments() -> None:
    s = step("echo", {"message": "hi", "n": 2, "nested": {"xs": [1, None]}}, name="greet")
    assert _is_uuid(s.id)
    assert s.name == "greet"
    assert s.WhichOneof("step_type") == "tool_execution"
    assert s.tool_execution.tool_name == "echo"
    assert output(s.tool_execution.arguments) == {
        "message": "hi",
        "n": 2,
        "nested": {"xs": [1, None]},
    }
    # Unset optional parts stay unset rather than becoming empty messages.
    assert not s.HasField("timeout")
    assert not s.HasField("parameters")
    assert not s.HasField("retry_policy")
    assert not s.HasField("compensation")
    assert step("echo").id != step("echo").id


def test_step_dependencies_accept_steps_ids_and_names() -> None:
    first = step("echo", name="first")
    s = step("echo", id="fixed", depends_on=[first, "second", "3f2b..."])
    assert s.id == "fixed"
    assert list(s.dependencies) == [first.id, "second", "3f2b..."]


def test_step_durations_from_seconds_and_timedeltas() -> None:
    s = step(
        "sleep",
        timeout=1.5,
        expected_duration=datetime.timedelta(milliseconds=250),
    )
    assert s.timeout == duration_pb2.Duration(seconds=1, nanos=500_000_000)
    assert s.expected_duration == duration_pb2.Duration(nanos=250_000_000)
    assert step("sleep", timeout=0).HasField("timeout")
    with pytest.raises(ValueError, match="duration"):
        step("sleep", timeout=-1)
    with pytest.raises(ValueError, match="duration"):
        step("sleep", timeout=float("inf"))


def test_step_with_retry_validation_compensation_and_parameters() -> None:
    retry = retry_policy(
        3,
        initial_backoff=0.5,
        backoff_multiplier=2,
        max_backoff=datetime.timedelta(seconds=10),
        non_retryable=[pb.EXECUTION_ERROR_TYPE_VALIDATION],
    )
    undo = compensation("delete", {"path": "/tmp/x"}, timeout=5)
    s = step(
        "write",
        {"path": "/tmp/x"},
        retry=retry,
        validation_rules=[
            {"type": "object"},
            pb.ValidationRule(description="custom"),
        ],
        compensation=undo,
        parameters={"owner": "me"},
    )
    assert s.retry_policy.max_attempts == 3
    assert s.retry_policy.initial_backoff.ToTimedelta() == datetime.timedelta(seconds=0.5)
    assert s.retry_policy.max_backoff.seconds == 10
    assert list(s.retry_policy.non_retryable_error_types) == [pb.EXECUTION_ERROR_TYPE_VALIDATION]
    assert output(s.validation_rules[0].json_schema) == {"type": "object"}
    assert s.validation_rules[1].description == "custom"
    assert s.compensation.tool_name == "delete"
    assert s.compensation.timeout.seconds == 5
    assert output(s.parameters) == {"owner": "me"}


def test_plan_collects_steps_and_metadata() -> None:
    a, b = step("echo", name="a"), step("echo", name="b", depends_on=["a"])
    p = plan(a, b, name="demo", metadata={"team": "x"})
    assert _is_uuid(p.id)
    assert p.name == "demo"
    assert [s.name for s in p.steps] == ["a", "b"]
    assert output(p.metadata) == {"team": "x"}
    assert plan(id="given").id == "given"
    assert not plan().HasField("metadata")


def test_output_converts_values_to_python() -> None:
    assert output(struct_pb2.Value()) is None
    assert output(struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)) is None
    assert output(struct_pb2.Value(number_value=3)) == 3
    assert isinstance(output(struct_pb2.Value(number_value=3)), int)
    assert output(struct_pb2.Value(number_value=2.5)) == 2.5
    assert output(struct_pb2.Value(bool_value=True)) is True
    assert output(struct_pb2.Value(string_value="s")) == "s"
    holder = struct_pb2.Struct()
    holder.update({"xs": [1, "a", {"k": [True]}]})
    assert output(holder.fields["xs"]) == [1, "a", {"k": [True]}]


def test_status_names() -> None:
    assert status_name(pb.EXECUTION_STATUS_COMPLETED) == "COMPLETED"
    assert status_name(pb.EXECUTION_STATUS_ROLLBACK_FAILED) == "ROLLBACK_FAILED"
    assert status_name(99) == "99"
    assert step_status_name(pb.STEP_STATUS_SKIPPED) == "SKIPPED"


# ---------------------------------------------------------------- errors

_SERVICE = "executor.v1.ExecutorService"


def _any(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _rich_abort(
    status: status_pb2.Status,
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        grpc_status = rpc_status.to_status(status)
        await context.abort(grpc_status.code, grpc_status.details, grpc_status.trailing_metadata)

    return handler


@asynccontextmanager
async def _serve(servicer: executor_pb2_grpc.ExecutorServiceServicer) -> AsyncIterator[str]:
    server = grpc.aio.server()
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@asynccontextmanager
async def _serve_status_handler(
    method: str, handler: Callable[..., Any], request_type: Any, response_type: Any
) -> AsyncIterator[str]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                _SERVICE,
                {
                    method: grpc.unary_unary_rpc_method_handler(
                        handler,
                        request_deserializer=request_type.FromString,
                        response_serializer=response_type.SerializeToString,
                    )
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


_INVALID_PLAN = status_pb2.Status(
    code=code_pb2.INVALID_ARGUMENT,
    message="plan is invalid",
    details=[
        _any(
            error_details_pb2.ErrorInfo(
                reason="INVALID_PLAN", domain="executor.v1", metadata={"plan_id": "p1"}
            )
        ),
        _any(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field="plan.steps[2].id", description="duplicate id"
                    )
                ]
            )
        ),
    ],
)


async def test_async_client_maps_rich_status_to_invalid_argument() -> None:
    handler = _rich_abort(_INVALID_PLAN)
    async with (
        _serve_status_handler(
            "ExecutePlan", handler, pb.ExecutePlanRequest, pb.ExecutePlanResponse
        ) as target,
        AsyncExecutorClient(target) as client,
    ):
        with pytest.raises(InvalidArgumentError) as caught:
            await client.execute_plan(plan(step("echo")))
    error = caught.value
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == "plan is invalid"
    assert error.reason == "INVALID_PLAN"
    assert error.metadata == {"plan_id": "p1"}
    assert error.field_violations == [FieldViolation("plan.steps[2].id", "duplicate id")]
    assert error.retry_delay is None
    assert isinstance(error.__cause__, grpc.aio.AioRpcError)
    assert "plan.steps[2].id: duplicate id" in str(error)


async def test_sync_client_maps_failed_precondition_with_status() -> None:
    status = status_pb2.Status(
        code=code_pb2.FAILED_PRECONDITION,
        message="execution already ended",
        details=[
            _any(
                error_details_pb2.ErrorInfo(
                    reason="INVALID_TRANSITION",
                    domain="executor.v1",
                    metadata={"plan_id": "p1", "status": "COMPLETED"},
                )
            )
        ],
    )

    def call(target: str) -> None:
        with ExecutorClient(target) as client:
            client.cancel_execution("p1")

    handler = _rich_abort(status)
    async with _serve_status_handler(
        "CancelExecution", handler, pb.CancelExecutionRequest, pb.CancelExecutionResponse
    ) as target:
        # The sync client blocks, so it must not run on the server's event loop.
        with pytest.raises(FailedPreconditionError) as caught:
            await asyncio.to_thread(call, target)
    assert caught.value.reason == "INVALID_TRANSITION"
    assert caught.value.status == pb.EXECUTION_STATUS_COMPLETED
    assert isinstance(caught.value.__cause__, grpc.RpcError)


async def test_retry_info_becomes_retry_delay() -> None:
    status = status_pb2.Status(
        code=code_pb2.UNAVAILABLE,
        message="shutting down",
        details=[
            _any(error_details_pb2.ErrorInfo(reason="SHUTTING_DOWN", domain="executor.v1")),
            _any(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2))),
        ],
    )
    handler = _rich_abort(status)
    async with (
        _serve_status_handler(
            "GetExecutionStatus",
            handler,
            pb.GetExecutionStatusRequest,
            pb.GetExecutionStatusResponse,
        ) as target,
        AsyncExecutorClient(target) as client,
    ):
        with pytest.raises(UnavailableError) as caught:
            await client.get_execution_status("p1")
    assert caught.value.reason == "SHUTTING_DOWN"
    assert caught.value.retry_delay == datetime.timedelta(seconds=2)
    assert caught.value.field_violations == []


async def test_plain_status_without_details() -> None:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such execution")

    async with (
        _serve_status_handler(
            "GetExecutionStatus",
            handler,
            pb.GetExecutionStatusRequest,
            pb.GetExecutionStatusResponse,
        ) as target,
        AsyncExecutorClient(target) as client,
    ):
        with pytest.raises(NotFoundError) as caught:
            await client.get_execution_status("p1")
    assert caught.value.message == "no such execution"
    assert caught.value.reason is None
    assert caught.value.metadata == {}


async def test_client_timeout_and_per_call_override() -> None:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await asyncio.sleep(0.3)
        return pb.GetExecutionStatusResponse(plan_id=request.plan_id)

    async with (
        _serve_status_handler(
            "GetExecutionStatus",
            handler,
            pb.GetExecutionStatusRequest,
            pb.GetExecutionStatusResponse,
        ) as target,
        AsyncExecutorClient(target, timeout=0.05) as client,
    ):
        with pytest.raises(DeadlineExceededError):
            await client.get_execution_status("p1")
        response = await client.get_execution_status("p1", timeout=None)
        assert response.plan_id == "p1"


def test_bare_rpc_error_maps_to_base_class() -> None:
    error = from_rpc_error(grpc.RpcError("boom"))
    assert type(error) is ExecutorClientError
    assert error.code is grpc.StatusCode.UNKNOWN


# ---------------------------------------------------------------- watch


def _event(sequence: int) -> pb.ExecutionEvent:
    return pb.ExecutionEvent(sequence=sequence, plan_id="p1", status=pb.EXECUTION_STATUS_RUNNING)


class _FlakyWatch(executor_pb2_grpc.ExecutorServiceServicer):
    """Sends events 1-3 then fails UNAVAILABLE; later calls send what follows up to 5."""

    def __init__(self) -> None:
        self.after_sequences: list[int] = []

    async def WatchExecution(
        self, request: pb.WatchExecutionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchExecutionResponse]:
        self.after_sequences.append(request.after_sequence)
        if len(self.after_sequences) == 1:
            yield pb.WatchExecutionResponse(events=[_event(1), _event(2)])
            yield pb.WatchExecutionResponse(events=[_event(3)])
            await context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
        rest = [_event(n) for n in range(request.after_sequence + 1, 6)]
        yield pb.WatchExecutionResponse(events=rest)

    async def GetExecutionStatus(
        self, request: pb.GetExecutionStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetExecutionStatusResponse:
        return pb.GetExecutionStatusResponse(
            plan_id=request.plan_id, status=pb.EXECUTION_STATUS_COMPLETED, last_sequence=5
        )


async def test_async_watch_reconnects_after_last_seen_event() -> None:
    servicer = _FlakyWatch()
    async with _serve(servicer) as target, AsyncExecutorClient(target) as client:
        sequences = [event.sequence async for event in client.watch("p1")]
    assert sequences == [1, 2, 3, 4, 5]
    assert servicer.after_sequences == [0, 3]


async def test_sync_watch_reconnects_after_last_seen_event() -> None:
    def watch(target: str) -> list[int]:
        with ExecutorClient(target) as client:
            return [event.sequence for event in client.watch("p1")]

    servicer = _FlakyWatch()
    async with _serve(servicer) as target:
        sequences = await asyncio.to_thread(watch, target)
    assert sequences == [1, 2, 3, 4, 5]
    assert servicer.after_sequences == [0, 3]


async def test_watch_batches_and_wait() -> None:
    servicer = _FlakyWatch()
    async with _serve(servicer) as target, AsyncExecutorClient(target) as client:
        batches = [[e.sequence for e in batch] async for batch in client.watch_batches("p1", 1)]
        final = await client.wait("p1")
    assert batches == [[2], [3], [4, 5]]
    assert final.status == pb.EXECUTION_STATUS_COMPLETED
    assert servicer.after_sequences == [1, 3, 0]  # only the first stream breaks


async def test_watch_without_reconnect_raises_transient_error() -> None:
    servicer = _FlakyWatch()
    seen: list[int] = []
    async with _serve(servicer) as target, AsyncExecutorClient(target) as client:
        with pytest.raises(UnavailableError):
            async for event in client.watch("p1", reconnect=False):
                seen.append(event.sequence)
    assert seen == [1, 2, 3]


class _MissingWatch(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def WatchExecution(
        self, request: pb.WatchExecutionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        # grpc.aio also accepts a coroutine (not a generator) for a streaming method.
        self.calls += 1
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such execution")


async def test_watch_does_not_reconnect_on_not_found() -> None:
    servicer = _MissingWatch()
    async with _serve(servicer) as target, AsyncExecutorClient(target) as client:
        with pytest.raises(NotFoundError):
            async for _ in client.watch("p1"):
                pass
    assert servicer.calls == 1


class _EndlessWatch(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def WatchExecution(
        self, request: pb.WatchExecutionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchExecutionResponse]:
        yield pb.WatchExecutionResponse(events=[_event(1)])
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_closing_watch_early_cancels_the_stream() -> None:
    servicer = _EndlessWatch()
    async with _serve(servicer) as target, AsyncExecutorClient(target) as client:
        async with aclosing(client.watch("p1")) as events:
            async for event in events:
                assert event.sequence == 1
                break
        await asyncio.wait_for(servicer.cancelled.wait(), timeout=5)


def test_watch_cursor_skips_replayed_events_and_backs_off() -> None:
    cursor = WatchCursor("p1", 2, reconnect=True, max_reconnect_delay=0.3, timeout=None)
    fresh = cursor.accept(pb.WatchExecutionResponse(events=[_event(2), _event(3)]))
    assert [e.sequence for e in fresh] == [3]
    assert cursor.request() == pb.WatchExecutionRequest(plan_id="p1", after_sequence=3)
    unavailable = UnavailableError(grpc.StatusCode.UNAVAILABLE, "down")
    delays = [cursor.reconnect_delay(unavailable) for _ in range(4)]
    assert all(d is not None and 0 < d <= 0.3 for d in delays)
    hinted = UnavailableError(
        grpc.StatusCode.UNAVAILABLE, "down", retry_delay=datetime.timedelta(seconds=1)
    )
    assert cursor.reconnect_delay(hinted) == 1.0
    invalid = InvalidArgumentError(grpc.StatusCode.INVALID_ARGUMENT, "bad")
    assert cursor.reconnect_delay(invalid) is None
    bounded = WatchCursor("p1", 0, reconnect=True, max_reconnect_delay=5, timeout=0.01)
    assert bounded.reconnect_delay(hinted) is None  # would outlive the deadline
