"""Prometheus metrics through a real server: scrape /metrics over HTTP before and after
known plans, parse with the Prometheus text parser, and check that every count moved by
exactly what the plans did."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from blockbuster import BlockBuster
from google.protobuf import duration_pb2
from prometheus_client.parser import text_string_to_metric_families
from tests.support.tools import Gate, make_registry

from executor_client import (
    AsyncExecutorClient,
    InvalidArgumentError,
    UnauthenticatedError,
    executor_pb2,
    plan,
    retry_policy,
    status_name,
    step,
)
from executor_client.plans import compensation
from executor_server.app import Config, build_server
from executor_server.domain.access import parse_tokens
from executor_server.rpc.server import ExecutorServer
from executor_server.tools.registry import ToolRegistry

pb = executor_pb2
Sample = tuple[str, frozenset[tuple[str, str]]]


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


class Scrape(dict[Sample, float]):
    """One scrape of /metrics: sample value by (name, labels); absent samples read as 0."""

    def __missing__(self, key: Sample) -> float:
        return 0.0

    def get_(self, name: str, **values: str) -> float:
        return self[(name, labels(**values))]


async def scrape(port: int) -> Scrape:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    samples = Scrape()
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def delta(before: Scrape, after: Scrape) -> dict[Sample, float]:
    """What moved (histogram buckets left out: their counts are checked through _count)."""
    keys = set(before) | set(after)
    return {
        k: after[k] - before[k]
        for k in keys
        if after[k] != before[k]
        and k[0].startswith(("executor_", "grpc_server_"))
        and not k[0].endswith("_bucket")
        and not k[0].endswith("_sum")
    }


def allow_metric_locks(no_blocking: BlockBuster) -> None:
    """prometheus_client guards each value with a lock that a scrape holds for a moment."""
    for name in ("threading.Lock.acquire", "threading.Lock.acquire_lock"):
        no_blocking.functions[name].can_block_in("prometheus_client/values.py", {"inc", "set"})


@pytest.fixture
def tools(gate: Gate) -> ToolRegistry:
    return make_registry(gate)


@pytest.fixture
async def server(
    tmp_path: Path, tools: ToolRegistry, no_blocking: BlockBuster
) -> AsyncIterator[ExecutorServer]:
    allow_metric_locks(no_blocking)
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, metrics_address="127.0.0.1:0")
    srv = await build_server(config, tools=tools)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)


@pytest.fixture
def metrics_port(server: ExecutorServer) -> int:
    assert server.telemetry is not None and server.telemetry.metrics_port is not None
    return server.telemetry.metrics_port


def fast_retry(attempts: int) -> pb.RetryPolicy:
    return retry_policy(attempts, initial_backoff=0.01)


async def test_counts_move_exactly_by_what_known_plans_did(
    client: AsyncExecutorClient, metrics_port: int
) -> None:
    before = await scrape(metrics_port)

    # Two echo steps, one after the other.
    first = step("echo", {"n": 1}, name="first")
    done = await client.execute_plan(plan(first, step("echo", depends_on=[first]), name="ok"))
    # Fails twice, then succeeds on its third attempt.
    flaky = step("fail", {"succeed_on_attempt": 3}, retry=fast_retry(3))
    retried = await client.execute_plan(plan(flaky, name="flaky"))
    # Fails for good; its dependent is skipped.
    broken = step("fail", {"retryable": False})
    failed = await client.execute_plan(plan(broken, step("echo", depends_on=[broken])))
    # A budget of one tool call for two steps in a chain.
    a = step("echo", name="a")
    over_budget = await client.execute_plan(
        plan(a, step("echo", name="b", depends_on=[a])),
        pb.ExecutionOptions(resource_limits=pb.ResourceLimits(max_tool_invocations=1)),
    )
    # A completed step undone by a declared compensation when the next step fails.
    kept = step("echo", name="kept", compensation=compensation("echo", {"undo": True}))
    rolled = await client.execute_plan(
        plan(kept, step("fail", {"retryable": False}, depends_on=[kept])),
        pb.ExecutionOptions(auto_rollback=True),
    )
    # One step on its own, and one request refused.
    await client.execute_step(step("echo"))
    with pytest.raises(InvalidArgumentError):
        await client.execute_plan(plan(step("no-such-tool")))

    statuses = [status_name(r.status) for r in (done, retried, failed, over_budget, rolled)]
    assert statuses == ["COMPLETED", "COMPLETED", "FAILED", "FAILED", "ROLLED_BACK"]
    after = await scrape(metrics_port)
    moved = delta(before, after)
    commits = moved.pop(("executor_journal_commit_seconds_count", labels()))
    assert commits >= 5  # at least one commit per execution; bursts share one
    method = {"grpc_type": "unary", "grpc_service": "executor.v1.ExecutorService"}
    assert moved == {
        ("executor_executions_total", labels(status="completed")): 2,
        ("executor_executions_total", labels(status="failed")): 3,
        ("executor_executions_total", labels(status="rolled_back")): 1,
        # echo: 2 (ok) + 1 (skipped) + 2 (budget: one completed, one refused) + 1 (kept)
        # + 1 (ExecuteStep); fail: flaky, broken, and the one that started the rollback.
        ("executor_steps_total", labels(tool="echo", status="completed")): 5,
        ("executor_steps_total", labels(tool="echo", status="skipped")): 1,
        ("executor_steps_total", labels(tool="echo", status="failed")): 1,
        ("executor_steps_total", labels(tool="fail", status="completed")): 1,
        ("executor_steps_total", labels(tool="fail", status="failed")): 2,
        # The refused call never reached the tool: no attempt.
        ("executor_step_attempts_total", labels(tool="echo", outcome="completed")): 5,
        ("executor_step_attempts_total", labels(tool="fail", outcome="completed")): 1,
        ("executor_step_attempts_total", labels(tool="fail", outcome="tool_failed")): 4,
        ("executor_step_duration_seconds_count", labels(tool="echo")): 5,
        ("executor_step_duration_seconds_count", labels(tool="fail")): 3,
        ("executor_step_schedule_to_start_seconds_count", labels()): 10,
        ("executor_compensations_total", labels(tool="echo", status="compensated")): 1,
        ("executor_budget_exhausted_total", labels(limit="max_tool_invocations")): 1,
        ("grpc_server_started_total", labels(**method, grpc_method="ExecutePlan")): 6,
        ("grpc_server_started_total", labels(**method, grpc_method="ExecuteStep")): 1,
        (
            "grpc_server_handled_total",
            labels(**method, grpc_method="ExecutePlan", grpc_code="OK"),
        ): 5,
        (
            "grpc_server_handled_total",
            labels(**method, grpc_method="ExecutePlan", grpc_code="INVALID_ARGUMENT"),
        ): 1,
        (
            "grpc_server_handled_total",
            labels(**method, grpc_method="ExecuteStep", grpc_code="OK"),
        ): 1,
        ("grpc_server_handling_seconds_count", labels(**method, grpc_method="ExecutePlan")): 6,
        ("grpc_server_handling_seconds_count", labels(**method, grpc_method="ExecuteStep")): 1,
        ("grpc_server_msg_sent_total", labels(**method, grpc_method="ExecutePlan")): 5,
        ("grpc_server_msg_sent_total", labels(**method, grpc_method="ExecuteStep")): 1,
    }
    for status in ("pending", "running", "paused", "rolling_back"):
        assert after.get_("executor_executions_active", status=status) == 0


async def test_a_fan_out_counts_one_step_and_a_tool_call_per_element(
    client: AsyncExecutorClient, metrics_port: int
) -> None:
    source = step("echo", {"tries": [1, 2, 1]}, name="source")
    each = step(
        "fail",
        {"succeed_on_attempt": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.tries}",
        retry=fast_retry(2),
    )
    before = await scrape(metrics_port)
    result = await client.execute_plan(plan(source, each, name="fan"))
    assert status_name(result.status) == "COMPLETED"
    moved = delta(before, await scrape(metrics_port))
    steps = {k[1]: v for k, v in moved.items() if k[0] == "executor_steps_total"}
    attempts = {k[1]: v for k, v in moved.items() if k[0] == "executor_step_attempts_total"}
    durations = {
        k[1]: v for k, v in moved.items() if k[0] == "executor_step_duration_seconds_count"
    }
    assert steps == {
        labels(tool="echo", status="completed"): 1,
        labels(tool="fail", status="completed"): 1,
    }
    # Four calls of `fail`: three elements, one of them twice.
    assert attempts == {
        labels(tool="echo", outcome="completed"): 1,
        labels(tool="fail", outcome="completed"): 3,
        labels(tool="fail", outcome="tool_failed"): 1,
    }
    assert durations == {labels(tool="echo"): 1, labels(tool="fail"): 1}
    # Each call waited to be scheduled: one for `source`, four for the elements.
    assert moved[("executor_step_schedule_to_start_seconds_count", labels())] == 5


async def test_gauges_follow_running_executions_and_open_watches(
    client: AsyncExecutorClient, metrics_port: int, gate: Gate
) -> None:
    held = plan(step("gate", {"key": "g"}))
    await client.execute_plan(held, detach=True)
    await gate.started("g")
    watch = client.watch(held.id)
    first = await anext(watch)  # the stream is open once its first events arrive
    assert first.sequence == 1

    during = await scrape(metrics_port)
    assert during.get_("executor_executions_active", status="running") == 1
    assert during.get_("executor_watchers") == 1

    await client.pause_execution(held.id)
    paused = await scrape(metrics_port)
    assert paused.get_("executor_executions_active", status="running") == 0
    assert paused.get_("executor_executions_active", status="paused") == 1

    await client.resume_execution(held.id)
    gate.open("g")
    async for _ in watch:  # to the end of the execution, when the stream closes
        pass
    after = await scrape(metrics_port)
    assert after.get_("executor_executions_active", status="running") == 0
    assert after.get_("executor_watchers") == 0
    stream = {
        "grpc_type": "server_stream",
        "grpc_service": "executor.v1.ExecutorService",
        "grpc_method": "WatchExecution",
    }
    assert after.get_("grpc_server_handled_total", **stream, grpc_code="OK") == 1
    assert after.get_("grpc_server_msg_sent_total", **stream) >= 1


async def test_metrics_endpoint_is_off_unless_asked_for(
    tmp_path: Path, tools: ToolRegistry
) -> None:
    srv = await build_server(Config(address="127.0.0.1:0", data_dir=tmp_path), tools=tools)
    await srv.start()
    try:
        assert srv.telemetry is not None
        assert srv.telemetry.metrics is None and srv.telemetry.metrics_port is None
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--metrics-address", "9090", "is not HOST:PORT"),
        ("--metrics-address", "localhost:http", "is not HOST:PORT"),
        ("--otlp-endpoint", "collector:4317", "is not a URL"),
    ],
)
async def test_bad_observability_flags_are_usage_errors(
    flag: str, value: str, message: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "executor_server.cli",
        "serve",
        "--in-memory",
        f"{flag}={value}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert message in stderr.decode()


async def test_the_execution_deadline_counts_as_an_exhausted_budget(
    client: AsyncExecutorClient, metrics_port: int
) -> None:
    before = await scrape(metrics_port)
    late = await client.execute_plan(
        plan(step("sleep", {"seconds": 30})),
        pb.ExecutionOptions(
            resource_limits=pb.ResourceLimits(
                max_execution_time=duration_pb2.Duration(nanos=50_000_000)
            )
        ),
    )
    assert status_name(late.status) == "FAILED"
    moved = delta(before, await scrape(metrics_port))
    assert moved[("executor_budget_exhausted_total", labels(limit="max_execution_time"))] == 1
    assert moved[("executor_steps_total", labels(tool="sleep", status="cancelled"))] == 1
    assert moved[("executor_step_attempts_total", labels(tool="sleep", outcome="timeout"))] == 1


async def test_refused_calls_are_counted_with_their_code(
    tmp_path: Path, tools: ToolRegistry, no_blocking: BlockBuster
) -> None:
    allow_metric_locks(no_blocking)
    config = Config(
        address="127.0.0.1:0",
        data_dir=tmp_path,
        metrics_address="127.0.0.1:0",
        auth_tokens=parse_tokens(["secret"], "test"),
    )
    srv = await build_server(config, tools=tools)
    await srv.start()
    try:
        assert srv.telemetry is not None and srv.telemetry.metrics_port is not None
        async with AsyncExecutorClient(f"127.0.0.1:{srv.port}", timeout=20.0) as anonymous:
            with pytest.raises(UnauthenticatedError):
                await anonymous.list_tools_page()
        after = await scrape(srv.telemetry.metrics_port)
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)
    method = {
        "grpc_type": "unary",
        "grpc_service": "executor.v1.ExecutorService",
        "grpc_method": "ListTools",
    }
    assert after.get_("grpc_server_handled_total", **method, grpc_code="UNAUTHENTICATED") == 1
