"""Figures over gRPC: the real server and the bare echo baseline, each in a subprocess so
their CPU and RSS are their own; the client is this process, with grpc.aio directly.

Requests are sent as pre-serialized bytes (the channel's identity serializer), so the
client's protobuf work is the same for our server and the echo server and stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import psutil

from bench import echo_server
from bench.shapes import Shape, to_pb
from executor_client._gen.executor.v1 import executor_pb2 as pb

SERVICE = "/executor.v1.ExecutorService/"
CONCURRENCY = 64
# The client accepts anything: a response too large must fail at the server's limit
# (64 MiB), which is the one we measure, not at ours.
CLIENT_OPTIONS = [
    ("grpc.max_receive_message_length", 1 << 30),
    ("grpc.max_send_message_length", 1 << 30),
]

Unary = Callable[..., Awaitable[Any]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A server subprocess and a channel to it."""

    process: subprocess.Popen[bytes]
    channel: grpc.aio.Channel
    log: Path

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def peak_rss(self) -> int | None:
        """VmHWM: the most resident memory the process ever had (Linux only)."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


def _popen(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    # Blocking, but only for the fork: nothing else runs on the loop while servers start.
    with log.open("wb") as log_file:
        return subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT)


def _exited(process: subprocess.Popen[bytes], log: Path) -> RuntimeError:
    return RuntimeError(f"{process.args!r} exited {process.returncode}:\n{log.read_text()}")


@contextlib.asynccontextmanager
async def spawn(argv: list[str], port: int, log: Path) -> AsyncIterator[Server]:
    process = _popen(argv, log)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CLIENT_OPTIONS)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise _exited(process, log)
            try:
                await asyncio.wait_for(channel.channel_ready(), 0.5)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not listen in 60 s") from None
        yield Server(process, channel, log)
    finally:
        await channel.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def executor_argv(port: int, journal: str, data_dir: Path, db_url: str = "") -> list[str]:
    """journal: "off" (in memory), "on" (SQLite), "postgres" (the database at `db_url`)."""
    # The console script next to this interpreter: the same environment as the bench.
    argv = [
        str(Path(sys.executable).parent / "executor"),
        "serve",
        f"--address=127.0.0.1:{port}",
        f"--data-dir={data_dir}",
        "--log-level=warning",
        "--log-format=json",
        "--drain-seconds=0",
        "--grace-seconds=1",
    ]
    if journal == "postgres":
        return [*argv, f"--db={db_url}", "--replica-id=bench"]
    return [*argv, "--in-memory"] if journal == "off" else [*argv, f"--db={data_dir}/journal.db"]


def echo_argv(port: int) -> list[str]:
    return [sys.executable, "-m", echo_server.__name__, str(port)]


# ------------------------------------------------------------------ calls


def execute_plan(channel: grpc.aio.Channel) -> Unary:
    return channel.unary_unary(
        SERVICE + "ExecutePlan", response_deserializer=pb.ExecutePlanResponse.FromString
    )


def bare_echo(channel: grpc.aio.Channel) -> Unary:
    return channel.unary_unary(echo_server.METHOD)


class OneStepPlans:
    """Serialized requests for a 1-step echo plan, each with fresh ids (a repeated plan id
    would attach to the finished execution instead of running)."""

    def __init__(self) -> None:
        step = pb.ActionStep(tool_execution=pb.ToolExecution(tool_name="echo"))
        self._request = pb.ExecutePlanRequest(
            plan=pb.ActionPlan(steps=[step]),
            options=pb.ExecutionOptions(max_concurrent_steps=CONCURRENCY),
        )

    def __call__(self) -> bytes:
        self._request.plan.id = str(uuid.uuid4())
        self._request.plan.steps[0].id = str(uuid.uuid4())
        return self._request.SerializeToString()


def check_completed(response: Any) -> None:
    if isinstance(response, pb.ExecutePlanResponse):
        status = response.result.status
        if status != pb.EXECUTION_STATUS_COMPLETED:
            raise RuntimeError(f"plan ended {pb.ExecutionStatus.Name(status)}")


async def latency(call: Unary, requests: Callable[[], bytes], n: int) -> dict[str, float]:
    """p50/p99 in milliseconds of `n` sequential calls (after a short warm-up)."""
    for _ in range(min(50, n)):
        check_completed(await call(requests()))
    samples = []
    for _ in range(n):
        request = requests()
        started = time.perf_counter()
        response = await call(request)
        samples.append((time.perf_counter() - started) * 1000)
        check_completed(response)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": statistics.median(samples), "p99_ms": cuts[98], "calls": n}


async def throughput(call: Unary, requests: Callable[[], bytes], seconds: float) -> dict:
    """Completed calls per second with CONCURRENCY calls always in flight."""
    done = 0
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            try:
                check_completed(await call(requests()))
                done += 1
            except (grpc.aio.AioRpcError, RuntimeError) as exc:
                errors.append(str(exc)[:200])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {"per_s": done / elapsed, "calls": done, "errors": len(errors), "error": errors[:1]}


async def big_plan(server: Server, shape: Shape, deadline: float) -> dict[str, Any]:
    """Wall time of one blocking ExecutePlan of `shape`, as the client sees it."""
    request = pb.ExecutePlanRequest(
        plan=to_pb(shape), options=pb.ExecutionOptions(max_concurrent_steps=CONCURRENCY)
    ).SerializeToString()
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    outcome: dict[str, Any] = {"steps": shape.size, "request_bytes": len(request)}
    try:
        response = await execute_plan(server.channel)(request, timeout=deadline)
    except grpc.aio.AioRpcError as exc:
        outcome["error"] = f"{exc.code().name}: {(exc.details() or '')[:200]}"
        return outcome
    outcome["wall_s"] = time.perf_counter() - started
    outcome["server_cpu_s"] = server.cpu_seconds() - cpu_before
    outcome["response_bytes"] = response.ByteSize()
    outcome["status"] = pb.ExecutionStatus.Name(response.result.status)
    if response.result.status != pb.EXECUTION_STATUS_COMPLETED:
        outcome["error"] = f"ended {outcome['status']}"
    return outcome


async def retained_memory(server: Server, shape: Shape, deadline: float) -> dict[str, Any]:
    """Run `shape` on a fresh server and report what it keeps resident afterwards."""
    requests = OneStepPlans()
    for _ in range(20):  # warm up imports, caches and gRPC buffers before the baseline
        check_completed(await execute_plan(server.channel)(requests()))
    await asyncio.sleep(1)
    before = server.rss()
    outcome = await big_plan(server, shape, deadline)
    # Give the server a moment to drop the execution's task and its garbage; CPython
    # rarely returns freed arenas to the OS, so this is an upper bound of what is live.
    await asyncio.sleep(3)
    after = server.rss()
    outcome |= {
        "rss_before": before,
        "rss_after": after,
        "rss_peak": server.peak_rss(),
        "retained_per_step": (after - before) / shape.size,
    }
    return outcome


# ------------------------------------------------------------------ watch fan-out


async def _watch_one(channel: grpc.aio.Channel, plan_id: str) -> dict[str, float]:
    stream = channel.unary_stream(
        SERVICE + "WatchExecution",
        request_serializer=pb.WatchExecutionRequest.SerializeToString,
        response_deserializer=pb.WatchExecutionResponse.FromString,
    )
    events = 0
    max_lag = 0.0
    # Lag = when this client got the event minus when the engine stamped it; both clocks
    # are this machine's wall clock.
    async for response in stream(pb.WatchExecutionRequest(plan_id=plan_id, after_sequence=0)):
        received = time.time()
        for event in response.events:
            stamped = event.event_time.seconds + event.event_time.nanos * 1e-9
            max_lag = max(max_lag, received - stamped)
        events += len(response.events)
    return {"events": events, "max_lag_s": max_lag, "ended": time.perf_counter()}


async def fan_out(server: Server, shape: Shape, watchers: int, concurrency: int) -> dict:
    """Start `shape` detached, attach `watchers` from sequence 0 at once, and measure
    delivery to them and the execution's own throughput."""
    request = pb.ExecutePlanRequest(
        plan=to_pb(shape),
        options=pb.ExecutionOptions(max_concurrent_steps=concurrency),
        detach=True,
    )
    plan_id = request.plan.id
    me = psutil.Process()
    await execute_plan(server.channel)(request.SerializeToString())
    started = time.perf_counter()
    client_cpu = me.cpu_times()
    results = await asyncio.gather(*(_watch_one(server.channel, plan_id) for _ in range(watchers)))
    elapsed = max(r["ended"] for r in results) - started
    # How busy this client was decoding: on 2 cores a saturated client adds to the lag.
    cpu = me.cpu_times()
    client_busy = (cpu.user + cpu.system - client_cpu.user - client_cpu.system) / elapsed
    status_call = server.channel.unary_unary(
        SERVICE + "GetExecutionStatus",
        request_serializer=pb.GetExecutionStatusRequest.SerializeToString,
        response_deserializer=pb.GetExecutionStatusResponse.FromString,
    )
    status = await status_call(pb.GetExecutionStatusRequest(plan_id=plan_id))
    run_s = status.end_time.ToNanoseconds() / 1e9 - status.start_time.ToNanoseconds() / 1e9
    total = sum(r["events"] for r in results)
    return {
        "watchers": watchers,
        "status": pb.ExecutionStatus.Name(status.status),
        "events_per_watcher": results[0]["events"],
        # Every watcher must see every event: a fast figure that drops events is no figure.
        "complete": len({r["events"] for r in results}) == 1,
        "events_delivered": total,
        "delivered_per_s": total / elapsed,
        "max_lag_s": max(r["max_lag_s"] for r in results),
        "client_cpu_fraction": client_busy,
        "execution_s": run_s,
        "execution_steps_per_s": shape.size / run_s if run_s > 0 else None,
    }
