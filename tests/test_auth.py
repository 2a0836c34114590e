"""Who may call: tokens with roles, the caller's name in events; health and reflection open."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tests.support.tools import make_registry

from executor_client import (
    AsyncExecutorClient,
    PermissionDeniedError,
    UnauthenticatedError,
    executor_pb2,
    plan,
    status_name,
    step,
)
from executor_server.domain.access import Role, parse_tokens
from executor_server.engine.executor import Executor
from executor_server.rpc.server import ExecutorServer
from executor_server.store.memory import MemoryStore

pb = executor_pb2

TOKEN = "correct-horse-battery-staple"
TOKEN_FILE = f"""
# role per token; a bare token is an operator
{TOKEN}
v-token viewer Vera Viewer
a-token approver amy
o-token operator olga
"""

METHODS = (
    "ExecutePlan",
    "ExecuteStep",
    "CancelExecution",
    "PauseExecution",
    "ResumeExecution",
    "GetExecutionStatus",
    "RollbackExecution",
    "WatchExecution",
    "ListTools",
    "ListExecutions",
    "DeleteExecution",
    "ApproveStep",
    "SignalExecution",
    "ListApprovals",
)
READS = {"GetExecutionStatus", "WatchExecution", "ListExecutions", "ListTools", "ListApprovals"}
DECISIONS = {"ApproveStep", "SignalExecution"}  # the approver's own
UNKNOWN_PLAN = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[str]:
    executor = Executor(make_registry(), MemoryStore(), workspace_root=tmp_path)
    tokens = parse_tokens(TOKEN_FILE.splitlines(), "tokens")
    server = ExecutorServer(executor, MemoryStore(), address="127.0.0.1:0", tokens=tokens)
    port = await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace_seconds=1)


def test_the_token_file_gives_roles_and_names_and_refuses_what_it_cannot_read() -> None:
    table = parse_tokens(TOKEN_FILE.splitlines(), "tokens")
    assert len(table) == 4
    bare = table.lookup(TOKEN)
    assert bare is not None and bare.role is Role.OPERATOR
    assert bare.name.startswith("token:") and TOKEN not in bare.name
    viewer = table.lookup("v-token")
    assert viewer is not None and (viewer.name, viewer.role) == ("Vera Viewer", Role.VIEWER)
    assert table.lookup("nope") is None
    for text, problem in [
        ("t1 admin", "line 1: unknown role 'admin'"),
        ("t1\nt1 viewer", "line 2: this token is already listed"),
        ("t1 viewer " + "n" * 200, "line 1: a name is at most 128"),
    ]:
        with pytest.raises(ValueError, match=problem) as caught:
            parse_tokens(text.splitlines(), "tokens.txt")
        assert "t1" not in str(caught.value).replace("tokens.txt", "")


async def _call(channel: grpc.aio.Channel, method: str, token: str | None) -> grpc.StatusCode:
    """Calls `method` with a minimal request; the status code it ends with."""
    request: Any = getattr(pb, f"{method}Request")()
    if hasattr(request, "plan_id"):
        request.plan_id = UNKNOWN_PLAN
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    path = f"/executor.v1.ExecutorService/{method}"
    encode = type(request).SerializeToString
    try:
        if method == "WatchExecution":
            stream = channel.unary_stream(path, encode, None)
            async for _ in stream(request, metadata=metadata, timeout=10):
                pass
        else:
            await channel.unary_unary(path, encode, None)(request, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_every_rpc_against_every_role(secured: str) -> None:
    async with grpc.aio.insecure_channel(secured) as channel:
        for method in METHODS:
            for token, role in [("v-token", "viewer"), ("a-token", "approver"), ("o-token", "")]:
                code = await _call(channel, method, token)
                allowed = READS | (DECISIONS if role == "approver" else set())
                denied = role and method not in allowed
                assert (code == grpc.StatusCode.PERMISSION_DENIED) == bool(denied), (
                    method,
                    role,
                    code,
                )
                assert code != grpc.StatusCode.UNAUTHENTICATED
            for missing in (None, "wrong"):
                assert await _call(channel, method, missing) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_call_above_the_role_names_the_role_it_needs(secured: str) -> None:
    async with AsyncExecutorClient(secured, token="v-token") as viewer:
        assert {t.name for t in await viewer.list_tools()} >= {"echo"}
        with pytest.raises(PermissionDeniedError) as caught:
            await viewer.cancel_execution(UNKNOWN_PLAN)
    error = caught.value
    assert error.reason == "PERMISSION_DENIED"
    assert error.required_role == "operator"
    assert error.metadata["role"] == "viewer"
    assert error.metadata["method"] == "CancelExecution"
    assert "CancelExecution needs the operator role" in error.message


async def test_events_name_the_caller_who_asked(secured: str, tmp_path: Path) -> None:
    async with (
        AsyncExecutorClient(secured, token="o-token") as olga,
        AsyncExecutorClient(secured, token=TOKEN) as anonymous_operator,
        AsyncExecutorClient(secured, token="v-token") as vera,
    ):
        p = plan(step("sleep", {"seconds": 30}, name="nap"))
        await olga.execute_plan(p, detach=True)
        await anonymous_operator.pause_execution(p.id)
        await olga.resume_execution(p.id)
        await olga.cancel_execution(p.id)
        events = [e async for e in vera.watch(p.id)]
    by_message = {e.message: e.actor for e in events if e.actor}
    named = f"token:{hashlib.sha256(TOKEN.encode()).hexdigest()[:8]}"
    assert by_message == {
        "accepted": "olga",
        f"paused by {named}": named,
        "resumed by olga": "olga",
        "cancelled by olga": "olga",
    }
    started = next(e for e in events if e.message == "started")
    assert started.actor == ""  # the engine's own transition


async def test_an_approver_decides_and_signals_and_is_named(secured: str) -> None:
    from executor_client import approval, wait_for_signal

    async with (
        AsyncExecutorClient(secured, token="o-token") as olga,
        AsyncExecutorClient(secured, token="a-token") as amy,
    ):
        gated = step("echo", {}, name="gated", approval=approval())
        p = plan(gated, wait_for_signal("go", name="go"))
        await olga.execute_plan(p, detach=True)
        async for event in amy.watch(p.id):
            if event.step_id == gated.id and event.step_status == pb.STEP_STATUS_WAITING:
                break
        assert [a.step_name for a in await amy.list_approvals()] == ["gated"]
        decided = await amy.approve_step(p.id, "gated", comment="fine")
        await amy.signal_execution(p.id, "go", {"n": 1})
        with pytest.raises(PermissionDeniedError):
            await amy.cancel_execution(p.id)
        final = await amy.wait(p.id, timeout=10)
        events = [e async for e in amy.watch(p.id)]
    assert decided.approval.actor == "amy"
    assert status_name(final.status) == "COMPLETED"
    assert {(e.type, e.actor) for e in events if e.actor == "amy"} == {
        (pb.EXECUTION_EVENT_TYPE_APPROVAL_DECIDED, "amy"),
        (pb.EXECUTION_EVENT_TYPE_SIGNAL_RECEIVED, "amy"),
    }


async def test_calls_without_a_valid_token_are_refused(secured: str) -> None:
    for metadata in [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)]:
        async with AsyncExecutorClient(secured, metadata=metadata) as client:
            with pytest.raises(UnauthenticatedError) as caught:
                await client.list_tools()
            assert caught.value.reason == "UNAUTHENTICATED"
            assert TOKEN not in str(caught.value)
            with pytest.raises(UnauthenticatedError):  # a stream is refused the same way
                async for _ in client.watch(UNKNOWN_PLAN):
                    pass


async def test_a_valid_token_opens_the_service(secured: str) -> None:
    async with AsyncExecutorClient(secured, token=TOKEN) as client:
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


async def test_refused_bodies_are_never_decoded(secured: str) -> None:
    # Garbage, and a body nested past the decoder's limit: neither is parsed, both are
    # refused for what they lack (a token, or a role that may submit).
    deep = pb.ExecutePlanRequest(plan=plan(step("echo", {})))
    level = deep.plan.steps[0].tool_execution.arguments
    for _ in range(200):
        level = level.fields["a"].struct_value
    async with grpc.aio.insecure_channel(secured) as channel:
        for metadata, code in [
            ((), grpc.StatusCode.UNAUTHENTICATED),
            ((("authorization", "Bearer v-token"),), grpc.StatusCode.PERMISSION_DENIED),
        ]:
            for body in (b"\x0a\xff\xff\xff\x0f", deep.SerializeToString()):
                call = channel.unary_unary("/executor.v1.ExecutorService/ExecutePlan", None, None)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(body, metadata=metadata, timeout=10)
                assert refused.value.code() == code


def test_a_refusing_handler_has_no_decoder() -> None:
    # Over the wire the safe decoder behind authentication would hide a parse: this checks
    # that the refusal itself never hands the body to a deserializer.
    from google.rpc import code_pb2, status_pb2
    from grpc_status import rpc_status

    from executor_server.rpc.handlers import rejecting

    status = rpc_status.to_status(status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message="no"))
    for make in (grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler):
        original = make(lambda r, c: None, request_deserializer=pb.ExecutePlanRequest.FromString)
        refusing = rejecting(original, status)
        assert refusing.request_deserializer is None
        assert refusing.response_streaming == original.response_streaming
