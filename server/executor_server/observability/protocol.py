"""What the engine tells observers, and when.

An `Observer` is asked for an `ExecutionObserver` each time an execution starts to run in
this process (a new one, one resumed after a restart, one revived for a rollback, or the
one-step execution of ExecuteStep). The engine then calls it at two places only:

- `published(events)`: right after a batch of events is stored, in sequence order: the very
  events watchers see, so nothing is observed that a crash could take back;
- `attempt_starting(...)`: where an attempt's ToolContext is built, before the tool runs; the
  answer is the W3C trace-context headers (`traceparent`, maybe `tracestate`) the tool
  passes on, empty when tracing is off.

plus `committed(seconds)` for the time each journal commit took and `closed()` when the
execution's run in this process ends (finished, or stopped by a shutdown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from executor_server.domain.models import ActionPlan, Event
from executor_server.domain.status import ExecutionStatus

NO_TRACE_CONTEXT: Mapping[str, str] = {}


class ExecutionObserver(Protocol):
    def attempt_starting(
        self, step_id: str, attempt: int, tool: str, compensation: bool, item: int | None = None
    ) -> Mapping[str, str]:
        """An attempt (or a compensation attempt) is about to start, of the element `item`
        of a for_each step or of a plain step (None); returns the trace context its tool
        gets."""
        ...

    def committed(self, seconds: float) -> None:
        """One batch of events took `seconds` to store."""
        ...

    def published(self, events: Sequence[Event]) -> None:
        """`events` were stored, in order, and are now visible to watchers."""
        ...

    def closed(self) -> None:
        """No more events will come from this run of the execution."""
        ...


class Observer(Protocol):
    def execution(
        self, plan: ActionPlan, status: ExecutionStatus, *, standalone: bool = False
    ) -> ExecutionObserver:
        """An execution of `plan`, now in `status`, starts to run here. `standalone` marks the
        one-step execution of ExecuteStep (no plan of the caller's)."""
        ...


class NullExecutionObserver:
    """Observes nothing, at the cost of a method call."""

    __slots__ = ()

    def attempt_starting(
        self, step_id: str, attempt: int, tool: str, compensation: bool, item: int | None = None
    ) -> Mapping[str, str]:
        return NO_TRACE_CONTEXT

    def committed(self, seconds: float) -> None:
        pass

    def published(self, events: Sequence[Event]) -> None:
        pass

    def closed(self) -> None:
        pass


class _NullObserver:
    __slots__ = ()

    def execution(
        self, plan: ActionPlan, status: ExecutionStatus, *, standalone: bool = False
    ) -> ExecutionObserver:
        return NULL_EXECUTION_OBSERVER


NULL_EXECUTION_OBSERVER = NullExecutionObserver()
NULL_OBSERVER: Observer = _NullObserver()
