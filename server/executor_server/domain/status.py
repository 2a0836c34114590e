"""Statuses of executions and steps, and the transitions between them (DESIGN.md)."""

from __future__ import annotations

from enum import IntEnum


class ExecutionStatus(IntEnum):
    """Values equal the wire enum's numbers, so conversion is a cast."""

    PENDING = 1
    RUNNING = 2
    COMPLETED = 3
    FAILED = 4
    CANCELLED = 5
    PAUSED = 6
    ROLLING_BACK = 7
    ROLLED_BACK = 8
    ROLLBACK_FAILED = 9

    @property
    def is_terminal(self) -> bool:
        """No transition leads out of it without a request (rollback)."""
        return self in _TERMINAL_EXECUTION


class StepStatus(IntEnum):
    PENDING = 1
    RUNNING = 2
    COMPLETED = 3
    FAILED = 4
    SKIPPED = 5
    CANCELLED = 6
    COMPENSATING = 7
    COMPENSATED = 8
    COMPENSATION_FAILED = 9
    #: Waiting for a decision, a signal or a time; holds no concurrency slot.
    WAITING = 10

    @property
    def is_compensation(self) -> bool:
        return self in (
            StepStatus.COMPENSATING,
            StepStatus.COMPENSATED,
            StepStatus.COMPENSATION_FAILED,
        )

    @property
    def is_settled(self) -> bool:
        """The step's forward run is over (it will not be attempted again)."""
        return self not in (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING)


class ExecutionErrorType(IntEnum):
    TOOL_NOT_FOUND = 1
    RESOURCE_EXHAUSTED = 2
    TIMEOUT = 3
    NETWORK = 4
    VALIDATION = 5
    TOOL_FAILED = 6
    DEPENDENCY_FAILED = 7
    CANCELLED = 8
    INTERNAL = 9
    REJECTED = 10


class DependencyRule(IntEnum):
    """When a step may run, given how its dependencies ended."""

    #: Every dependency COMPLETED; one SKIPPED skips it too.
    ALL_COMPLETED = 1
    #: Every dependency COMPLETED or was SKIPPED, none failed: the join after branches.
    NONE_FAILED = 2
    #: Every dependency settled, however: cleanup that runs even under fail-fast.
    ALL_DONE = 3


class EventType(IntEnum):
    EXECUTION_STATUS_CHANGED = 1
    STEP_STATUS_CHANGED = 2
    STEP_RETRY_SCHEDULED = 3
    STEP_PROGRESS = 4
    APPROVAL_DECIDED = 5
    SIGNAL_RECEIVED = 6
    #: A rollback reached a completed step that has no compensation (7: kept free).
    STEP_NOTHING_TO_UNDO = 8


class ApprovalDecision(IntEnum):
    APPROVE = 1
    REJECT = 2


_TERMINAL_EXECUTION = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.ROLLED_BACK,
        ExecutionStatus.ROLLBACK_FAILED,
    }
)

EXECUTION_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    ExecutionStatus.PENDING: frozenset({ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED}),
    ExecutionStatus.RUNNING: frozenset(
        {
            ExecutionStatus.COMPLETED,
            ExecutionStatus.FAILED,
            ExecutionStatus.CANCELLED,
            ExecutionStatus.PAUSED,
        }
    ),
    # A pause holds forward work or a rollback; resume returns to the one it held.
    ExecutionStatus.PAUSED: frozenset(
        {ExecutionStatus.RUNNING, ExecutionStatus.ROLLING_BACK, ExecutionStatus.CANCELLED}
    ),
    ExecutionStatus.COMPLETED: frozenset(),
    # RUNNING again: RetryExecution re-runs what did not complete.
    ExecutionStatus.FAILED: frozenset({ExecutionStatus.ROLLING_BACK, ExecutionStatus.RUNNING}),
    ExecutionStatus.CANCELLED: frozenset({ExecutionStatus.ROLLING_BACK, ExecutionStatus.RUNNING}),
    ExecutionStatus.ROLLING_BACK: frozenset(
        {ExecutionStatus.ROLLED_BACK, ExecutionStatus.ROLLBACK_FAILED, ExecutionStatus.PAUSED}
    ),
    ExecutionStatus.ROLLED_BACK: frozenset(),
    ExecutionStatus.ROLLBACK_FAILED: frozenset({ExecutionStatus.ROLLING_BACK}),
}


def can_transition(current: ExecutionStatus, target: ExecutionStatus) -> bool:
    return target in EXECUTION_TRANSITIONS[current]


# A step's forward run, then its undo. COMPLETED → COMPENSATION_FAILED and PENDING → FAILED
# are an attempt refused before it started (the budget was spent). A retry is RUNNING again.
# A gate, a signal or a sleep waits: PENDING → WAITING → RUNNING (approved) | COMPLETED
# (signalled, slept) | FAILED (rejected, timed out) | CANCELLED. RetryExecution sets FAILED,
# CANCELLED and SKIPPED steps PENDING again.
STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.PENDING: frozenset(
        {
            StepStatus.RUNNING,
            StepStatus.SKIPPED,
            StepStatus.CANCELLED,
            StepStatus.FAILED,
            StepStatus.WAITING,
        }
    ),
    StepStatus.WAITING: frozenset(
        {StepStatus.RUNNING, StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED}
    ),
    StepStatus.RUNNING: frozenset(
        {StepStatus.RUNNING, StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED}
    ),
    StepStatus.COMPLETED: frozenset({StepStatus.COMPENSATING, StepStatus.COMPENSATION_FAILED}),
    StepStatus.FAILED: frozenset({StepStatus.PENDING}),
    StepStatus.SKIPPED: frozenset({StepStatus.PENDING}),
    StepStatus.CANCELLED: frozenset({StepStatus.PENDING}),
    StepStatus.COMPENSATING: frozenset(
        {StepStatus.COMPENSATING, StepStatus.COMPENSATED, StepStatus.COMPENSATION_FAILED}
    ),
    StepStatus.COMPENSATED: frozenset(),
    # A rollback tried again retries what failed to undo.
    StepStatus.COMPENSATION_FAILED: frozenset(
        {StepStatus.COMPENSATING, StepStatus.COMPENSATION_FAILED}
    ),
}


def can_step_transition(current: StepStatus, target: StepStatus) -> bool:
    return target in STEP_TRANSITIONS[current]
