"""An execution's state as the fold of its events.

The running engine and recovery share this one function: the engine applies each event it
emits, and a restarted server applies the journal, so both arrive at the same state.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from executor_server.domain.models import (
    ActionPlan,
    ApprovalRecord,
    CompensationResult,
    Event,
    ExecutionError,
    ExecutionResult,
    ItemResult,
    Progress,
    ResourceLimits,
    ResourceUsage,
    StepResult,
)
from executor_server.domain.status import (
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)

_COMPENSATION = frozenset(s for s in StepStatus if s.is_compensation)
_TIMEOUT = ExecutionErrorType.TIMEOUT

# Time spent in these statuses is the execution's running time; paused time is not.
_ACTIVE = (ExecutionStatus.RUNNING, ExecutionStatus.ROLLING_BACK)


class ExecutionState:
    __slots__ = (
        "_active_since",
        "_active_time",
        "_counts",
        "_index",
        "compensation_usage",
        "create_time",
        "deadline_start",
        "end_time",
        "error",
        "last_sequence",
        "limits",
        "plan",
        "rolling_back",
        "signals",
        "start_time",
        "status",
        "steps",
        "usage",
    )

    def __init__(self, plan: ActionPlan, create_time: float) -> None:
        self.plan = plan
        self.create_time = create_time
        self.status = ExecutionStatus.PENDING
        self.steps = [StepResult(step.id, step.name) for step in plan.steps]
        self._index = {step.id: i for i, step in enumerate(plan.steps)}
        self._counts = [0] * (max(StepStatus) + 1)
        self._counts[StepStatus.PENDING] = len(plan.steps)
        self.usage = ResourceUsage()
        self.compensation_usage = ResourceUsage()
        #: The execution has entered its rollback; forward work never resumes after it.
        self.rolling_back = False
        self.error: ExecutionError | None = None
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.last_sequence = 0
        #: Payloads of the signals received, by the position of the step awaiting each.
        self.signals: dict[int, Any] = {}
        self._active_since: float | None = None
        self._active_time = 0.0
        #: Running time when the plan deadline last started: 0, or when it was retried.
        self.deadline_start = 0.0
        #: Resource limits a retry set in place of the plan's; None while they hold.
        self.limits: ResourceLimits | None = None

    def apply(self, event: Event) -> None:
        self.last_sequence = event.sequence
        kind = event.type
        if kind is EventType.EXECUTION_STATUS_CHANGED:
            self._apply_execution(event)
            return
        position = self._index[event.step_id]
        step = self.steps[position]
        if kind is EventType.APPROVAL_DECIDED:
            assert event.decision is not None
            timed_out = event.error is not None and event.error.error_type is _TIMEOUT
            step.approval = ApprovalRecord(
                event.decision, event.message, event.actor, event.time, timed_out, event.output
            )
            return
        if kind is EventType.SIGNAL_RECEIVED:
            self.signals[position] = event.output
            return
        if event.item_index is not None:
            self._apply_item(step.items[event.item_index], event)
            return
        compensating = step.status is StepStatus.COMPENSATING or event.step_status in _COMPENSATION
        if event.usage is not None:
            (self.compensation_usage if compensating else self.usage).add(event.usage)
        if kind is EventType.STEP_STATUS_CHANGED:
            self._apply_step(step, event)
        elif kind is EventType.STEP_NOTHING_TO_UNDO:
            step.nothing_to_undo = True
        elif kind is EventType.STEP_RETRY_SCHEDULED and event.error is not None:
            record = step.compensation if compensating else step
            assert record is not None
            record.error = event.error.message
            record.error_type = event.error.error_type

    def _apply_item(self, item: ItemResult, event: Event) -> None:
        """An event of one element of a for_each step: its status is its own, apart from
        the step's (which the step's own events change)."""
        new = event.step_status
        compensating = item.status is StepStatus.COMPENSATING or new in _COMPENSATION
        if event.usage is not None:
            (self.compensation_usage if compensating else self.usage).add(event.usage)
        if event.type is EventType.STEP_RETRY_SCHEDULED and event.error is not None:
            item.error, item.error_type = event.error.message, event.error.error_type
        if event.type is not EventType.STEP_STATUS_CHANGED or new is None:
            return
        item.status = new
        if new is StepStatus.RUNNING:
            item.attempts = event.attempt
            item.start_time = item.start_time or event.time
            item.end_time = None
        elif new is StepStatus.COMPENSATING:
            item.compensation_attempts = event.attempt
        elif new is StepStatus.PENDING:
            item.error, item.error_type, item.end_time = "", None, None
        elif new is StepStatus.COMPLETED:
            item.output, item.end_time = event.output, event.time
            item.error, item.error_type = "", None
        elif new is not StepStatus.COMPENSATED:
            if new is not StepStatus.COMPENSATION_FAILED:
                item.end_time = event.time
            if event.error is not None:
                item.error, item.error_type = event.error.message, event.error.error_type

    def _apply_execution(self, event: Event) -> None:
        status = event.status
        if status is ExecutionStatus.RUNNING and self.status.is_terminal:  # a retry
            self.deadline_start = self._active_time
            self.end_time = None
            self.error = None
            if event.limits is not None:
                self.limits = event.limits
        if status in _ACTIVE and self._active_since is None:
            self._active_since = event.time
            if self.start_time is None:
                self.start_time = event.time
        elif status not in _ACTIVE and self._active_since is not None:
            self._active_time += event.time - self._active_since
            self._active_since = None
        if status is ExecutionStatus.ROLLING_BACK:
            self.rolling_back = True
            self.end_time = None
        if status.is_terminal:
            self.end_time = event.time
            # ROLLED_BACK carries no error of its own: the failure that led to it stays.
            if event.error is not None or status is not ExecutionStatus.ROLLED_BACK:
                self.error = event.error
        self.status = status

    def _apply_step(self, step: StepResult, event: Event) -> None:
        new = event.step_status
        assert new is not None
        self._counts[step.status] -= 1
        self._counts[new] += 1
        step.status = new
        if new in _COMPENSATION:
            self._apply_compensation(step, new, event)
            return
        if new is StepStatus.WAITING:
            step.wait_start_time = event.time
            step.wait_deadline = event.wait_deadline
            return
        if new is StepStatus.RUNNING:
            step.attempts = event.attempt
            if step.start_time is None:
                step.start_time = event.time
            if event.item_count is not None and len(step.items) != event.item_count:
                step.items = [ItemResult(k) for k in range(event.item_count)]
            return
        if new is StepStatus.PENDING:  # to run again (RetryExecution); attempts go on
            step.end_time = None
            step.output = None
            step.error, step.error_type = "", None
            step.skipped_reason = ""
            # A gate waits for a decision of its own again, a wait for its own end.
            step.approval, step.wait_start_time, step.wait_deadline = None, None, None
            return
        step.end_time = event.time
        if new is StepStatus.SKIPPED:
            step.skipped_reason = event.message
        if step.start_time is None:  # it only waited (a signal, a sleep, a rejected gate)
            step.start_time = step.wait_start_time
        if new is StepStatus.COMPLETED:
            step.output = event.output
            step.error = ""
            step.error_type = None
        elif event.error is not None:
            step.error = event.error.message
            step.error_type = event.error.error_type

    @staticmethod
    def _apply_compensation(step: StepResult, new: StepStatus, event: Event) -> None:
        record = step.compensation
        if record is None:
            record = step.compensation = CompensationResult()
        record.status = new
        if new is StepStatus.COMPENSATING:
            record.attempts = event.attempt
            record.start_time = record.start_time or event.time
            record.end_time = None
        elif new is StepStatus.COMPENSATED:
            record.end_time = event.time
            record.output = event.output
            record.error, record.error_type = "", None
        elif event.error is not None:
            record.end_time = event.time
            record.error, record.error_type = event.error.message, event.error.error_type

    def execution_time(self, now: float) -> float:
        running = now - self._active_since if self._active_since is not None else 0.0
        return self._active_time + running

    def deadline_time(self, now: float) -> float:
        """Running time that counts against the plan deadline (it restarts on a retry)."""
        return self.execution_time(now) - self.deadline_start

    def count(self, status: StepStatus) -> int:
        return self._counts[status]

    def progress(self) -> Progress:
        c = self._counts
        return Progress(
            total_steps=len(self.steps),
            pending_steps=c[StepStatus.PENDING],
            running_steps=c[StepStatus.RUNNING],
            completed_steps=c[StepStatus.COMPLETED],
            failed_steps=c[StepStatus.FAILED],
            skipped_steps=c[StepStatus.SKIPPED],
            cancelled_steps=c[StepStatus.CANCELLED],
            compensating_steps=c[StepStatus.COMPENSATING],
            compensated_steps=c[StepStatus.COMPENSATED],
            compensation_failed_steps=c[StepStatus.COMPENSATION_FAILED],
            waiting_steps=c[StepStatus.WAITING],
        )

    def snapshot(self, now: float) -> ExecutionResult:
        """A copy that later events do not change."""
        return ExecutionResult(
            plan_id=self.plan.id,
            plan_name=self.plan.name,
            status=self.status,
            step_results=[_copy(s) for s in self.steps],
            execution_time=self.execution_time(now),
            resource_usage=self.usage.copy(),
            compensation_usage=self.compensation_usage.copy(),
            metadata=self.plan.metadata,
            error=self.error,
            progress=self.progress(),
            create_time=self.create_time,
            start_time=self.start_time,
            end_time=self.end_time,
            last_sequence=self.last_sequence,
            plan=self.plan,
        )


def _copy(step: StepResult) -> StepResult:
    return StepResult(
        step.step_id,
        step.step_name,
        step.status,
        step.output,
        step.error,
        step.error_type,
        step.attempts,
        step.start_time,
        step.end_time,
        replace(step.compensation) if step.compensation is not None else None,
        step.wait_start_time,
        step.wait_deadline,
        step.approval,
        step.nothing_to_undo,
        step.skipped_reason,
        [replace(item) for item in step.items],
    )
