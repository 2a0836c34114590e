"""What observability costs: the same workloads with metrics (and traces) on and off, in
alternating runs of the same process run, so drift hits both sides alike.

- In process: `Executor.execute_plan` of the layered 100x100 plan of no-op steps with the
  SQLite journal (the default), with no observer, with metrics, and with metrics and
  traces (the SDK's batch processor feeding an exporter that drops the spans: the cost of
  making them, not of a collector's network). Measured in CPU time of the process (the
  engine's loop is one thread; SQLite commits in a worker thread count too), which a busy
  machine disturbs less than wall time; and, more precisely, as the CPU time spent inside
  the observer's calls.
- Over gRPC: 1-step ExecutePlan latency and throughput (journal on, as served by default)
  against two servers alive side by side, one with `--metrics-address`, one without; the
  metrics one also pays the RPC interceptor.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench import remote
from bench.engine import CONCURRENCY
from bench.report import Row
from bench.shapes import Shape, to_domain
from executor_server.domain.models import ActionPlan, Event, ExecutionOptions
from executor_server.domain.status import ExecutionStatus
from executor_server.engine.executor import Executor
from executor_server.observability import NULL_OBSERVER, ExecutionObserver, Observer
from executor_server.observability.metrics import Metrics
from executor_server.observability.telemetry import Telemetry
from executor_server.store.sqlite import SQLiteStore
from executor_server.tools.builtins import Echo
from executor_server.tools.registry import ToolRegistry

MODES = ("off", "metrics", "metrics+traces")


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


# CPU time of this thread: on a busy machine, wall time inside a call would count the
# moments the process waited for a core.
_clock = time.thread_time


class _Timed:
    """Adds up the CPU time spent inside the observer's per-batch calls, where metrics are
    counted: the cost of observing, measured where it is paid rather than as a difference
    of two noisy totals."""

    def __init__(self, inner: Observer) -> None:
        self.inner = inner
        self.seconds = 0.0

    def execution(
        self, plan: ActionPlan, status: ExecutionStatus, *, standalone: bool = False
    ) -> ExecutionObserver:
        started = _clock()
        observer = _TimedExecution(self, self.inner.execution(plan, status, standalone=standalone))
        self.seconds += _clock() - started
        return observer


class _TimedExecution:
    def __init__(self, timed: _Timed, inner: ExecutionObserver) -> None:
        self._timed = timed
        self._inner = inner

    def attempt_starting(
        self, step_id: str, attempt: int, tool: str, compensation: bool, item: int | None = None
    ) -> Mapping[str, str]:
        # Not timed: a clock read costs more than this call without tracing (2 us here).
        return self._inner.attempt_starting(step_id, attempt, tool, compensation, item)

    def committed(self, seconds: float) -> None:
        started = _clock()
        self._inner.committed(seconds)
        self._timed.seconds += _clock() - started

    def published(self, events: Sequence[Event]) -> None:
        started = _clock()
        self._inner.published(events)
        self._timed.seconds += _clock() - started

    def closed(self) -> None:
        started = _clock()
        self._inner.closed()
        self._timed.seconds += _clock() - started


def _observer(mode: str) -> tuple[Observer, TracerProvider | None]:
    if mode == "off":
        return NULL_OBSERVER, None
    provider = None
    if mode == "metrics+traces":
        provider = TracerProvider()
        # A queue for a whole burst of a 10,000-step plan, so no span is dropped unmade.
        provider.add_span_processor(BatchSpanProcessor(_Discard(), max_queue_size=1 << 15))
    return _Timed(Telemetry(metrics=Metrics(), tracer_provider=provider)), provider


async def _time_engine(shape: Shape, mode: str) -> tuple[float, float, float]:
    """(wall, CPU, inside the observer) seconds of one execute_plan."""
    plan = to_domain(shape)
    observer, provider = _observer(mode)
    with tempfile.TemporaryDirectory(prefix="bench-obs-") as tmp:
        store = await SQLiteStore.open(Path(tmp) / "journal.db")
        engine = Executor(
            ToolRegistry([Echo()]), store, workspace_root=Path(tmp) / "ws", observer=observer
        )
        try:
            started, cpu = time.perf_counter(), time.process_time()
            result = await engine.execute_plan(
                plan, ExecutionOptions(max_concurrent_steps=CONCURRENCY)
            )
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            await engine.close()
            await store.close()
    if provider is not None:
        provider.shutdown()
    if result.status is not ExecutionStatus.COMPLETED:
        raise RuntimeError(f"{shape.name} with {mode}: ended {result.status.name}")
    observed = observer.seconds if isinstance(observer, _Timed) else 0.0
    return elapsed, cpu, observed


def engine_rows(shape: Shape, rounds: int) -> tuple[list[Row], dict[str, Any]]:
    asyncio.run(_time_engine(shape, "off"))  # warm up: imports, caches
    runs: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
    for _ in range(rounds):  # off, metrics, traces, off, metrics, traces, ...
        for mode in MODES:
            runs[mode].append(asyncio.run(_time_engine(shape, mode)))
    cpu_rate = {m: shape.size / statistics.median(c for _, c, _ in runs[m]) for m in MODES}
    wall_rate = {m: shape.size / statistics.median(w for w, _, _ in runs[m]) for m in MODES}
    # Microseconds per step inside the observer, against the engine's own CPU per step.
    inside = statistics.median(o for _, _, o in runs["metrics"]) * 1e6 / shape.size
    engine_us = 1e6 / cpu_rate["off"]

    def wall(mode: str) -> str:
        return f"wall-clock ratio {wall_rate[mode] / wall_rate['off']:.3f}"

    section = "observability"
    rows = [
        Row(
            section,
            f"engine, journal on: {shape.name} steps per CPU-s, metrics on",
            "steps/s",
            cpu_rate["metrics"],
            cpu_rate["off"],
            "metrics off",
            ">=",
            0.95,
            note=f"median of {rounds} alternating runs; {wall('metrics')}",
        ),
        Row(
            section,
            f"engine, journal on: {shape.name} steps per CPU-s, metrics and traces on",
            "steps/s",
            cpu_rate["metrics+traces"],
            cpu_rate["off"],
            "both off",
            note=f"spans made and batched, then dropped; {wall('metrics+traces')}",
        ),
        Row(
            section,
            f"engine, journal on: {shape.name} time inside the observer per step, metrics on",
            "µs",
            inside,
            engine_us,
            "engine CPU/step",
            "<=",
            0.05,
            note="CPU time around each published/committed/closed call, metrics-on runs",
        ),
    ]
    raw = {
        mode: [{"wall_s": w, "cpu_s": c, "observer_s": o} for w, c, o in r]
        for mode, r in runs.items()
    }
    return rows, raw


async def grpc_rows(tmp: Path, calls: int, seconds: float, rounds: int) -> tuple[list[Row], dict]:
    requests = remote.OneStepPlans()
    lat: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    thr: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}  # server CPU ms per call
    off_port, on_port, metrics_port = remote.free_port(), remote.free_port(), remote.free_port()
    off_argv = remote.executor_argv(off_port, "on", tmp / "obs-off")
    on_argv = [
        *remote.executor_argv(on_port, "on", tmp / "obs-on"),
        f"--metrics-address=127.0.0.1:{metrics_port}",
    ]
    async with (
        remote.spawn(off_argv, off_port, tmp / "obs-off.log") as off,
        remote.spawn(on_argv, on_port, tmp / "obs-on.log") as on,
    ):
        servers = {"off": off, "on": on}
        for _ in range(rounds):
            for name, server in servers.items():
                call = remote.execute_plan(server.channel)
                # Server CPU per call over sequential calls: with one call at a time the work
                # per call does not depend on how the calls happen to batch.
                before = server.cpu_seconds()
                lat[name].append(await remote.latency(call, requests, calls // rounds))
                spent = server.cpu_seconds() - before
                warm_up = min(50, calls // rounds)  # remote.latency's own warm-up calls
                cpu[name].append(spent * 1000 / (lat[name][-1]["calls"] + warm_up))
                thr[name].append(await remote.throughput(call, requests, seconds / rounds))
    p50 = {k: statistics.median(r["p50_ms"] for r in v) for k, v in lat.items()}
    per_s = {
        k: sum(r["calls"] for r in v) / sum(r["calls"] / r["per_s"] for r in v)
        for k, v in thr.items()
    }
    cpu_ms = {k: statistics.median(v) for k, v in cpu.items()}
    section = "observability"
    note = f"{rounds} alternating rounds each"
    rows = [
        Row(
            section,
            "gRPC, journal on: server CPU per 1-step plan, metrics on",
            "ms",
            cpu_ms["on"],
            cpu_ms["off"],
            "metrics off",
            "<=",
            1.05,
            note=f"{note}, over the sequential latency calls (warm-up included)",
        ),
        Row(
            section,
            "gRPC, journal on: 1-step plan latency p50, metrics on",
            "ms",
            p50["on"],
            p50["off"],
            "metrics off",
            note=note,
        ),
        Row(
            section,
            f"gRPC, journal on: 1-step plans/s, {remote.CONCURRENCY} in flight, metrics on",
            "calls/s",
            per_s["on"],
            per_s["off"],
            "metrics off",
            note=note,
        ),
    ]
    return rows, {"latency": lat, "throughput": thr, "server_cpu_ms_per_call": cpu}
