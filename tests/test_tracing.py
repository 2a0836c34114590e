"""OpenTelemetry traces through a real server: the span structure (captured with the SDK's
in-memory exporter), the trace context reaching the tools' own calls, and one export over
real OTLP/gRPC from `executor serve` to a receiver in the test."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from blockbuster import BlockBuster
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.support.proc import ServerProcess, free_port
from tests.support.tools import Gate, make_registry

from executor_client import AsyncExecutorClient, executor_pb2, output, plan, status_name, step
from executor_client.plans import compensation, retry_policy
from executor_server.app import Config, build_server
from executor_server.observability.telemetry import Telemetry
from executor_server.rpc.server import ExecutorServer
from executor_server.tools.command import CommandRun
from executor_server.tools.http import HttpRequest
from executor_server.tools.registry import ToolRegistry
from executor_server.tools.settings import CommandSettings, HttpSettings, NetworkPolicy

pb = executor_pb2

# The caller's span, as an instrumented client would send it.
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tools(gate: Gate) -> ToolRegistry:
    return make_registry(
        gate,
        HttpRequest(HttpSettings(policy=NetworkPolicy(allow=("127.0.0.1",)))),
        CommandRun(CommandSettings(enabled=True)),
    )


@pytest.fixture
async def server(
    tmp_path: Path, tools: ToolRegistry, exporter: InMemorySpanExporter, no_blocking: BlockBuster
) -> AsyncIterator[ExecutorServer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = Config(address="127.0.0.1:0", data_dir=tmp_path)
    srv = await build_server(config, tools=tools, telemetry=Telemetry(tracer_provider=provider))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)


@pytest.fixture
async def client(port: int) -> AsyncIterator[AsyncExecutorClient]:
    async with AsyncExecutorClient(
        f"127.0.0.1:{port}", timeout=20.0, metadata=[("traceparent", TRACEPARENT)]
    ) as c:
        yield c


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def parent_of(span: ReadableSpan) -> str:
    assert span.parent is not None
    return format(span.parent.span_id, "016x")


async def test_an_execution_span_holds_one_span_per_attempt_and_compensation(
    client: AsyncExecutorClient, exporter: InMemorySpanExporter
) -> None:
    flaky = step(
        "fail",
        {"succeed_on_attempt": 2},
        name="flaky",
        retry=retry_policy(2, initial_backoff=0.01),
        compensation=compensation("echo", {"undo": "flaky"}),
    )
    boom = step("fail", {"retryable": False}, name="boom", depends_on=[flaky])
    p = plan(flaky, boom, name="checkout")
    result = await client.execute_plan(p, pb.ExecutionOptions(auto_rollback=True))
    assert status_name(result.status) == "ROLLED_BACK"

    spans = exporter.get_finished_spans()
    (execution,) = [s for s in spans if s.name == "execute_plan checkout"]
    # Parented to the caller's span, in the caller's trace.
    assert hex_trace(execution) == TRACE_ID and parent_of(execution) == CALLER_SPAN
    assert execution.attributes is not None
    assert execution.attributes["executor.plan.id"] == p.id
    assert execution.attributes["executor.status"] == "ROLLED_BACK"
    assert execution.status.status_code is StatusCode.ERROR  # it failed before rolling back
    assert [e.name for e in execution.events] == [
        "pending",
        "running",
        "failed",
        "rolling_back",
        "rolled_back",
    ]

    attempts = [s for s in spans if s is not execution]
    described = [
        (
            s.name,
            dict(s.attributes or {}).get("executor.step.name"),
            dict(s.attributes or {}).get("executor.attempt"),
            dict(s.attributes or {}).get("executor.compensation"),
            dict(s.attributes or {}).get("executor.status"),
            s.status.status_code,
        )
        for s in sorted(attempts, key=lambda s: s.start_time or 0)
    ]
    assert described == [
        ("execute_tool fail", "flaky", 1, False, "FAILED", StatusCode.ERROR),
        ("execute_tool fail", "flaky", 2, False, "COMPLETED", StatusCode.UNSET),
        ("execute_tool fail", "boom", 1, False, "FAILED", StatusCode.ERROR),
        ("execute_tool echo", "flaky", 1, True, "COMPENSATED", StatusCode.UNSET),
    ]
    for span in attempts:
        attributes = dict(span.attributes or {})
        assert span.kind is SpanKind.INTERNAL
        assert hex_trace(span) == TRACE_ID and parent_of(span) == hex_span(execution)
        assert attributes["gen_ai.operation.name"] == "execute_tool"
        assert attributes["gen_ai.tool.name"] == span.name.removeprefix("execute_tool ")
        step_id = flaky.id if attributes["executor.step.name"] == "flaky" else boom.id
        assert attributes["gen_ai.tool.call.id"] == step_id
        assert attributes["executor.plan.id"] == p.id
        assert span.end_time is not None and execution.end_time is not None
        assert span.end_time <= execution.end_time
    retried = min(attempts, key=lambda s: s.start_time or 0)
    assert dict(retried.attributes or {})["error.type"] == "tool_failed"
    assert dict(retried.attributes or {})["executor.retry_delay"] == pytest.approx(0.01)


async def test_each_element_of_a_fan_out_has_its_own_span(
    client: AsyncExecutorClient, exporter: InMemorySpanExporter, gate: Gate
) -> None:
    """Elements share their step's id and attempt numbers; their spans must not collide,
    going forward nor rolling back."""
    keys = step("echo", {"keys": ["a", "b", "c"]}, name="keys")
    each = step(
        "gate",
        {"key": "${item}"},
        name="each",
        depends_on=[keys],
        for_each="${steps.keys.output.keys}",
        compensation=compensation("echo", {"undo": "${item}"}),
    )
    boom = step("fail", {"retryable": False}, name="boom", depends_on=[each])
    p = plan(keys, each, boom, name="fan")
    await client.execute_plan(p, pb.ExecutionOptions(auto_rollback=True), detach=True)
    for key in ("a", "b", "c"):
        await gate.started(key)
    for key in ("c", "a", "b"):  # out of order: each span ends with its own element
        gate.open(key)
    assert status_name((await client.wait(p.id)).status) == "ROLLED_BACK"

    def described(tool: str) -> list[tuple[Any, ...]]:
        return sorted(
            (
                tuple(
                    dict(s.attributes or {}).get(a)
                    for a in ("executor.item_index", "gen_ai.tool.call.id", "executor.status")
                )
                for s in exporter.get_finished_spans()
                if s.name == f"execute_tool {tool}"
            ),
            key=repr,
        )

    assert described("gate") == [(i, f"{each.id}[{i}]", "COMPLETED") for i in range(3)]
    assert described("echo") == sorted(
        [(None, keys.id, "COMPLETED"), *((i, f"{each.id}[{i}]", "COMPENSATED") for i in range(3))],
        key=repr,
    )


async def test_attempt_spans_are_exported_while_the_execution_runs(
    client: AsyncExecutorClient, exporter: InMemorySpanExporter, gate: Gate
) -> None:
    first = step("echo", name="first")
    p = plan(first, step("gate", {"key": "hold"}, depends_on=[first]), name="long")
    await client.execute_plan(p, detach=True)
    await gate.started("hold")
    finished = [s.name for s in exporter.get_finished_spans()]
    assert finished == ["execute_tool echo"]  # the execution's own span is still open
    gate.open("hold")
    await client.wait(p.id)
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["execute_plan long", "execute_tool echo", "execute_tool gate"]


async def test_without_a_caller_context_the_execution_span_is_a_root(
    port: int, exporter: InMemorySpanExporter
) -> None:
    async with AsyncExecutorClient(f"127.0.0.1:{port}", timeout=20.0) as plain:
        await plain.execute_plan(plan(step("echo"), name="alone"))
    (execution,) = [s for s in exporter.get_finished_spans() if s.name == "execute_plan alone"]
    assert execution.parent is None


class Headers:
    """An HTTP server on loopback that records each request's headers."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.rstrip("\r\n").split("\r\n")[1:]
        self.seen.append({k.lower(): v for k, v in (line.split(": ", 1) for line in lines)})
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


async def test_tools_pass_the_attempts_trace_context_on(
    client: AsyncExecutorClient, exporter: InMemorySpanExporter
) -> None:
    headers = Headers()
    http = await asyncio.start_server(headers.handle, "127.0.0.1", 0)
    port = http.sockets[0].getsockname()[1]
    try:
        call = step("http.request", {"url": f"http://127.0.0.1:{port}/"}, name="call")
        env = step(
            "command.run",
            {"argv": [sys.executable, "-c", "import os; print(os.environ['TRACEPARENT'])"]},
            name="env",
        )
        result = await client.execute_plan(plan(call, env, name="tools"))
    finally:
        http.close()
        await http.wait_closed()
    assert status_name(result.status) == "COMPLETED", result.error.message

    spans = {
        dict(s.attributes or {}).get("executor.step.name"): s for s in exporter.get_finished_spans()
    }
    (seen,) = headers.seen
    assert seen["traceparent"] == f"00-{TRACE_ID}-{hex_span(spans['call'])}-01"
    printed = output(result.step_results[1].output)["stdout"].strip()
    assert printed == f"00-{TRACE_ID}-{hex_span(spans['env'])}-01"


# ------------------------------------------------------------------ over OTLP


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver: what a collector would get."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) of every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope.spans]
        return found


async def test_executor_serve_exports_spans_over_otlp(tmp_path: Path) -> None:
    receiver = Receiver()
    collector = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, collector)  # type: ignore[no-untyped-call]
    collector_port = collector.add_insecure_port("127.0.0.1:0")
    await collector.start()
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "server.log",
        extra=("--in-memory", f"--otlp-endpoint=http://127.0.0.1:{collector_port}"),
    )
    try:
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(
            server.address, timeout=20.0, metadata=[("traceparent", TRACEPARENT)]
        ) as client:
            p = plan(step("echo", name="hello"), name="exported")
            result = await client.execute_plan(p)
        assert status_name(result.status) == "COMPLETED"
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)  # a clean stop exports what is buffered
        assert await server.wait_exit(30) == 0
    finally:
        await server.kill()
        await collector.stop(0)

    spans = {span.name: (resource, span) for resource, span in receiver.spans()}
    assert set(spans) == {"execute_plan exported", "execute_tool echo"}
    resource, execution = spans["execute_plan exported"]
    assert resource["service.name"] == "executor"
    assert execution.trace_id.hex() == TRACE_ID
    assert execution.parent_span_id.hex() == CALLER_SPAN
    _, attempt = spans["execute_tool echo"]
    assert attempt.parent_span_id == execution.span_id
    # The log lines of that execution name its trace.
    lines = [r for r in server.log_records() if r.get("plan_id") == p.id]
    assert lines and all(r["trace_id"] == TRACE_ID for r in lines), json.dumps(lines)
