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
_SETTLED = (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED)
_UNDONE = (StepStatus.COMPENSATED, StepStatus.COMPENSATION_FAILED)


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


# Two tables: the enums are IntEnums, so ExecutionStatus.CANCELLED == StepStatus.SKIPPED.
_EXECUTION_LABELS = {s: _label(s) for s in ExecutionStatus}
_STEP_LABELS = {s: _label(s) for s in StepStatus}


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
        self._tools: dict[str, _ToolMetrics] = {}
        # Known label values start at zero, so rates and alerts work from the first scrape.
        for s in ExecutionStatus:
            (self.executions if s.is_terminal else self.active)(_label(s))
        for limit in LIMITS:
            self.budget_exhausted(limit)

    def execution(self, info: PlanInfo, status: ExecutionStatus) -> ExecutionMetrics:
        return ExecutionMetrics(self, info, status)

    def tool(self, name: str) -> _ToolMetrics:
        found = self._tools.get(name)
        if found is None:
            found = self._tools[name] = _ToolMetrics(self, name)
        return found


class _ToolMetrics:
    """The children of one tool's labelled metrics, fetched once."""

    __slots__ = ("attempts", "compensations", "duration", "steps")

    def __init__(self, metrics: Metrics, tool: str) -> None:
        self.steps = {s: metrics.steps(tool, _STEP_LABELS[s]) for s in _SETTLED}
        self.compensations = {s: metrics.compensations(tool, _STEP_LABELS[s]) for s in _UNDONE}
        self.attempts = {
            error: metrics.attempts(tool, _label(error) if error else "completed")
            for error in (None, *ExecutionErrorType)
        }
        self.duration = metrics.step_duration(tool)


class ExecutionMetrics:
    """Counts one execution's events. Counter increments are added up over a batch and
    applied once per counter: a batch of a busy plan holds many steps of the same tool."""

    __slots__ = (
        "_active",
        "_attempt_of",
        "_done_at",
        "_first_start",
        "_info",
        "_m",
        "_ready_at",
        "_running_since",
        "_tools",
    )

    def __init__(self, metrics: Metrics, info: PlanInfo, status: ExecutionStatus) -> None:
        self._m = metrics
        self._info = info
        self._active: Gauge | None = None
        # When the execution last entered RUNNING: no attempt can start before it.
        self._running_since: float | None = None
        if status is ExecutionStatus.RUNNING:  # resumed after a restart
            self._running_since = time.time()
        self._tools: dict[str, _ToolMetrics] = {}  # step id -> its tool's metrics
        self._first_start: dict[str, float] = {}  # step id -> its first attempt's start
        self._attempt_of: set[str] = set()  # steps with a forward attempt running
        self._ready_at: dict[str, float] = {}  # step id -> when its retry may start
        self._done_at: dict[str, float] = {}  # step id and name -> when it completed
        if not info.standalone:
            self._enter(status)

    def committed(self, seconds: float) -> None:
        self._m.journal_commit.observe(seconds)

    def published(self, events: Sequence[Event]) -> None:
        counts: dict[Counter, int] = {}
        for event in events:
            kind = event.type
            if kind is EventType.STEP_STATUS_CHANGED:
                self._step(event, counts)
            elif kind is EventType.EXECUTION_STATUS_CHANGED:
                self._execution(event)
            elif kind is EventType.STEP_RETRY_SCHEDULED:
                self._retry(event, counts)
        for counter, n in counts.items():
            counter.inc(n)

    def closed(self) -> None:
        self._enter(None)

    def _enter(self, status: ExecutionStatus | None) -> None:
        if self._active is not None:
            self._active.dec()
        self._active = None
        if status is not None and status in _ACTIVE:
            self._active = self._m.active(_EXECUTION_LABELS[status])
            self._active.inc()

    def _execution(self, event: Event) -> None:
        status = event.status
        if status is ExecutionStatus.RUNNING:
            self._running_since = event.time
        if self._info.standalone:
            return
        self._enter(status)
        if status.is_terminal:
            self._m.executions(_EXECUTION_LABELS[status]).inc()
            error = event.error
            if error is not None and error.message.startswith(_DEADLINE):
                self._m.budget_exhausted("max_execution_time").inc()

    def _tool(self, step_id: str, undo: bool = False) -> _ToolMetrics:
        if undo:
            return self._m.tool(self._info.undo_tool(step_id))
        found = self._tools.get(step_id)
        if found is None:
            found = self._tools[step_id] = self._m.tool(self._info.tool(step_id))
        return found

    def _step(self, event: Event, counts: dict[Counter, int]) -> None:
        status = event.step_status
        step_id = event.step_id
        if status is StepStatus.RUNNING:
            self._attempt_started(event)
            return
        if status is StepStatus.COMPENSATING or status is None:
            return
        error = event.error
        if status in _UNDONE:
            counter = self._tool(step_id, undo=True).compensations[status]
            counts[counter] = counts.get(counter, 0) + 1
        else:
            tool = self._tool(step_id)
            settled = tool.steps.get(status)
            if settled is None:
                return  # not an outcome (a step sent back to PENDING, say)
            counts[settled] = counts.get(settled, 0) + 1
            if step_id in self._attempt_of:
                self._attempt_of.discard(step_id)
                counter = tool.attempts[error.error_type if error else None]
                counts[counter] = counts.get(counter, 0) + 1
            started = self._first_start.pop(step_id, None)
            if started is not None:
                tool.duration.observe(max(event.time - started, 0.0))
            if status is StepStatus.COMPLETED:
                # Dependencies name a step by id or by name.
                self._done_at[step_id] = event.time
                if event.step_name:
                    self._done_at[event.step_name] = event.time
        if error is not None and error.error_type is ExecutionErrorType.RESOURCE_EXHAUSTED:
            self._count_exhaustion(error)

    def _retry(self, event: Event, counts: dict[Counter, int]) -> None:
        step_id = event.step_id
        if step_id in self._attempt_of:
            self._attempt_of.discard(step_id)
            error = event.error
            counter = self._tool(step_id).attempts[error.error_type if error else None]
            counts[counter] = counts.get(counter, 0) + 1
        self._ready_at[step_id] = event.time + (event.retry_delay or 0.0)

    def _attempt_started(self, event: Event) -> None:
        step_id, at = event.step_id, event.time
        self._attempt_of.add(step_id)
        if step_id not in self._first_start:
            self._first_start[step_id] = at
        ready = self._ready_at.pop(step_id, None)
        since = self._running_since
        if ready is None:
            if since is None:
                return  # started before this process saw the execution run
            ready = since
            done = self._done_at
            for dep in self._info.step(step_id).dependencies:
                finished = done.get(dep)
                if finished is not None and finished > ready:
                    ready = finished
        elif since is not None and since > ready:
            ready = since  # paused while the retry waited
        self._m.schedule_to_start.observe(at - ready if at > ready else 0.0)

    def _count_exhaustion(self, error: ExecutionError) -> None:
        match = _LIMIT.match(error.message)
        limit = match.group(1) if match and match.group(1) in LIMITS else "other"
        self._m.budget_exhausted(limit).inc()
