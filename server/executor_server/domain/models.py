"""The data model: plans and options (what clients send), results and events (what they get).

Inputs are frozen pydantic models with `extra="forbid"`, so a typo is an error. Records the
engine creates by the thousand per second (events, step results, usage) are slotted
dataclasses: they are built from already-validated data and pydantic's validation would only
cost time on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from executor_server.domain.status import (
    ApprovalDecision,
    DependencyRule,
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)

JsonObject = dict[str, Any]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(_Input):
    """Unset fields (None) inherit from the plan's policy, then from the defaults."""

    max_attempts: int | None = None
    initial_backoff: timedelta | None = None
    backoff_multiplier: float | None = None
    max_backoff: timedelta | None = None
    jitter: float | None = None
    non_retryable_error_types: frozenset[ExecutionErrorType] = frozenset()


class TimeoutPolicy(_Input):
    default_step_timeout: timedelta | None = None
    expected_duration_multiplier: float | None = None


class ResourceLimits(_Input):
    """Zero or None means unlimited."""

    max_cpu_cores: int = 0
    max_memory_mb: int = 0
    max_disk_space_mb: int = 0
    max_network_requests: int = 0
    max_execution_time: timedelta | None = None
    max_tool_invocations: int = 0


class ExecutionOptions(_Input):
    max_concurrent_steps: int = 0
    resource_limits: ResourceLimits = ResourceLimits()
    timeout_policy: TimeoutPolicy = TimeoutPolicy()
    retry_policy: RetryPolicy = RetryPolicy()
    auto_rollback: bool = False
    progress_reporting: bool = False
    continue_on_failure: bool = False
    rollback_on_cancel: bool = False


class ToolExecution(_Input):
    tool_name: str
    arguments: JsonObject = Field(default_factory=dict)


class Compensation(_Input):
    tool_name: str
    arguments: JsonObject = Field(default_factory=dict)
    retry_policy: RetryPolicy | None = None
    timeout: timedelta | None = None


class ValidationRule(_Input):
    json_schema: JsonObject | None = None
    description: str = ""


class WaitForSignal(_Input):
    name: str
    timeout: timedelta | None = None
    payload_schema: JsonObject | None = None


class Sleep(_Input):
    """Exactly one of the two (validation checks it)."""

    duration: timedelta | None = None
    until: float | None = None  # epoch seconds


class ApprovalGate(_Input):
    prompt: str = ""
    timeout: timedelta | None = None
    on_timeout: ApprovalDecision = ApprovalDecision.REJECT
    allow_edit: bool = False


class ForEach(_Input):
    """Run the step once per element of a list: `items` is a whole-string reference to an
    ancestor's output (`${steps.<name>.output[.<path>]}`)."""

    items: str
    #: Elements run at once; 0: as many as the plan's concurrency allows.
    max_parallel: int = 0


class ActionStep(_Input):
    id: str
    name: str = ""
    # What the step does: one of the three.
    tool_execution: ToolExecution | None = None
    wait_for_signal: WaitForSignal | None = None
    sleep: Sleep | None = None
    parameters: JsonObject = Field(default_factory=dict)
    dependencies: tuple[str, ...] = ()
    expected_duration: timedelta | None = None
    timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    validation_rules: tuple[ValidationRule, ...] = ()
    compensation: Compensation | None = None
    approval: ApprovalGate | None = None
    #: A CEL condition over its ancestors' outputs and statuses; false: the step is SKIPPED.
    when: str = ""
    dependency_rule: DependencyRule = DependencyRule.ALL_COMPLETED
    for_each: ForEach | None = None

    @property
    def waits(self) -> bool:
        """The step waits (for a decision, a signal or a time) once it is ready."""
        return (
            self.approval is not None or self.wait_for_signal is not None or self.sleep is not None
        )

    @property
    def label(self) -> str:
        """How messages name the step: its name when it has one."""
        return self.name or self.id


class ActionPlan(_Input):
    id: str
    name: str = ""
    steps: tuple[ActionStep, ...] = ()
    metadata: JsonObject = Field(default_factory=dict)


# ------------------------------------------------------------------ runtime records


@dataclass(frozen=True, slots=True)
class ExecutionError:
    error_type: ExecutionErrorType
    message: str
    retryable: bool = False
    step_id: str = ""


@dataclass(slots=True)
class ResourceUsage:
    cpu_time_ms: float = 0.0
    memory_peak_mb: float = 0.0
    disk_reads: int = 0
    disk_writes: int = 0
    network_requests: int = 0
    tool_invocations: int = 0

    def add(self, other: ResourceUsage) -> None:
        self.cpu_time_ms += other.cpu_time_ms
        self.memory_peak_mb = max(self.memory_peak_mb, other.memory_peak_mb)
        self.disk_reads += other.disk_reads
        self.disk_writes += other.disk_writes
        self.network_requests += other.network_requests
        self.tool_invocations += other.tool_invocations

    def copy(self) -> ResourceUsage:
        return ResourceUsage(
            self.cpu_time_ms,
            self.memory_peak_mb,
            self.disk_reads,
            self.disk_writes,
            self.network_requests,
            self.tool_invocations,
        )


@dataclass(slots=True)
class CompensationResult:
    status: StepStatus = StepStatus.COMPENSATING
    output: Any = None
    error: str = ""
    error_type: ExecutionErrorType | None = None
    attempts: int = 0
    start_time: float | None = None
    end_time: float | None = None

    @property
    def execution_time(self) -> float:
        if self.start_time is None:
            return 0.0
        return (self.end_time or self.start_time) - self.start_time


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """How a gate was decided; `arguments` replace the step's when the decision edited them."""

    decision: ApprovalDecision
    comment: str = ""
    actor: str = ""
    time: float = 0.0
    timed_out: bool = False
    arguments: Any = None


@dataclass(slots=True)
class ItemResult:
    """One element of a for_each step: its own attempts, outcome and undo."""

    index: int
    #: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, then COMPENSATING, COMPENSATED or
    #: COMPENSATION_FAILED once a rollback reaches it.
    status: StepStatus = StepStatus.PENDING
    output: Any = None
    error: str = ""
    error_type: ExecutionErrorType | None = None
    attempts: int = 0
    compensation_attempts: int = 0
    start_time: float | None = None
    end_time: float | None = None

    @property
    def retry_count(self) -> int:
        return max(self.attempts - 1, 0)

    @property
    def execution_time(self) -> float:
        if self.start_time is None:
            return 0.0
        return (self.end_time or self.start_time) - self.start_time


@dataclass(slots=True)
class StepResult:
    step_id: str
    step_name: str = ""
    status: StepStatus = StepStatus.PENDING
    output: Any = None
    error: str = ""
    error_type: ExecutionErrorType | None = None
    attempts: int = 0
    start_time: float | None = None  # epoch seconds
    end_time: float | None = None
    compensation: CompensationResult | None = None
    #: When it started waiting (a gate, a signal or a sleep), and when that wait ends by
    #: itself (None: it waits forever).
    wait_start_time: float | None = None
    wait_deadline: float | None = None
    approval: ApprovalRecord | None = None
    #: A rollback reached this completed step and had nothing to run: it declares no
    #: compensation and its tool cannot undo its calls.
    nothing_to_undo: bool = False
    #: Why it was SKIPPED ("condition false", ...); empty otherwise.
    skipped_reason: str = ""
    #: A for_each step's elements, in order (empty for other steps).
    items: list[ItemResult] = field(default_factory=list)

    @property
    def retry_count(self) -> int:
        return max(self.attempts - 1, 0)

    @property
    def execution_time(self) -> float:
        if self.start_time is None:
            return 0.0
        return (self.end_time or self.start_time) - self.start_time


@dataclass(frozen=True, slots=True)
class Progress:
    total_steps: int
    pending_steps: int
    running_steps: int
    completed_steps: int
    failed_steps: int
    skipped_steps: int
    cancelled_steps: int
    compensating_steps: int
    compensated_steps: int
    compensation_failed_steps: int
    waiting_steps: int = 0


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    plan_id: str
    plan_name: str
    status: ExecutionStatus
    step_results: list[StepResult]
    execution_time: float  # seconds, paused time excluded
    resource_usage: ResourceUsage
    compensation_usage: ResourceUsage
    metadata: JsonObject
    error: ExecutionError | None
    progress: Progress
    create_time: float
    start_time: float | None
    end_time: float | None
    last_sequence: int
    plan: ActionPlan  # for what results echo back (step parameters, names)


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """An approval gate waiting for a decision, as the inbox lists it."""

    plan_id: str
    plan_name: str
    step_id: str
    step_name: str
    position: int  # in the plan
    tool_name: str
    prompt: str  # references resolved
    arguments: Any  # references resolved, secrets not
    wait_start_time: float
    deadline: float | None
    on_timeout: ApprovalDecision
    allow_edit: bool


@dataclass(slots=True)  # not frozen, which costs 6x to build; never changed once built
class Event:
    """One transition, numbered per execution from 1 without gaps.

    Events are the journal: folding them in order rebuilds an execution's state, so they
    carry everything a transition changed (the output of a completed step, the usage of an
    attempt, the error of a failure).
    """

    sequence: int
    plan_id: str
    time: float  # epoch seconds
    type: EventType
    status: ExecutionStatus  # the execution's status after this event
    step_id: str = ""
    step_name: str = ""
    step_status: StepStatus | None = None
    attempt: int = 0
    message: str = ""
    error: ExecutionError | None = None
    output: Any = None
    usage: ResourceUsage | None = None
    retry_delay: float | None = None
    progress: float | None = None
    #: The name of the caller who asked for this transition; "" for the engine's own.
    actor: str = ""
    #: APPROVAL_DECIDED: the decision (its comment is the message, edited arguments the
    #: output). SIGNAL_RECEIVED and a step WAITING for one: the signal's name. A step
    #: starting to wait: when its wait ends by itself.
    decision: ApprovalDecision | None = None
    signal: str = ""
    wait_deadline: float | None = None
    #: On the RUNNING event of a RetryExecution: the resource limits that replace the
    #: plan's from then on (None: they stay).
    limits: ResourceLimits | None = None
    #: Set on the events of one element of a for_each step: its index.
    item_index: int | None = None
    #: On the event that starts a for_each step: how many elements it has.
    item_count: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.type is EventType.EXECUTION_STATUS_CHANGED and self.status.is_terminal
