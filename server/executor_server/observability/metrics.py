"""Prometheus metrics, counted from the events of each execution (and, for RPCs, by the
interceptor in rpc/). Base units, `_total` on counters, and no plan or step ids as labels:
every label takes a bounded set of values (statuses, tool names, gRPC methods and codes).

Step metrics are about forward work: `executor_step_*` count a step's attempts and its
outcome, compensations have `executor_compensations_total`. ExecuteStep calls count as
steps, not as executions.
"""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import accumulate
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
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class _LoopHistogramChild:
    __slots__ = ("_bounds", "counts", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value


class LoopHistogram(Collector):
    """A histogram for the hot paths (per step, per commit, per call), observed from the
    event loop's thread only.

    prometheus_client's Histogram takes a lock and walks its buckets in Python on every
    observation; here an observation is a bisect and two additions. Scrapes run in the
    metrics server's thread and read copies, which the GIL keeps whole; at worst a scrape
    sees an observation in `_sum` a moment before it reaches the buckets.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = list(labelnames)
        self._bounds = [*buckets, math.inf]
        self._children: dict[tuple[str, ...], _LoopHistogramChild] = {}
        if not self._labelnames:
            self.labels()  # exported at zero from the start, as prometheus_client does
        registry.register(self)

    def labels(self, *values: str) -> _LoopHistogramChild:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = _LoopHistogramChild(self._bounds)
        return child

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        bounds = [floatToGoString(b) for b in self._bounds]  # type: ignore[no-untyped-call]
        for values, child in list(self._children.items()):
            counts, total = list(child.counts), child.sum
            cumulative = list(accumulate(counts))
            family.add_metric(list(values), list(zip(bounds, cumulative, strict=True)), total)
        return [family]


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
        self.step_duration = LoopHistogram(
            "executor_step_duration_seconds",
            "From a step's first attempt to its outcome, retries included.",
            ["tool"],
            buckets=_LONG,
            registry=r,
        )
        self.schedule_to_start = LoopHistogram(
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
        self.journal_commit = LoopHistogram(
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
        self.rpc_handling = LoopHistogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status.",
            rpc_labels,
            buckets=_LONG,
            registry=r,
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

    __slots__ = (
        "attempts",
        "compensations",
        "completed",
        "completed_attempts",
        "duration",
        "steps",
    )

    def __init__(self, metrics: Metrics, tool: str) -> None:
        self.steps = {s: metrics.steps(tool, _STEP_LABELS[s]) for s in _SETTLED}
        self.compensations = {s: metrics.compensations(tool, _STEP_LABELS[s]) for s in _UNDONE}
        self.attempts = {
            error: metrics.attempts(tool, _label(error) if error else "completed")
            for error in (None, *ExecutionErrorType)
        }
        self.duration = metrics.step_duration.labels(tool)
        self.completed = self.steps[StepStatus.COMPLETED]
        self.completed_attempts = self.attempts[None]


class _Step:
    """What the metrics keep of one step of a running execution."""

    __slots__ = ("attempt_open", "dependencies", "done_at", "first_start", "ready_at", "tool")

    def __init__(self, tool: _ToolMetrics, dependencies: tuple[str, ...]) -> None:
        self.tool = tool
        self.dependencies = dependencies  # ids or names, as the plan wrote them
        self.first_start: float | None = None  # its first attempt's start, until it settles
        self.attempt_open = False  # a forward attempt started and has not ended
        self.ready_at: float | None = None  # when its retry (or approved call) may start
        self.done_at = 0.0  # when it completed (0: not yet)


class ExecutionMetrics:
    """Counts one execution's events. Counter increments are added up over a batch and
    applied once per counter: a batch of a busy plan holds many steps of the same tool."""

    __slots__ = ("_active", "_info", "_items", "_m", "_running_since", "_steps")

    def __init__(self, metrics: Metrics, info: PlanInfo, status: ExecutionStatus) -> None:
        self._m = metrics
        self._info = info
        self._active: Gauge | None = None
        # When the execution last entered RUNNING: no attempt can start before it.
        self._running_since: float | None = None
        if status is ExecutionStatus.RUNNING:  # resumed after a restart
            self._running_since = time.time()
        # By step id, and by name too: dependencies may name a step either way.
        self._steps: dict[str, _Step] = {}
        # The elements of for_each steps, by step id and item index: each is a tool call of
        # its own (attempts, retries, compensations), but not a step.
        self._items: dict[tuple[str, int], _Step] = {}
        if not info.standalone:
            self._enter(status)

    def committed(self, seconds: float) -> None:
        self._m.journal_commit.observe(seconds)

    def published(self, events: Sequence[Event]) -> None:
        counts: dict[Counter, int] = {}
        steps = self._steps
        for event in events:
            kind = event.type
            if event.item_index is not None:
                self._element(event, event.item_index, counts)
            elif kind is EventType.STEP_STATUS_CHANGED:
                step = steps.get(event.step_id) or self._track(event)
                status = event.step_status
                if status is StepStatus.RUNNING and event.attempt == 0:
                    step.first_start = step.first_start or event.time  # a fan-out begins
                elif status is StepStatus.RUNNING:
                    self._attempt_started(step, event.time)
                elif status is StepStatus.COMPLETED and step.attempt_open:
                    # The common case, inline: an attempt that completed its step.
                    tool = step.tool
                    counts[tool.completed] = counts.get(tool.completed, 0) + 1
                    counts[tool.completed_attempts] = counts.get(tool.completed_attempts, 0) + 1
                    step.attempt_open = False
                    started = step.first_start
                    if started is not None:
                        step.first_start = None
                        tool.duration.observe(max(event.time - started, 0.0))
                    step.done_at = event.time
                else:
                    self._step_changed(step, event, counts)
            elif kind is EventType.EXECUTION_STATUS_CHANGED:
                self._execution(event)
            elif kind is EventType.STEP_RETRY_SCHEDULED:
                step = steps.get(event.step_id) or self._track(event)
                self._retry(step, event, counts)
            elif kind is EventType.APPROVAL_DECIDED:
                # An approved step is ready from its decision: a person's wait is no
                # scheduling delay.
                step = steps.get(event.step_id) or self._track(event)
                step.ready_at = event.time
        for counter, n in counts.items():
            counter.inc(n)

    def closed(self) -> None:
        self._enter(None)

    def _element(self, event: Event, item: int, counts: dict[Counter, int]) -> None:
        """An element's event counts its tool calls and compensations, never a step."""
        key = (event.step_id, item)
        element = self._items.get(key)
        if element is None:
            step = self._steps.get(event.step_id) or self._track(event)
            element = self._items[key] = _Step(step.tool, step.dependencies)
        status = event.step_status
        if event.type is EventType.STEP_RETRY_SCHEDULED:
            self._retry(element, event, counts)
        elif event.type is not EventType.STEP_STATUS_CHANGED or status is None:
            return
        elif status is StepStatus.RUNNING:
            self._attempt_started(element, event.time)
        elif status in _UNDONE:
            counter = self._m.tool(self._info.undo_tool(event.step_id)).compensations[status]
            counts[counter] = counts.get(counter, 0) + 1
        elif element.attempt_open and status is not StepStatus.COMPENSATING:
            element.attempt_open = False
            error = event.error
            counter = element.tool.attempts[error.error_type if error else None]
            counts[counter] = counts.get(counter, 0) + 1

    def _track(self, event: Event) -> _Step:
        step_id = event.step_id
        plan_step = self._info.step(step_id)
        step = _Step(self._m.tool(self._info.tool(step_id)), plan_step.dependencies)
        self._steps[step_id] = step
        if plan_step.name:
            self._steps[plan_step.name] = step
        return step

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

    def _attempt_started(self, step: _Step, at: float) -> None:
        step.attempt_open = True
        if step.first_start is None:
            step.first_start = at
        ready = step.ready_at
        since = self._running_since
        if ready is None:
            if since is None:
                return  # started before this process saw the execution run
            ready = since
            steps = self._steps
            for name in step.dependencies:
                dependency = steps.get(name)
                if dependency is not None and dependency.done_at > ready:
                    ready = dependency.done_at
        else:
            step.ready_at = None
            if since is not None and since > ready:
                ready = since  # paused while the retry waited
        self._m.schedule_to_start.observe(at - ready if at > ready else 0.0)

    def _step_changed(self, step: _Step, event: Event, counts: dict[Counter, int]) -> None:
        status = event.step_status
        error = event.error
        if status is StepStatus.COMPENSATING or status is None:
            return
        if status in _UNDONE:
            counter = self._m.tool(self._info.undo_tool(event.step_id)).compensations[status]
            counts[counter] = counts.get(counter, 0) + 1
        else:
            tool = step.tool
            settled = tool.steps.get(status)
            if settled is None:
                return  # not an outcome (a step sent back to PENDING, say)
            counts[settled] = counts.get(settled, 0) + 1
            if step.attempt_open:
                step.attempt_open = False
                counter = tool.attempts[error.error_type if error else None]
                counts[counter] = counts.get(counter, 0) + 1
            started = step.first_start
            if started is not None:
                step.first_start = None
                tool.duration.observe(max(event.time - started, 0.0))
            if status is StepStatus.COMPLETED:
                step.done_at = event.time
        if error is not None and error.error_type is ExecutionErrorType.RESOURCE_EXHAUSTED:
            self._count_exhaustion(error)

    def _retry(self, step: _Step, event: Event, counts: dict[Counter, int]) -> None:
        if step.attempt_open:
            step.attempt_open = False
            error = event.error
            counter = step.tool.attempts[error.error_type if error else None]
            counts[counter] = counts.get(counter, 0) + 1
        step.ready_at = event.time + (event.retry_delay or 0.0)

    def _count_exhaustion(self, error: ExecutionError) -> None:
        match = _LIMIT.match(error.message)
        limit = match.group(1) if match and match.group(1) in LIMITS else "other"
        self._m.budget_exhausted(limit).inc()
