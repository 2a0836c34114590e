"""Hostile and random requests against a real `executor serve`, as an outside probe sends.

Hypothesis sends raw bytes, byte-flipped valid messages and structurally valid messages
with random content to every RPC. Every answer must be one of the documented codes (never
UNKNOWN or INTERNAL), arrive in time, and decode; afterwards the server is still SERVING,
an ordinary plan still completes, and the log holds no error or traceback.

`FUZZ_EXAMPLES` sets the examples per test (default 60, so the suite stays fast); `make
fuzz` runs it with many more.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.proc import EXECUTOR, free_port

from executor_client import executor_pb2, plan, step

pb = executor_pb2

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not os.environ.get("FUZZ_RANDOM"),  # CI runs the same examples each time
)
CALL_SECONDS = 15.0

# Every code the README documents for a request that is refused (DEADLINE_EXCEEDED is the
# server's own "cancel still winding down").
DOCUMENTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
}

SERVICE = "/executor.v1.ExecutorService/"
REQUESTS: dict[str, tuple[type[Any], type[Any]]] = {
    "ExecutePlan": (pb.ExecutePlanRequest, pb.ExecutePlanResponse),
    "ExecuteStep": (pb.ExecuteStepRequest, pb.ExecuteStepResponse),
    "CancelExecution": (pb.CancelExecutionRequest, pb.CancelExecutionResponse),
    "PauseExecution": (pb.PauseExecutionRequest, pb.PauseExecutionResponse),
    "ResumeExecution": (pb.ResumeExecutionRequest, pb.ResumeExecutionResponse),
    "GetExecutionStatus": (pb.GetExecutionStatusRequest, pb.GetExecutionStatusResponse),
    "RollbackExecution": (pb.RollbackExecutionRequest, pb.RollbackExecutionResponse),
    "ListTools": (pb.ListToolsRequest, pb.ListToolsResponse),
    "ListExecutions": (pb.ListExecutionsRequest, pb.ListExecutionsResponse),
    "DeleteExecution": (pb.DeleteExecutionRequest, pb.DeleteExecutionResponse),
    "WatchExecution": (pb.WatchExecutionRequest, pb.WatchExecutionResponse),
    "ApproveStep": (pb.ApproveStepRequest, pb.ApproveStepResponse),
    "SignalExecution": (pb.SignalExecutionRequest, pb.SignalExecutionResponse),
    "ListApprovals": (pb.ListApprovalsRequest, pb.ListApprovalsResponse),
    "RetryExecution": (pb.RetryExecutionRequest, pb.RetryExecutionResponse),
}
# Tools that end at once whatever their arguments (no sleeps, no network).
TOOLS = ["echo", "fail", "file.read", "file.write", "file.list", "file.delete"]


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = tmp / "server.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *(str(EXECUTOR), "serve", "--address", self.address),
                    *("--data-dir", str(tmp), "--log-format", "json", "--drain-seconds", "0"),
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        self.channel = grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        self.plan_ids: list[str] = []

    def wait_serving(self) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            assert self.process.poll() is None, self.log.read_text()
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not start:\n" + self.log.read_text())

    def call(self, method: str, body: bytes) -> None:
        """Send `body`; assert the answer is OK and decodes, or a documented refusal."""
        response_type = REQUESTS[method][1]
        try:
            if method == "WatchExecution":
                stream = self.channel.unary_stream(SERVICE + method, None, None)(
                    body, timeout=CALL_SECONDS
                )
                for answer in stream:  # the first batch tells enough; stop there
                    response_type.FromString(answer)
                    stream.cancel()  # type: ignore[no-untyped-call]
                    break
            else:
                answer = self.channel.unary_unary(SERVICE + method, None, None)(
                    body, timeout=CALL_SECONDS
                )
                response_type.FromString(answer)
        except grpc.RpcError as error:
            code = error.code()
            if code is grpc.StatusCode.CANCELLED and method == "WatchExecution":
                return  # we cancelled it ourselves
            assert code in DOCUMENTED, f"{method} answered {code}: {error.details()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("fuzz"))
    try:
        srv.wait_serving()
        yield srv
    finally:
        srv.process.terminate()
        try:
            srv.process.wait(10)
        except subprocess.TimeoutExpired:
            srv.process.kill()
        srv.channel.close()


# ---------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.uuids().map(str), st.text(max_size=40), st.just(""), st.just("../../etc"), st.just("/tmp/x")
)
names = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), st.text(max_size=10))


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


@st.composite
def durations(draw: st.DrawFn) -> Any:
    from google.protobuf import duration_pb2

    return duration_pb2.Duration(
        seconds=draw(st.integers(-(2**40), 2**40) | st.integers(-5, 100)),
        nanos=draw(st.integers(-(10**9), 10**9)),
    )


@st.composite
def steps(draw: st.DrawFn, known: list[str]) -> pb.ActionStep:
    s = pb.ActionStep(id=draw(ids | st.uuids().map(str)), name=draw(names))
    arguments: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
    if draw(st.booleans()) and known:  # a reference to another step
        arguments["ref"] = f"${{steps.{draw(st.sampled_from(known))}.output}}"
    s.tool_execution.tool_name = draw(st.sampled_from([*TOOLS, "nope", ""]))
    s.tool_execution.arguments.CopyFrom(_struct(arguments))
    s.dependencies.extend(draw(st.lists(st.sampled_from(known) if known else names, max_size=2)))
    if draw(st.booleans()):
        s.timeout.CopyFrom(draw(durations()))
    if draw(st.booleans()):
        s.retry_policy.max_attempts = draw(st.integers(0, 2**32 - 1))
        s.retry_policy.backoff_multiplier = draw(st.floats(width=32))
        s.retry_policy.jitter = draw(st.floats(width=32))
        s.retry_policy.non_retryable_error_types.extend(
            draw(st.lists(st.integers(0, 50), max_size=2))  # type: ignore[arg-type]
        )
    if draw(st.booleans()):
        s.validation_rules.add(
            json_schema=_struct(
                draw(
                    st.dictionaries(
                        st.sampled_from(
                            ["type", "$ref", "minimum", "properties", "required", "$schema"]
                        ),
                        json_values,
                        max_size=3,
                    )
                )
            )
        )
    if draw(st.booleans()):
        s.compensation.tool_name = draw(st.sampled_from([*TOOLS, "nope"]))
    if draw(st.booleans()):
        s.when = draw(
            st.text(max_size=30)
            | st.sampled_from(
                [
                    "steps.a.output == 1",
                    "plan.metadata.x",
                    "[1,2,3].all(x, [1,2].exists(y, y == x))",
                    "'x' * 100000",
                    "(" * 500 + "true" + ")" * 500,
                ]
            )
            | (
                st.sampled_from(known).map(lambda k: f'steps["{k}"].status == "COMPLETED"')
                if known
                else st.just("true")
            )
        )
    s.dependency_rule = draw(st.integers(0, 5))  # type: ignore[assignment]
    if draw(st.booleans()):
        s.for_each.items = draw(
            st.text(max_size=20)
            | (
                st.sampled_from(known).map(lambda k: f"${{steps.{k}.output}}")
                if known
                else st.just("${item}")
            )
        )
        s.for_each.max_parallel = draw(st.integers(0, 2**32 - 1))
        arguments["item"] = "${item}"
        s.tool_execution.arguments.CopyFrom(_struct(arguments))
    wait = draw(st.sampled_from([None, None, "approval", "signal", "sleep"]))
    if wait == "approval":
        s.approval.prompt = draw(st.text(max_size=20) | st.just("${steps.x.output}"))
        s.approval.on_timeout = draw(st.integers(0, 5))  # type: ignore[assignment]
        s.approval.allow_edit = draw(st.booleans())
        if draw(st.booleans()):
            s.approval.timeout.CopyFrom(draw(durations()))
    elif wait == "signal":
        s.wait_for_signal.name = draw(names)
        if draw(st.booleans()):
            s.wait_for_signal.timeout.CopyFrom(draw(durations()))
        if draw(st.booleans()):
            s.wait_for_signal.payload_schema.CopyFrom(
                _struct(draw(st.dictionaries(st.sampled_from(["type", "$ref"]), json_values)))
            )
    elif wait == "sleep":
        if draw(st.booleans()):
            s.sleep.duration.CopyFrom(draw(durations()))
        if draw(st.booleans()):
            s.sleep.until.seconds = draw(st.integers(-(2**62), 2**62) | st.integers(0, 2**31))
            s.sleep.until.nanos = draw(st.integers(-(10**9), 10**9))
    return s


@st.composite
def plan_requests(draw: st.DrawFn) -> pb.ExecutePlanRequest:
    p = pb.ActionPlan(id=draw(st.uuids().map(str) | ids), name=draw(st.text(max_size=20)))
    known: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        s = draw(steps(known))
        p.steps.append(s)
        known.append(s.name or s.id)
    if draw(st.booleans()):
        p.metadata.CopyFrom(
            _struct(draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3)))
        )
    options = pb.ExecutionOptions(
        max_concurrent_steps=draw(st.integers(0, 2**32 - 1)),
        auto_rollback=draw(st.booleans()),
        continue_on_failure=draw(st.booleans()),
        rollback_on_cancel=draw(st.booleans()),
        progress_reporting=draw(st.booleans()),
    )
    if draw(st.booleans()):
        options.resource_limits.max_execution_time.CopyFrom(draw(durations()))
        options.resource_limits.max_tool_invocations = draw(st.integers(0, 5))
    return pb.ExecutePlanRequest(plan=p, options=options, detach=True)


def ordinary_request(method: str, plan_id: str) -> bytes:
    """A well-formed request of `method` about `plan_id`, to flip bytes in."""
    body: Any
    if method == "ExecutePlan":
        body = pb.ExecutePlanRequest(
            plan=plan(step("echo", {"x": [1, "two"]}), id=plan_id), detach=True
        )
    elif method == "ExecuteStep":
        body = pb.ExecuteStepRequest(step=step("echo", {"y": "${steps.a.output}"}))
        body.context.step_outputs["a"].string_value = "z"
    elif method in ("ListTools", "ListExecutions"):
        body = REQUESTS[method][0](page_size=2)
    elif method == "RollbackExecution":
        body = pb.RollbackExecutionRequest(plan_id=plan_id, detach=True)
    elif method == "ApproveStep":
        body = pb.ApproveStepRequest(
            plan_id=plan_id, step="gated", decision=pb.APPROVAL_DECISION_APPROVE, comment="ok"
        )
        body.arguments.update({"x": [1, "two"]})
    elif method == "SignalExecution":
        body = pb.SignalExecutionRequest(plan_id=plan_id, name="paid")
        body.payload.struct_value.update({"amount": 3})
    elif method == "ListApprovals":
        body = pb.ListApprovalsRequest(plan_id=plan_id, page_size=2)
    elif method == "RetryExecution":
        body = pb.RetryExecutionRequest(plan_id=plan_id, detach=True)
        body.resource_limits.max_tool_invocations = 3
    else:
        body = REQUESTS[method][0](plan_id=plan_id)
    return body.SerializeToString()  # type: ignore[no-any-return]


@st.composite
def flipped(draw: st.DrawFn, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]  # cut short
    return bytes(data)


# ---------------------------------------------------------------- tests

METHODS = st.sampled_from(sorted(REQUESTS))


def test_every_method_of_the_service_is_fuzzed() -> None:
    service = pb.DESCRIPTOR.services_by_name["ExecutorService"]
    assert sorted(REQUESTS) == sorted(m.name for m in service.methods)


@FUZZ
@given(method=METHODS, body=st.binary(max_size=512))
def test_raw_bytes(server: Server, method: str, body: bytes) -> None:
    server.call(method, body)


@FUZZ
@given(method=METHODS, data=st.data())
def test_flipped_bytes_of_ordinary_requests(
    server: Server, method: str, data: st.DataObject
) -> None:
    body = ordinary_request(method, str(uuid.uuid4()))
    server.call(method, data.draw(flipped(body)))


@FUZZ
@given(request=plan_requests())
def test_random_plans(server: Server, request: pb.ExecutePlanRequest) -> None:
    server.call("ExecutePlan", request.SerializeToString())
    server.plan_ids.append(request.plan.id)


@FUZZ
@given(
    data=st.data(),
    method=st.sampled_from(
        [
            "CancelExecution",
            "PauseExecution",
            "ResumeExecution",
            "GetExecutionStatus",
            "RollbackExecution",
            "DeleteExecution",
            "WatchExecution",
            "RetryExecution",
        ]
    ),
)
def test_random_control_of_the_executions_the_plans_made(
    server: Server, data: st.DataObject, method: str
) -> None:
    plan_id = (
        data.draw(st.sampled_from(server.plan_ids) | ids) if server.plan_ids else data.draw(ids)
    )
    request = REQUESTS[method][0](plan_id=plan_id)
    if method == "WatchExecution":
        request.after_sequence = data.draw(st.integers(0, 2**64 - 1))
    if method in ("RollbackExecution", "RetryExecution"):
        request.detach = True
    if method == "RetryExecution" and data.draw(st.booleans()):
        request.resource_limits.max_tool_invocations = data.draw(st.integers(0, 2**64 - 1))
    server.call(method, request.SerializeToString())


@FUZZ
@given(
    data=st.data(),
    step_name=names | ids,
    decision=st.integers(-1, 4),
    comment=st.text(max_size=30) | st.just("x" * 5000),
    arguments=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    payload=json_values,
)
def test_random_decisions_and_signals(
    server: Server,
    data: st.DataObject,
    step_name: str,
    decision: int,
    comment: str,
    arguments: dict[str, Any] | None,
    payload: Any,
) -> None:
    plan_id = (
        data.draw(st.sampled_from(server.plan_ids) | ids) if server.plan_ids else data.draw(ids)
    )
    approve = pb.ApproveStepRequest(
        plan_id=plan_id,
        step=step_name,
        decision=decision,  # type: ignore[arg-type]
        comment=comment,
    )
    if arguments is not None:
        approve.arguments.update(arguments)
    server.call("ApproveStep", approve.SerializeToString())
    signal = pb.SignalExecutionRequest(plan_id=plan_id, name=step_name)
    signal.payload.CopyFrom(json_format.ParseDict(payload, struct_pb2.Value()))
    server.call("SignalExecution", signal.SerializeToString())


@FUZZ
@given(
    page_size=st.integers(-(2**31), 2**31 - 1),
    token=st.text(max_size=40) | st.binary(max_size=30).map(lambda b: b.hex()),
    statuses=st.lists(st.integers(-5, 20), max_size=3),
    name=st.text(max_size=30),
)
def test_random_listings(
    server: Server, page_size: int, token: str, statuses: list[int], name: str
) -> None:
    listing = pb.ListExecutionsRequest(page_size=page_size, page_token=token, plan_name=name)
    listing.statuses.extend(statuses)  # type: ignore[arg-type]
    server.call("ListExecutions", listing.SerializeToString())
    tools = pb.ListToolsRequest(page_size=page_size, page_token=token)
    server.call("ListTools", tools.SerializeToString())
    inbox = pb.ListApprovalsRequest(page_size=page_size, page_token=token, plan_id=name)
    server.call("ListApprovals", inbox.SerializeToString())


def test_zz_the_server_survived(server: Server) -> None:
    """Runs last in this module: still SERVING, still running plans, and a clean log."""
    server.wait_serving()
    p = plan(step("echo", {"after": "the fuzz"}), name="ordinary")
    answer = server.channel.unary_unary(SERVICE + "ExecutePlan", None, None)(
        pb.ExecutePlanRequest(plan=p).SerializeToString(), timeout=CALL_SECONDS
    )
    result = pb.ExecutePlanResponse.FromString(answer).result
    assert result.status == pb.EXECUTION_STATUS_COMPLETED
    log = server.log.read_text()
    assert "Traceback" not in log
    assert '"level": "error"' not in log and '"levelname": "ERROR"' not in log
