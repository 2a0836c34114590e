"""Prometheus metrics, counted from the events of each execution (and, for RPCs, by the
interceptor in rpc/). Base units, `_total` on counters, and no plan or step ids as labels:
every label takes a bounded set of values (statuses, tool names, gRPC methods and codes).

Step metrics are about forward work: `executor_step_*` count a step's attempts and its
outcome, compensations have `executor_compensations_total`. ExecuteStep calls count as
steps, not as executions.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Generic, TypeVar

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from executor_server.domain.models import Event, ExecutionError, ResourceLimits
from executor_server.domain.status import (
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)
from executor_server.observability._plan import PlanInfo

_LONG = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_SHORT = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
_QUEUE = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

LIMITS = (*ResourceLimits.model_fields, "other")
# tools/protocol.py `Budget` words every exhaustion this way; the name is a ResourceLimits field.
_LIMIT = re.compile(r"resource limit reached: (\w+)")
_DEADLINE = "execution exceeded max_execution_time"

_ACTIVE = (
    ExecutionStatus.PENDING,
    ExecutionStatus.RUNNING,
    ExecutionStatus.PAUSED,
    ExecutionStatus.ROLLING_BACK,
)
_ATTEMPT_ENDS = (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED)


M = TypeVar("M", Counter, Gauge, Histogram)


class _Children(Generic[M]):
    """The children of a labelled metric, looked up once per label values and kept:
    `labels()` takes a lock and builds its key on every call."""

    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._cache: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._cache.get(values)
        if child is None:
            child = self._cache[values] = self._metric.labels(*values)
        return child


def _label(status: ExecutionStatus | StepStatus | ExecutionErrorType) -> str:
    return status.name.lower()


class Metrics:
    """Every metric of one server, in a registry of its own (several servers can share a
    process, as in tests), plus the standard process, platform and GC collectors."""

    def __init__(self) -> None:
        # The `_created` series double every counter for a feature few scrapers use.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        r = self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.executions = _Children(
            Counter(
                "executor_executions",
                "Executions that reached a terminal status; a rollback ends in a second one.",
                ["status"],
                registry=r,
            )
        )
        self.active = _Children(
            Gauge(
                "executor_executions_active",
                "Executions running in this server, by status.",
                ["status"],
                registry=r,
            )
        )
        self.steps = _Children(
            Counter(
                "executor_steps",
                "Steps that settled, by tool and status.",
                ["tool", "status"],
                registry=r,
            )
        )
        self.attempts = _Children(
            Counter(
                "executor_step_attempts",
                "Tool calls of steps, by outcome: completed, or the error type.",
                ["tool", "outcome"],
                registry=r,
            )
        )
        self.step_duration = _Children(
            Histogram(
                "executor_step_duration_seconds",
                "From a step's first attempt to its outcome, retries included.",
                ["tool"],
                buckets=_LONG,
                registry=r,
            )
        )
        self.schedule_to_start = Histogram(
            "executor_step_schedule_to_start_seconds",
            "From when an attempt could start (dependencies done, retry delay over, execution "
            "running) to when it started: time spent waiting for a concurrency slot.",
            buckets=_QUEUE,
            registry=r,
        )
        self.compensations = _Children(
            Counter(
                "executor_compensations",
                "Compensations that ended, by compensating tool and status.",
                ["tool", "status"],
                registry=r,
            )
        )
        self.budget_exhausted = _Children(
            Counter(
                "executor_budget_exhausted",
                "Steps (and executions, for max_execution_time) stopped by a resource limit.",
                ["limit"],
                registry=r,
            )
        )
        self.journal_commit = Histogram(
            "executor_journal_commit_seconds",
            "Time to store one batch of events.",
            buckets=_SHORT,
            registry=r,
        )
        self.watchers = Gauge("executor_watchers", "WatchExecution streams open now.", registry=r)
        # The names and labels of go-grpc-prometheus, which gRPC dashboards expect.
        rpc_labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.rpc_started = _Children(
            Counter("grpc_server_started", "RPCs started on the server.", rpc_labels, registry=r)
        )
        self.rpc_handled = _Children(
            Counter(
                "grpc_server_handled",
                "RPCs completed on the server, by status code.",
                [*rpc_labels, "grpc_code"],
                registry=r,
            )
        )
        self.rpc_handling = _Children(
            Histogram(
                "grpc_server_handling_seconds",
                "Time from the start of an RPC to its status.",
                rpc_labels,
                buckets=_LONG,
                registry=r,
            )
        )
        self.rpc_msg_sent = _Children(
            Counter("grpc_server_msg_sent", "Response messages sent.", rpc_labels, registry=r)
        )
        # Known label values start at zero, so rates and alerts work from the first scrape.
        for s in ExecutionStatus:
            (self.executions if s.is_terminal else self.active)(_label(s))
        for limit in LIMITS:
            self.budget_exhausted(limit)

    def execution(self, info: PlanInfo, status: ExecutionStatus) -> ExecutionMetrics:
        return ExecutionMetrics(self, info, status)


class ExecutionMetrics:
    """Counts one execution's events."""

    __slots__ = (
        "_active",
        "_attempt_of",
        "_done_at",
        "_first_start",
        "_info",
        "_m",
        "_ready_at",
        "_running_since",
    )

    def __init__(self, metrics: Metrics, info: PlanInfo, status: ExecutionStatus) -> None:
        self._m = metrics
        self._info = info
        self._active: Gauge | None = None
        # When the execution last entered RUNNING: no attempt can start before it.
        self._running_since: float | None = None
        if status is ExecutionStatus.RUNNING:  # resumed after a restart
            self._running_since = time.time()
        self._first_start: dict[str, float] = {}  # step id -> its first attempt's start
        self._attempt_of: set[str] = set()  # steps with a forward attempt running
        self._ready_at: dict[str, float] = {}  # step id -> when its retry may start
        self._done_at: dict[str, float] = {}  # step id -> when it completed
        if not info.standalone:
            self._enter(status)

    def committed(self, seconds: float) -> None:
        self._m.journal_commit.observe(seconds)

    def published(self, events: Sequence[Event]) -> None:
        for event in events:
            kind = event.type
            if kind is EventType.STEP_STATUS_CHANGED:
                self._step(event)
            elif kind is EventType.EXECUTION_STATUS_CHANGED:
                self._execution(event)
            elif kind is EventType.STEP_RETRY_SCHEDULED:
                self._retry(event)

    def closed(self) -> None:
        self._enter(None)

    def _enter(self, status: ExecutionStatus | None) -> None:
        if self._active is not None:
            self._active.dec()
        self._active = None
        if status is not None and status in _ACTIVE:
            self._active = self._m.active(_label(status))
            self._active.inc()

    def _execution(self, event: Event) -> None:
        status = event.status
        if status is ExecutionStatus.RUNNING:
            self._running_since = event.time
        if self._info.standalone:
            return
        self._enter(status)
        if status.is_terminal:
            self._m.executions(_label(status)).inc()
            error = event.error
            if error is not None and error.message.startswith(_DEADLINE):
                self._m.budget_exhausted("max_execution_time").inc()

    def _step(self, event: Event) -> None:
        status = event.step_status
        step_id = event.step_id
        m = self._m
        if status is StepStatus.RUNNING:
            self._attempt_started(step_id, event.time)
            return
        if status is StepStatus.COMPENSATING:
            return
        if status is StepStatus.COMPENSATED or status is StepStatus.COMPENSATION_FAILED:
            m.compensations(self._info.undo_tool(step_id), _label(status)).inc()
            self._count_exhaustion(event.error)
            return
        assert status is not None
        tool = self._info.tool(step_id)
        if step_id in self._attempt_of and status in _ATTEMPT_ENDS:
            self._attempt_of.discard(step_id)
            m.attempts(tool, _outcome(event.error)).inc()
        m.steps(tool, _label(status)).inc()
        started = self._first_start.pop(step_id, None)
        if started is not None:
            m.step_duration(tool).observe(max(event.time - started, 0.0))
        if status is StepStatus.COMPLETED:
            self._done_at[step_id] = event.time
        self._count_exhaustion(event.error)

    def _retry(self, event: Event) -> None:
        step_id = event.step_id
        if step_id in self._attempt_of:
            self._attempt_of.discard(step_id)
            self._m.attempts(self._info.tool(step_id), _outcome(event.error)).inc()
        self._ready_at[step_id] = event.time + (event.retry_delay or 0.0)

    def _attempt_started(self, step_id: str, at: float) -> None:
        self._attempt_of.add(step_id)
        self._first_start.setdefault(step_id, at)
        ready = self._ready_at.pop(step_id, None)
        since = self._running_since
        if ready is None:
            if since is None:
                return  # started before this process saw the execution run
            ready = since
            done = self._done_at
            for dep in self._info.dependency_ids(step_id):
                finished = done.get(dep)
                if finished is not None and finished > ready:
                    ready = finished
        elif since is not None and since > ready:
            ready = since  # paused while the retry waited
        self._m.schedule_to_start.observe(max(at - ready, 0.0))

    def _count_exhaustion(self, error: ExecutionError | None) -> None:
        if error is None or error.error_type is not ExecutionErrorType.RESOURCE_EXHAUSTED:
            return
        match = _LIMIT.match(error.message)
        limit = match.group(1) if match and match.group(1) in LIMITS else "other"
        self._m.budget_exhausted(limit).inc()


def _outcome(error: ExecutionError | None) -> str:
    return "completed" if error is None else _label(error.error_type)
