"""The engine's decisions: a pure state machine, `handle(command) -> Transition`.

No asyncio and no I/O here, in the manner of sans-IO protocol libraries (h11, h2). The
runner (engine/runner.py) turns the world into commands (a request, an attempt that ended,
a timer that fired) and performs the effects the machine returns (start or cancel an
attempt, arm or disarm a timer, answer a request once a sequence is durable); the machine
alone decides what happens, so the same commands always give the same events.

Where state lives:
- `ExecutionState` (engine/state.py) is the fold of the journal: statuses, outputs, usage.
  Every event the machine emits is applied to it at once, and recovery is replaying the
  journal through the same fold, then `Recover`.
- The machine adds only what is in flight and so is never journaled: the phase, the ready
  heap, the dependency counters, the attempts running, the steps backing off or waiting.
  All of it is derived again from the fold on recovery (a wait's deadline is journaled).

Where durability is decided: here, as data. `StartAttempt.after` is the sequence that must
be durable before a tool that is not idempotent runs (a crash must never hide an attempt
that may have run); `Reply.sequence` is what a request's answer reports, so it is sent only
once that is durable. The runner honours both in one place each.

Scheduling is dependency counting: a step waits on a counter of unfinished dependencies and
enters a ready heap ordered by plan position when it reaches zero, so among ready steps the
earlier one starts first. Rollback runs the same machinery over the reversed graph: a
completed step is compensated once every completed step that depended on it is, later plan
positions first. A step waiting out a retry backoff holds no concurrency slot.

Waiting: a step with an approval gate, a signal wait or a sleep enters WAITING when it is
released (`_release`), holding no slot, exactly like a backoff; it leaves on Approve, Signal
or its TimerKind.WAIT timer (a gate's or a signal's timeout, a sleep's end, all absolute
times journaled in its WAITING event). An approved gate joins the ready heap and its tool
starts like any other step, so a decision during a pause takes effect on resume.

Branching: a step's dependencies are counted until each has settled (`_settle`), then its
dependency rule and its `when` decide (`_step_ready`): it is released (runs, or first
waits), or it is SKIPPED. A step that can no longer run under its rule (a dependency failed
or was skipped) is skipped at once. Under fail-fast a failure skips everything pending
except the ALL_DONE steps (cleanup), which run once their dependencies have settled
(`_cleaning_up`); a cancel stops those too. Re-running from a failure (`Retry`) sets
FAILED, CANCELLED and SKIPPED steps back to PENDING and begins forward work again:
completed steps keep their outputs.

Fan-out: a for_each step is RUNNING while its elements run, each an attempt of its own
keyed (step, item) where a step's own attempt is (step, -1). When its turn in the ready heap
comes (`_next_element`) it opens (`_open`: the list is read from the output it refers to),
starts one element and goes back in the heap while it has elements waiting and fewer than
`max_parallel` running, so elements compete for slots in plan order like steps do. Element
events carry `item_index`; the fold keeps each element's record, so recovery reopens it.

Each new kind of step is a command, an event and maybe an effect here, and a case in the
runner's `_perform` if it has a new effect.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from executor_server.domain.errors import FailedPrecondition, IllegalTransition, StepError, clip
from executor_server.domain.frozen import FrozenList, freeze
from executor_server.domain.limits import MAX_PROMPT_CHARS, Limits
from executor_server.domain.models import (
    Event,
    ExecutionError,
    ItemResult,
    ResourceLimits,
    ResourceUsage,
)
from executor_server.domain.status import (
    STEP_TRANSITIONS,
    ApprovalDecision,
    DependencyRule,
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
    can_step_transition,
    can_transition,
)
from executor_server.engine.conditions import ConditionError
from executor_server.engine.program import Program
from executor_server.engine.references import ABSENT, ITEM, ITEM_INDEX
from executor_server.engine.secrets import Secrets
from executor_server.engine.sizes import TooLarge, json_size
from executor_server.engine.state import ExecutionState
from executor_server.engine.waits import Gate, SignalWait, SleepWait, deadline, rfc3339
from executor_server.tools.protocol import Budget

#: How long a cancelled attempt may take to stop before it is recorded as stopped anyway
#: (its task is still cancelled; its late outcome is ignored).
STOP_GRACE_SECONDS = 30.0

ES = ExecutionStatus
SS = StepStatus

# Statuses of a step whose forward work completed: its output exists and it may need undoing.
_DID_RUN = frozenset({SS.COMPLETED, SS.COMPENSATING, SS.COMPENSATED, SS.COMPENSATION_FAILED})
# A step's forward run has ended: its dependents may be decided.
_SETTLED = frozenset({SS.COMPLETED, SS.FAILED, SS.SKIPPED, SS.CANCELLED})
# Steps whose output a reference may read: null for those that did not complete.
_READABLE = _DID_RUN | _SETTLED
# What RetryExecution runs again.
_RETRIED = frozenset({SS.FAILED, SS.CANCELLED, SS.SKIPPED})


class Phase(Enum):
    """What the machine is doing; with the status (which adds PAUSED) it is the whole state
    of control. A new kind of step adds commands and effects, not flags."""

    NEW = "new"  # built, not started nor recovered
    FORWARD = "forward"  # running the plan (status RUNNING or PAUSED)
    STOPPING = "stopping"  # forward work ends early: running attempts wind down
    ROLLBACK = "rollback"  # compensating (status ROLLING_BACK or PAUSED)
    ROLLBACK_STOPPING = "rollback-stopping"  # a cancelled rollback winds down
    ENDED = "ended"  # terminal and idle; a rollback may still be requested


_STOPPING = (Phase.STOPPING, Phase.ROLLBACK_STOPPING)


# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class Start:
    """Run a new execution (its state is empty); `by` names who submitted it."""

    by: str = ""


@dataclass(frozen=True, slots=True)
class Recover:
    """Continue from the journal already folded into the state."""


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """An attempt the machine started has ended, one way or another."""

    step: int
    attempt: int
    compensation: bool
    output: Any = None
    error: ExecutionError | None = None
    #: It ended because the machine cancelled it (not by timeout nor its own error).
    cancelled: bool = False
    usage: ResourceUsage | None = None
    #: The least the next attempt must wait (the other side's Retry-After).
    retry_after: float = 0.0
    #: The element of a for_each step it ran for; -1 for the step's own attempt.
    item: int = -1


class TimerKind(Enum):
    RETRY = "retry"  # a step's backoff is over
    DEADLINE = "deadline"  # max_execution_time
    STOP_GRACE = "stop-grace"  # cancelled attempts had their time to stop
    WAIT = "wait"  # a step's wait ends by itself: a sleep's end, a gate's or signal's timeout


@dataclass(frozen=True, slots=True)
class Timer:
    kind: TimerKind
    step: int = -1
    item: int = -1


DEADLINE = Timer(TimerKind.DEADLINE)
STOP_GRACE = Timer(TimerKind.STOP_GRACE)


@dataclass(frozen=True, slots=True)
class TimerFired:
    timer: Timer


@dataclass(frozen=True, slots=True)
class ReportProgress:
    step: int
    attempt: int
    fraction: float
    message: str
    item: int = -1


@dataclass(frozen=True, slots=True)
class Pause:
    ticket: int = 0
    by: str = ""  # who asks, named in the event (its actor)


@dataclass(frozen=True, slots=True)
class Resume:
    ticket: int = 0
    by: str = ""


@dataclass(frozen=True, slots=True)
class Cancel:
    ticket: int = 0
    reason: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True)
class Rollback:
    ticket: int = 0
    #: Answer once the rollback has started, not when it has ended.
    detach: bool = False
    by: str = ""


@dataclass(frozen=True, slots=True)
class Approve:
    """Decide the approval gate of step `step`; `arguments` (checked against the tool's
    input schema by the caller) replace the step's own when not None."""

    ticket: int = 0
    step: int = -1
    decision: ApprovalDecision = ApprovalDecision.APPROVE
    arguments: Any = None
    comment: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True)
class Signal:
    """The signal that step `step` waits for has come, with `payload` (already checked
    against its schema by the caller)."""

    ticket: int = 0
    step: int = -1
    payload: Any = None
    by: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    """Run a FAILED or CANCELLED execution again from where it stopped (redrive)."""

    ticket: int = 0
    #: Answer once it runs again, not when it has ended.
    detach: bool = False
    by: str = ""
    #: Replace the resource limits from now on (None: keep them).
    limits: ResourceLimits | None = None


@dataclass(frozen=True, slots=True)
class AwaitEnd:
    """Answer once the execution has ended and has nothing more to do."""

    ticket: int = 0


Command = (
    Start
    | Recover
    | AttemptEnded
    | TimerFired
    | ReportProgress
    | Pause
    | Resume
    | Cancel
    | Rollback
    | Approve
    | Signal
    | Retry
    | AwaitEnd
)


# ------------------------------------------------------------------ effects


@dataclass(frozen=True, slots=True)
class StartAttempt:
    step: int
    attempt: int
    compensation: bool
    #: Run the tool only once this sequence is durable (0: at once).
    after: int
    #: The element of a for_each step to run it for; -1 for a plain step.
    item: int = -1


@dataclass(frozen=True, slots=True)
class CancelAttempt:
    step: int
    attempt: int
    compensation: bool
    item: int = -1


@dataclass(frozen=True, slots=True)
class ArmTimer:
    timer: Timer
    delay: float  # seconds


@dataclass(frozen=True, slots=True)
class DisarmTimer:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer request `ticket` with `status` once `sequence` is durable."""

    ticket: int
    sequence: int
    status: ExecutionStatus


Effect = StartAttempt | CancelAttempt | ArmTimer | DisarmTimer | Reply


@dataclass(slots=True)
class Transition:
    events: list[Event] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


# ------------------------------------------------------------------ the machine


class Machine:
    """One execution's decisions. Raises FailedPrecondition for a request its state does not
    allow (nothing changes), IllegalTransition if it ever tried a forbidden transition."""

    def __init__(
        self,
        program: Program,
        state: ExecutionState,
        *,
        clock: Callable[[], float] = time.time,
        secrets: Secrets | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.program = program
        self._limits = limits or Limits()
        self.state = state
        self._clock = clock
        # What steps produce is masked before it becomes an event: every secret, and the
        # write-only arguments of the steps that started (`hide`). The secrets may be
        # reloaded while serving (SIGHUP): their generation tells.
        self.secrets = secrets or Secrets()
        self._hidden: set[str] = set()
        self._masker = self.secrets.masker()
        self._masker_generation = self.secrets.generation
        #: Who asked for the stop or the rollback under way, for its events.
        self._requested_by = ""
        self._steps = program.plan.steps
        self._plan_id = program.plan.id
        options = program.options
        self._fail_fast = not options.continue_on_failure
        #: Shared with tools through their contexts: they count network requests and disk.
        self.budget = Budget(state.limits or options.resource_limits, state.usage.copy())
        self.budget.used.add(state.compensation_usage)
        self._deadline = _seconds(self.budget.limits)
        self.phase = Phase.NEW
        self._stop: tuple[ExecutionStatus, ExecutionError | None] | None = None
        self._first_failure: ExecutionError | None = None
        self._ready: list[int] = []  # a heap of positions (negated while rolling back)
        self._waiting_on: list[int] = []
        self._attempts: list[int] = [s.attempts for s in state.steps]
        #: (step, item) -> the attempt in flight; item is -1 but for a for_each's elements.
        self.running: dict[tuple[int, int], int] = {}
        self._backing_off: set[tuple[int, int]] = set()
        self._fan_outs: dict[int, _Elements] = {}  # the for_each steps open now
        self._took_part: list[bool] = []  # rolling back: the steps that have work to undo
        self._undone: set[int] = set()  # rolling back: the for_each steps done with
        self._waiting: set[int] = set()  # WAITING for a decision, a signal or a time
        self._interrupted: list[int] = []  # attempts a previous process left running
        self._on_phase_end: list[int] = []  # tickets answered when the phase ends
        self._on_end: list[int] = []  # tickets answered when nothing more is to be done
        #: Stopping after a failure, ALL_DONE steps still run (fail-fast's cleanup).
        self._cleaning_up = False
        self._out = Transition()

    # ------------------------------------------------------------ the one entry point

    def handle(self, command: Command) -> Transition:
        """Apply one command; returns the events it journals and the effects to perform."""
        self._out = Transition()
        match command:
            case AttemptEnded():
                self._attempt_ended(command)
            case TimerFired(timer):
                self._timer_fired(timer)
            case ReportProgress():
                self._progress(command)
            case Start(by):
                self._start(by)
            case Recover():
                self._recover()
            case Pause(ticket, by):
                self._pause(ticket, by)
            case Resume(ticket, by):
                self._resume(ticket, by)
            case Cancel(ticket, reason, by):
                self._cancel(ticket, reason, by)
            case Rollback(ticket, detach, by):
                self._rollback(ticket, detach, by)
            case Approve():
                self._approve(command)
            case Signal():
                self._signal(command)
            case Retry(ticket, detach, by, limits):
                self._retry(ticket, detach, by, limits)
            case AwaitEnd(ticket):
                self._on_end.append(ticket)
        self._advance()
        out, self._out = self._out, Transition()
        return out

    @property
    def status(self) -> ExecutionStatus:
        return self.state.status

    @property
    def compensating(self) -> bool:
        return self.phase in (Phase.ROLLBACK, Phase.ROLLBACK_STOPPING)

    # ------------------------------------------------------------ events

    def _emit(
        self,
        type: EventType,
        *,
        status: ExecutionStatus | None = None,
        step: int | None = None,
        step_status: StepStatus | None = None,
        attempt: int = 0,
        message: str = "",
        error: ExecutionError | None = None,
        output: Any = None,
        usage: ResourceUsage | None = None,
        retry_delay: float | None = None,
        progress: float | None = None,
        actor: str = "",
        decision: ApprovalDecision | None = None,
        signal: str = "",
        wait_deadline: float | None = None,
        limits: ResourceLimits | None = None,
        item: int | None = None,
    ) -> int:
        """Check one transition against the tables, fold it and journal it; returns its
        sequence. Raises IllegalTransition."""
        if self._masking():
            message, output, error = self._mask(message, output, error)
        state = self.state
        step_id = step_name = ""
        if step is not None:
            action = self.program.plan.steps[step]
            step_id, step_name = action.id, action.name
            if step_status is not None:
                record = state.steps[step] if item is None else state.steps[step].items[item]
                _check_step(record.status, step_status)
        if status is not None and (state.last_sequence or status is not ES.PENDING):
            _check_execution(state.status, status)  # the first event creates it, PENDING
        event = Event(
            sequence=state.last_sequence + 1,
            plan_id=self.program.plan.id,
            time=self._clock(),
            type=type,
            status=status if status is not None else state.status,
            step_id=step_id,
            step_name=step_name,
            step_status=step_status,
            attempt=attempt,
            message=message,
            error=error,
            output=output,
            usage=usage,
            retry_delay=retry_delay,
            progress=progress,
            actor=actor,
            decision=decision,
            signal=signal,
            wait_deadline=wait_deadline,
            limits=limits,
            item_index=item,
        )
        state.apply(event)
        self._out.events.append(event)
        return event.sequence

    def _masking(self) -> bool:
        if self._masker_generation != self.secrets.generation:  # reloaded meanwhile
            self._masker = self.secrets.masker(self._hidden)
            self._masker_generation = self.secrets.generation
        return self._masker is not None

    def _mask(
        self, message: str, output: Any, error: ExecutionError | None
    ) -> tuple[str, Any, ExecutionError | None]:
        masker = self._masker
        assert masker is not None  # checked by _masking
        if error is not None:
            error = replace(error, message=masker.text(error.message))
        if output is not None:
            output = freeze(masker.value(output))
        return masker.text(message), output, error

    def hide(self, values: Iterable[str]) -> None:
        """Mask these values (write-only arguments a step was given) in events from now on."""
        new = set(values) - self._hidden
        if new:
            self._hidden |= new
            self._masker = self.secrets.masker(self._hidden)

    def _set_status(
        self,
        status: ExecutionStatus,
        message: str,
        error: ExecutionError | None = None,
        actor: str = "",
    ) -> int:
        return self._emit(
            EventType.EXECUTION_STATUS_CHANGED,
            status=status,
            message=message,
            error=error,
            actor=actor,
        )

    def _set_step(
        self,
        i: int,
        status: StepStatus,
        attempt: int,
        message: str,
        *,
        error: ExecutionError | None = None,
        output: Any = None,
        usage: ResourceUsage | None = None,
        item_count: int | None = None,
    ) -> int:
        """`_emit` for a step's status, the one event of every step start and end: built
        directly, as it is the hot path. Raises IllegalTransition."""
        state = self.state
        current = state.steps[i].status
        if status not in STEP_TRANSITIONS[current]:
            raise IllegalTransition("step", current.name, status.name)
        if self._masking():
            message, output, error = self._mask(message, output, error)
        action = self._steps[i]
        event = Event(
            state.last_sequence + 1,
            self._plan_id,
            self._clock(),
            EventType.STEP_STATUS_CHANGED,
            state.status,
            action.id,
            action.name,
            status,
            attempt,
            message,
            error,
            output,
            usage,
        )
        if item_count is not None:
            event.item_count = item_count
        state.apply(event)
        self._out.events.append(event)
        return event.sequence

    def _set_item(
        self,
        i: int,
        k: int,
        status: StepStatus,
        attempt: int,
        message: str,
        *,
        error: ExecutionError | None = None,
        output: Any = None,
        usage: ResourceUsage | None = None,
    ) -> int:
        """An element's status change. Raises IllegalTransition."""
        return self._emit(
            EventType.STEP_STATUS_CHANGED,
            step=i,
            step_status=status,
            attempt=attempt,
            message=f"item {k}: {message}",
            error=error,
            output=output,
            usage=usage,
            item=k,
        )

    def _reply(self, ticket: int, status: ExecutionStatus | None = None) -> None:
        if ticket:
            state = self.state
            self._out.effects.append(Reply(ticket, state.last_sequence, status or state.status))

    def _refuse(self, operation: str) -> FailedPrecondition:
        status = self.state.status
        return FailedPrecondition(
            f"cannot {operation} an execution that is {status.name}",
            plan_id=self.program.plan.id,
            status=status,
        )

    # ------------------------------------------------------------ starting

    def _start(self, by: str) -> None:
        if self.phase is not Phase.NEW or self.state.last_sequence:
            raise IllegalTransition("execution", self.phase.value, "start")
        self._set_status(ES.PENDING, "accepted", actor=by)
        self._set_status(ES.RUNNING, "started")
        self._begin_forward()

    def _recover(self) -> None:
        """Settle what a previous process left in flight, then continue.

        An attempt (or compensation) that was running when the process died is run again
        only if its tool is idempotent or its retry policy allows another attempt; else the
        step fails (or its compensation does).
        """
        if self.phase is not Phase.NEW:
            raise IllegalTransition("execution", self.phase.value, "recover")
        state = self.state
        failed = next((s for s in state.steps if s.status is SS.FAILED), None)
        if failed is not None:
            self._first_failure = ExecutionError(
                failed.error_type or ExecutionErrorType.INTERNAL,
                failed.error,
                step_id=failed.step_id,
            )
        for i, step in enumerate(state.steps):
            if step.items and (
                step.status in (SS.RUNNING, SS.COMPENSATING)
                or any(t.status is SS.COMPENSATING for t in step.items)
            ):
                self._recover_elements(i)
            elif step.status is SS.RUNNING:
                n = step.attempts
                if self._first_failure is not None and self._fail_fast:
                    lost = _interrupted(n, step.step_id)
                    self._set_step(i, SS.CANCELLED, n, lost.message, error=lost)
                elif self._settle_interrupted(i, n, compensation=False):
                    self._interrupted.append(i)
            elif step.status is SS.COMPENSATING and step.compensation is not None:
                # Run again or not, the rollback's own ordering takes it from here.
                self._settle_interrupted(i, step.compensation.attempts, compensation=True)
        status = state.status
        if status.is_terminal:
            self.phase = Phase.ENDED  # revived to be rolled back
        elif state.rolling_back:
            self._begin_rollback()
        else:
            if status is ES.PENDING:
                self._set_status(ES.RUNNING, "started")
            self._begin_forward()
            if self._first_failure is not None and self._fail_fast:
                self._halt(ES.FAILED, None)

    def _recover_elements(self, i: int) -> None:
        """`_recover` for a for_each step: each interrupted element as a step would be."""
        step = self.state.steps[i]
        if step.status is not SS.RUNNING:  # rolling back
            for item in step.items:
                if item.status is SS.COMPENSATING:
                    self._settle_interrupted(
                        i, item.compensation_attempts, compensation=True, item=item.index
                    )
            return
        halted = self._first_failure is not None and self._fail_fast
        failed: ExecutionError | None = None
        for item in step.items:
            if item.status is not SS.RUNNING:
                continue
            if halted:
                lost = _interrupted(item.attempts, step.step_id)
                self._set_item(i, item.index, SS.CANCELLED, item.attempts, lost.message, error=lost)
            elif not self._settle_interrupted(
                i, item.attempts, compensation=False, item=item.index
            ):
                failed = failed or ExecutionError(
                    ExecutionErrorType.INTERNAL,
                    f"item {item.index}: {item.error}",
                    step_id=step.step_id,
                )
        if halted:
            lost = _interrupted(0, step.step_id)
            self._set_step(i, SS.CANCELLED, 0, lost.message, error=lost)
        elif failed is not None:
            self._set_step(i, SS.FAILED, 0, failed.message, error=failed)
            self._first_failure = self._first_failure or failed
        else:
            self._interrupted.append(i)  # it opens again when its turn comes

    def _settle_interrupted(
        self, i: int, attempt: int, *, compensation: bool, item: int = -1
    ) -> bool:
        """Whether the interrupted attempt runs again (else the step or its undo fails; for
        an element, the element does and the caller settles its step)."""
        step_id = self.program.plan.steps[i].id
        lost = _interrupted(attempt, step_id)
        undo = self.program.undo[i]
        if compensation and undo is not None:
            idempotent, retry, tool = undo.idempotent, undo.retry, undo.tool
        else:
            idempotent, retry = self.program.idempotent[i], self.program.retry[i]
            step_tool = self.program.tools[i]
            assert step_tool is not None  # only a step with a tool runs attempts
            tool = step_tool
        if idempotent or retry.allows_retry(attempt, lost.error_type, True):
            self._emit(
                EventType.STEP_RETRY_SCHEDULED,
                step=i,
                attempt=attempt,
                retry_delay=0.0,
                message=f"{lost.message}; running it again",
                error=lost,
                item=item if item >= 0 else None,
            )
            return True
        error = ExecutionError(
            ExecutionErrorType.INTERNAL,
            f"{lost.message}; tool {tool.spec.name!r} is not idempotent and the retry policy "
            "allows no further attempt, so it is not run again",
            step_id=step_id,
        )
        failed = SS.COMPENSATION_FAILED if compensation else SS.FAILED
        if item >= 0:
            self._set_item(i, item, failed, attempt, error.message, error=error)
            return False
        self._set_step(i, failed, attempt, error.message, error=error)
        if not compensation:
            self._first_failure = self._first_failure or error
        return False

    def _begin_forward(self) -> None:
        self.phase = Phase.FORWARD
        steps = self.state.steps
        self._waiting_on = [
            sum(1 for d in deps if steps[d].status not in _SETTLED)
            for deps in self.program.dependencies
        ]
        self._ready = list(self._interrupted)
        self._interrupted = []
        heapq.heapify(self._ready)
        # Listed first: deciding one may settle it and so decide others, once each.
        free = [
            i
            for i, waiting in enumerate(self._waiting_on)
            if waiting == 0 and steps[i].status is SS.PENDING
        ]
        for i, step in enumerate(steps):
            if step.status is SS.WAITING:  # waited when the previous process stopped
                self._continue_wait(i)
        for i in free:
            if self.phase is not Phase.FORWARD:
                break  # a condition that failed halted it
            if steps[i].status is SS.PENDING:
                self._step_ready(i)
        if self.state.status is ES.RUNNING and self.phase is Phase.FORWARD:
            self._arm_deadline()

    # ------------------------------------------------------------ branching

    def _settle(self, i: int) -> None:
        """Step i's forward run has ended: decide the dependents it was the last one for,
        and skip at once those that can no longer run under their rule."""
        phase = self.phase
        if phase is not Phase.FORWARD and not self._cleaning_up:
            return  # stopping: what is pending never runs, and ends with the phase
        steps, rules = self.state.steps, self.program.rules
        stack = [i]
        while stack:
            if self.phase is not phase or not (phase is Phase.FORWARD or self._cleaning_up):
                return  # a failure halted it meanwhile, which settled what is pending itself
            j = stack.pop()
            outcome = steps[j].status
            for d in self.program.dependents[j]:
                if steps[d].status is not SS.PENDING:
                    continue
                rule = rules[d]
                doomed = (rule is DependencyRule.ALL_COMPLETED and outcome is not SS.COMPLETED) or (
                    rule is DependencyRule.NONE_FAILED and outcome in (SS.FAILED, SS.CANCELLED)
                )
                if doomed:
                    self._skip_for(d, j)
                    stack.append(d)
                    continue
                self._waiting_on[d] -= 1
                if self._waiting_on[d] == 0 and self._step_ready(d, settle=False):
                    stack.append(d)

    def _step_ready(self, i: int, *, settle: bool = True) -> bool:
        """Every dependency of pending step i has settled: it is released (it runs, or first
        waits: the condition comes before any gate), or it is skipped or fails here. Returns
        whether it settled (with `settle`, its dependents are decided)."""
        steps = self.state.steps
        rule = self.program.rules[i]
        for d in self.program.dependencies[i]:
            outcome = steps[d].status
            if (rule is DependencyRule.ALL_COMPLETED and outcome is not SS.COMPLETED) or (
                rule is DependencyRule.NONE_FAILED and outcome in (SS.FAILED, SS.CANCELLED)
            ):
                self._skip_for(i, d)
                break
        else:
            condition = self.program.conditions[i]
            if condition is None:
                self._release(i)
                return False
            try:
                holds = condition.evaluate(self._view, self.program.plan.metadata)
            except ConditionError as exc:
                error = ExecutionError(
                    ExecutionErrorType.VALIDATION, exc.message, step_id=self._steps[i].id
                )
                self._set_step(i, SS.FAILED, self._attempts[i], exc.message, error=error)
                self._step_failed(i, error, settle=settle)
                return True
            if holds:
                self._release(i)
                return False
            self._set_step(i, SS.SKIPPED, self._attempts[i], "condition false")
        if settle:
            self._settle(i)
        return True

    def _skip_for(self, i: int, dependency: int) -> None:
        """Skip step i, which dependency's outcome keeps from ever running."""
        label = self._steps[dependency].label
        before = self.state.steps[dependency]
        if before.status is SS.SKIPPED:
            why = f"dependency {label!r} was skipped"
            if before.error_type is not ExecutionErrorType.DEPENDENCY_FAILED:
                self._set_step(i, SS.SKIPPED, self._attempts[i], f"not run: {why}")
                return
            why = f"{why} ({before.error})"  # a failure upstream: it goes on down
        else:
            why = f"dependency {label!r} " + (
                "failed" if before.status is SS.FAILED else "was cancelled"
            )
        error = ExecutionError(ExecutionErrorType.DEPENDENCY_FAILED, why, step_id=self._steps[i].id)
        self._set_step(i, SS.SKIPPED, self._attempts[i], f"not run: {why}", error=error)

    def _view(self, key: str) -> tuple[str, Any]:
        """What a condition reads of the step named `key`: its status and output."""
        step = self.state.steps[self.program.index[key]]
        return step.status.name, step.output if step.status in _DID_RUN else None

    def _retry(self, ticket: int, detach: bool, by: str, limits: ResourceLimits | None) -> None:
        if self.phase is not Phase.ENDED or self.state.status not in (ES.FAILED, ES.CANCELLED):
            raise self._refuse("retry")
        if limits is not None:
            self.budget.limits = limits
            self._deadline = _seconds(limits)
        message = _by("retry started", by)
        self._emit(
            EventType.EXECUTION_STATUS_CHANGED,
            status=ES.RUNNING,
            message=message,
            actor=by,
            limits=limits,
        )
        for i, step in enumerate(self.state.steps):
            if step.status in _RETRIED:
                self._set_step(i, SS.PENDING, step.attempts, "pending again: retry")
                for item in step.items:
                    if item.status in _RETRIED:
                        self._set_item(i, item.index, SS.PENDING, item.attempts, "pending again")
        self._first_failure = None
        self._requested_by = ""
        self._begin_forward()
        if detach:
            self._reply(ticket)
        else:
            self._on_end.append(ticket)

    # ------------------------------------------------------------ fan-out

    def _next_element(self, i: int, compensation: bool) -> None:
        """For_each step i's turn for a slot: open it if it is not, start its next element."""
        elements = self._fan_outs.get(i)
        if elements is None:
            # The heap may still hold a fan-out that ended meanwhile (an element failed the
            # step): only one that has not run, or was interrupted, opens.
            if compensation:
                if i in self._undone:
                    return
                elements = self._open_undo(i)
            elif self.state.steps[i].status in (SS.PENDING, SS.RUNNING):
                elements = self._open(i)
            if elements is None:
                return  # it settled at once, or had ended
        elements.queued = False
        if not elements.pending or elements.failed is not None:
            return
        k = abs(heapq.heappop(elements.pending))
        self._begin_attempt(i, compensation=compensation, item=k)
        self._requeue(i)

    def _requeue(self, i: int) -> None:
        """Back in the ready heap, if it has an element waiting and a slot of its own."""
        elements = self._fan_outs.get(i)
        if (
            elements is not None
            and not elements.queued
            and elements.failed is None
            and elements.pending
            and elements.running < elements.limit
        ):
            elements.queued = True
            heapq.heappush(self._ready, -i if self.compensating else i)

    def _open(self, i: int) -> _Elements | None:
        """Read the list step i runs over and mark it RUNNING; None when it settled at once
        (not a list, too long, or empty)."""
        step = self.state.steps[i]
        fan_out = self.program.fan_outs[i]
        assert fan_out is not None
        limit = self._limits.max_items_per_step
        error = None
        try:
            values = fan_out.items.resolve(self.outputs(), self._limits.max_message_bytes)
        except StepError as exc:
            error = ExecutionError(exc.error_type, f"for_each.items: {exc.message}")
        else:
            if not isinstance(values, list):
                error = ExecutionError(
                    ExecutionErrorType.VALIDATION,
                    f"for_each.items is {_json_kind(values)}, not a list",
                )
            elif len(values) > limit:
                error = ExecutionError(
                    ExecutionErrorType.RESOURCE_EXHAUSTED,
                    f"for_each over {len(values):,} items; a step may run over at most "
                    f"{limit:,} (--max-items-per-step)",
                )
        if error is not None:
            error = replace(error, step_id=self._steps[i].id)
            self._set_step(i, SS.FAILED, 0, error.message, error=error)
            self._step_failed(i, error)
            return None
        if step.status is SS.PENDING:
            count = len(values)
            message = f"running over {count:,} item{'s' if count != 1 else ''}"
            self._set_step(i, SS.RUNNING, 0, message, item_count=count)
        items = step.items
        pending = [k for k, item in enumerate(items) if item.status in (SS.PENDING, SS.RUNNING)]
        elements = _Elements(
            values=values,
            pending=pending,
            attempts=[item.attempts for item in items],
            limit=min(fan_out.max_parallel, self.program.concurrency),
            left=len(pending),
        )
        self._fan_outs[i] = elements
        if not elements.pending:
            self._fan_out_completed(i)
            return None
        return elements

    def _element_succeeded(self, i: int, ended: AttemptEnded) -> None:
        k, elements = ended.item, self._fan_outs[i]
        if ended.compensation:
            self._set_item(i, k, SS.COMPENSATED, ended.attempt, "compensated", usage=ended.usage)
            self._next_undo(i)
            return
        self._set_item(
            i, k, SS.COMPLETED, ended.attempt, "completed", output=ended.output, usage=ended.usage
        )
        if elements.failed is not None:  # a sibling failed the step meanwhile
            self._element_stopped(i, False)
            return
        limit = self._limits.max_output_bytes
        try:
            elements.output_bytes += json_size(ended.output, limit - elements.output_bytes)
        except TooLarge:
            error = ExecutionError(
                ExecutionErrorType.RESOURCE_EXHAUSTED,
                f"the outputs of the items together are larger than max_output_bytes "
                f"({limit:,} bytes)",
                step_id=self._steps[i].id,
            )
            self._fail_fan_out(i, error)
            return
        elements.left -= 1
        if not elements.left:
            self._fan_out_completed(i)
        else:
            self._requeue(i)

    def _fan_out_completed(self, i: int) -> None:
        outputs = FrozenList(item.output for item in self.state.steps[i].items)
        self._set_step(i, SS.COMPLETED, 0, "completed", output=outputs)
        del self._fan_outs[i]
        self._settle(i)

    def _element_failed(
        self,
        i: int,
        k: int,
        attempt: int,
        compensation: bool,
        error: ExecutionError,
        usage: ResourceUsage | None,
    ) -> None:
        elements = self._fan_outs[i]
        if compensation:
            self._set_item(
                i, k, SS.COMPENSATION_FAILED, attempt, error.message, error=error, usage=usage
            )
            elements.undo_failed = elements.undo_failed or replace(
                error, message=f"item {k}: {error.message}"
            )
            self._next_undo(i)  # a failed undo does not hold back the others
            return
        self._set_item(i, k, SS.FAILED, attempt, error.message, error=error, usage=usage)
        if elements.failed is not None:
            self._element_stopped(i, False)
            return
        self._fail_fan_out(
            i, replace(error, message=f"item {k}: {error.message}", step_id=self._steps[i].id)
        )

    def _fail_fan_out(self, i: int, error: ExecutionError) -> None:
        """An element failed for good: so does the step; its running siblings are cancelled
        and those waiting to retry are stopped."""
        elements = self._fan_outs[i]
        elements.failed = error
        backing_off = sorted(k for j, k in self._backing_off if j == i)
        for k in backing_off:
            self._backing_off.discard((i, k))
            self._out.effects.append(DisarmTimer(Timer(TimerKind.RETRY, i, k)))
            cut = ExecutionError(ExecutionErrorType.CANCELLED, error.message, step_id=error.step_id)
            self._set_item(
                i, k, SS.CANCELLED, elements.attempts[k], f"cancelled: {error.message}", error=cut
            )
        cancelled = False
        for (j, k), attempt in self.running.items():
            if j == i:
                self._out.effects.append(CancelAttempt(i, attempt, False, k))
                cancelled = True
        if cancelled:
            self._out.effects.append(ArmTimer(STOP_GRACE, STOP_GRACE_SECONDS))
        self._set_step(i, SS.FAILED, 0, error.message, error=error)
        if not elements.running:
            del self._fan_outs[i]
        self._step_failed(i, error)

    def _element_stopped(self, i: int, compensation: bool) -> None:
        """An element ended without its own outcome (cancelled, or after the step failed):
        once none runs, a step that failed is done with, and one stopping is CANCELLED."""
        elements = self._fan_outs.get(i)
        if elements is None:
            return
        if compensation:
            elements.undo_failed = elements.undo_failed or ExecutionError(
                ExecutionErrorType.CANCELLED, "the rollback was cancelled"
            )
            self._next_undo(i)
            return
        if elements.running or any(j == i for j, _ in self._backing_off):
            return
        if elements.failed is None and self.phase is Phase.FORWARD:
            return  # an element waiting: it runs when its turn comes
        del self._fan_outs[i]
        if self.state.steps[i].status is SS.RUNNING:
            why = self._stop[1] if self._stop is not None else None
            reason = why.message if why else "the execution failed"
            error = ExecutionError(
                why.error_type if why else ExecutionErrorType.CANCELLED,
                reason,
                step_id=self._steps[i].id,
            )
            self._set_step(i, SS.CANCELLED, 0, f"cancelled: {reason}", error=error)
            self._settle(i)

    def _open_undo(self, i: int) -> _Elements | None:
        """Compensate the completed elements of for_each step i one at a time, last first;
        None when it has none (it is COMPENSATED at once)."""
        step = self.state.steps[i]
        fan_out = self.program.fan_outs[i]
        assert fan_out is not None
        try:
            values = fan_out.items.resolve(self.outputs(), self._limits.max_message_bytes)
        except StepError:
            values = [None] * len(step.items)  # read when it ran: cannot fail now
        if not isinstance(values, list) or len(values) != len(step.items):
            values = [None] * len(step.items)
        undo = [
            k
            for k, item in enumerate(step.items)
            if item.status in (SS.COMPLETED, SS.COMPENSATING, SS.COMPENSATION_FAILED)
        ]
        if step.status in (SS.COMPLETED, SS.COMPENSATION_FAILED):  # a failed one stays so
            self._set_step(i, SS.COMPENSATING, 0, f"compensating {len(undo):,} items")
        elements = _Elements(
            values=values,
            pending=[-k for k in undo],
            attempts=[
                item.compensation_attempts if item.status is SS.COMPENSATING else 0
                for item in step.items
            ],
            limit=1,
        )
        heapq.heapify(elements.pending)
        self._fan_outs[i] = elements
        if not undo:
            self._next_undo(i)
            return None
        return elements

    def _next_undo(self, i: int) -> None:
        """After an element's compensation: the next one, or the step's end."""
        elements = self._fan_outs.get(i)
        if elements is None:
            return
        if elements.pending and self.phase is Phase.ROLLBACK:
            self._requeue(i)
            return
        if elements.running or any(j == i for j, _ in self._backing_off):
            return
        if self.phase is not Phase.ROLLBACK:
            return  # a cancelled rollback records what it left (`_finish_rollback`)
        del self._fan_outs[i]
        self._undone.add(i)
        failed = elements.undo_failed
        if self.state.steps[i].status is not SS.COMPENSATING:
            pass  # a for_each step that failed: its elements say how their undo went
        elif failed is None:
            self._set_step(i, SS.COMPENSATED, 0, "completed")
        else:
            self._set_step(i, SS.COMPENSATION_FAILED, 0, failed.message, error=failed)
        self._compensated(i)

    # ------------------------------------------------------------ running steps

    def _can_start(self) -> bool:
        return (
            self.phase in (Phase.FORWARD, Phase.ROLLBACK) or self._cleaning_up
        ) and self.state.status is not ES.PAUSED

    def _advance(self) -> None:
        """Start what may start, then end the phase if nothing is left to do."""
        while True:
            running = self.running
            limit, compensation = self.program.concurrency, self.compensating
            # `self._ready` each time: a failure while starting may halt, which replaces it.
            while self._ready and len(running) < limit and self._can_start():
                i = abs(heapq.heappop(self._ready))
                if self.program.fan_outs[i] is not None:
                    self._next_element(i, compensation)
                else:
                    self._begin_attempt(i, compensation=compensation)
            if running or not self._phase_may_end():
                break
            if self.phase in (Phase.FORWARD, Phase.STOPPING):
                self._finish_forward()
            else:
                self._finish_rollback()
            if self.phase is Phase.ENDED:
                break  # else an automatic rollback has begun: go on with it
        if self.phase is Phase.ENDED and self._on_end:
            for ticket in self._on_end:
                self._reply(ticket)
            self._on_end = []

    def _phase_may_end(self) -> bool:
        paused = self.state.status is ES.PAUSED
        if self.phase in (Phase.FORWARD, Phase.ROLLBACK):
            # A paused execution stays paused, even with nothing left to do.
            return not self._ready and not self._backing_off and not self._waiting and not paused
        if self._cleaning_up:
            return not self._ready and not self._backing_off and not self._waiting and not paused
        if self.phase in _STOPPING:
            # A cancel ends it at once; a failure while paused ends it when it is resumed.
            return not paused or (self._stop is not None and self._stop[0] is ES.CANCELLED)
        return False

    def _begin_attempt(self, i: int, *, compensation: bool, item: int = -1) -> None:
        if item < 0:
            attempt = self._attempts[i] + 1
            self._attempts[i] = attempt
        else:
            elements = self._fan_outs[i]
            attempt = elements.attempts[item] + 1
            elements.attempts[item] = attempt
        budget = self.budget
        limit = budget.limits.max_tool_invocations
        if limit and budget.used.tool_invocations >= limit:
            error = ExecutionError(
                ExecutionErrorType.RESOURCE_EXHAUSTED,
                f"resource limit reached: max_tool_invocations (limit {limit})",
                step_id=self.program.plan.steps[i].id,
            )
            self._attempt_failed(i, attempt, compensation, error, None, 0.0, item)
            return
        budget.used.tool_invocations += 1
        if compensation:
            undo = self.program.undo[i]
            # Only steps with an undo are made ready; the hint of one without is moot.
            idempotent = undo.idempotent if undo is not None else True
            status = SS.COMPENSATING
        else:
            idempotent = self.program.idempotent[i]
            status = SS.RUNNING
        if item < 0:
            started = self._set_step(i, status, attempt, f"attempt {attempt} started")
        else:
            started = self._set_item(i, item, status, attempt, f"attempt {attempt} started")
            self._fan_outs[i].running += 1
        self.running[(i, item)] = attempt
        # A tool that must not run twice unknowingly waits until the journal holds that
        # this attempt may have run. An idempotent one need not wait.
        self._out.effects.append(
            StartAttempt(i, attempt, compensation, 0 if idempotent else started, item)
        )

    def _attempt_ended(self, ended: AttemptEnded) -> None:
        i, k = ended.step, ended.item
        key = (i, k)
        if self.running.get(key) != ended.attempt or ended.compensation != self.compensating:
            return  # an attempt given up on (it outlived its stop grace): already recorded
        del self.running[key]
        if k >= 0:
            self._fan_outs[i].running -= 1
        error = ended.error
        if ended.cancelled:
            self._attempt_stopped(i, ended.attempt, ended.compensation, ended.usage, k)
        elif error is not None:
            self._attempt_failed(
                i, ended.attempt, ended.compensation, error, ended.usage, ended.retry_after, k
            )
        else:
            # It finished, even if a stop was on its way to it: its work happened.
            self._attempt_succeeded(i, ended)

    def _attempt_succeeded(self, i: int, ended: AttemptEnded) -> None:
        if ended.item >= 0:
            self._element_succeeded(i, ended)
            return
        if ended.compensation:
            self._set_step(
                i,
                SS.COMPENSATED,
                ended.attempt,
                "completed",
                output=ended.output,
                usage=ended.usage,
            )
            self._compensated(i)
            return
        self._set_step(
            i, SS.COMPLETED, ended.attempt, "completed", output=ended.output, usage=ended.usage
        )
        self._settle(i)

    def _release(self, i: int) -> None:
        """Step i may run (its rule and its condition said so): it runs, or first waits."""
        if self.program.waits[i] is None:
            heapq.heappush(self._ready, i)
        else:
            self._begin_wait(i)

    def _attempt_failed(
        self,
        i: int,
        attempt: int,
        compensation: bool,
        error: ExecutionError,
        usage: ResourceUsage | None,
        retry_after: float,
        item: int = -1,
    ) -> None:
        undo = self.program.undo[i]
        retry = undo.retry if compensation and undo is not None else self.program.retry[i]
        if retry.allows_retry(attempt, error.error_type, error.retryable):
            if self.phase in _STOPPING and not (self._cleaning_up and self._is_cleanup(i)):
                # Stopped while it failed: it would have been retried, so it was cut short.
                self._attempt_stopped(i, attempt, compensation, usage, item)
                return
            # The other side's Retry-After wins over a shorter backoff.
            step_id = self.program.plan.steps[i].id
            seed = f"{self.program.plan.id}:{step_id}" + (f":{item}" if item >= 0 else "")
            delay = max(retry.delay(attempt, seed=seed), retry_after)
            what = f"item {item}: attempt" if item >= 0 else "attempt"
            self._emit(
                EventType.STEP_RETRY_SCHEDULED,
                step=i,
                attempt=attempt,
                message=f"{what} {attempt} failed; retrying in {delay:.3g}s",
                error=error,
                usage=usage,
                retry_delay=delay,
                item=item if item >= 0 else None,
            )
            self._backing_off.add((i, item))
            self._out.effects.append(ArmTimer(Timer(TimerKind.RETRY, i, item), delay))
            if item >= 0:
                self._requeue(i)  # its siblings may take the slot meanwhile
            return
        if item >= 0:
            self._element_failed(i, item, attempt, compensation, error, usage)
            return
        failed = SS.COMPENSATION_FAILED if compensation else SS.FAILED
        self._set_step(i, failed, attempt, error.message, error=error, usage=usage)
        if compensation:
            self._compensated(i)  # a failed undo does not hold back the others
        else:
            self._step_failed(i, error)

    def _attempt_stopped(
        self,
        i: int,
        attempt: int,
        compensation: bool,
        usage: ResourceUsage | None,
        item: int = -1,
    ) -> None:
        why = self._stop[1] if self._stop is not None else None
        reason = why.message if why else "the execution failed"
        sibling = self._fan_outs[i].failed if item >= 0 else None
        if sibling is not None:
            reason = sibling.message  # a sibling failed the step
        error = ExecutionError(
            why.error_type if why else ExecutionErrorType.CANCELLED,
            reason,
            step_id=self.program.plan.steps[i].id,
        )
        stopped = SS.COMPENSATION_FAILED if compensation else SS.CANCELLED
        if item >= 0:
            self._set_item(
                i, item, stopped, attempt, f"cancelled: {reason}", error=error, usage=usage
            )
            self._element_stopped(i, compensation)
            return
        self._set_step(i, stopped, attempt, f"cancelled: {reason}", error=error, usage=usage)
        if not compensation:
            self._settle(i)

    def _step_failed(self, i: int, error: ExecutionError, *, settle: bool = True) -> None:
        if self._first_failure is None:
            self._first_failure = error
        if self._fail_fast and self.phase is Phase.FORWARD:
            self._halt(ES.FAILED, None)  # it settles what is pending itself
            return
        if settle:
            self._settle(i)

    def _is_cleanup(self, i: int) -> bool:
        return self.program.rules[i] is DependencyRule.ALL_DONE

    def _progress(self, report: ReportProgress) -> None:
        if self.running.get((report.step, report.item)) == report.attempt:
            self._emit(
                EventType.STEP_PROGRESS,
                step=report.step,
                attempt=report.attempt,
                message=report.message,
                progress=report.fraction,
                item=report.item if report.item >= 0 else None,
            )

    # ------------------------------------------------------------ waiting

    def _begin_wait(self, i: int) -> None:
        """Step i waits for its gate, its signal or its time, holding no slot. A signal
        that came first is consumed at once."""
        wait = self.program.waits[i]
        assert wait is not None  # only steps with a wait are sent here
        now = self._clock()
        ends = deadline(wait, now)
        signal = ""
        if isinstance(wait, Gate):
            message = f"waiting for approval: {self.prompt(i)}"
        elif isinstance(wait, SignalWait):
            signal = wait.name
            message = f"waiting for signal {signal!r}"
        else:
            assert ends is not None  # a sleep always ends
            message = f"sleeping until {rfc3339(ends)}"
        self._emit(
            EventType.STEP_STATUS_CHANGED,
            step=i,
            step_status=SS.WAITING,
            message=message,
            signal=signal,
            wait_deadline=ends,
        )
        if isinstance(wait, SignalWait) and i in self.state.signals:
            self._wait_completed(i, self.state.signals[i], f"signal {signal!r} received earlier")
            return
        self._waiting.add(i)
        if ends is not None:
            self._out.effects.append(ArmTimer(Timer(TimerKind.WAIT, i), max(ends - now, 0.0)))

    def _continue_wait(self, i: int) -> None:
        """A wait the journal holds as open: approved, it runs; else it waits on, until the
        same deadline."""
        step = self.state.steps[i]
        if step.approval is not None:  # decided APPROVE; a rejection ended the step
            heapq.heappush(self._ready, i)
            return
        self._waiting.add(i)
        if step.wait_deadline is not None:
            left = max(step.wait_deadline - self._clock(), 0.0)
            self._out.effects.append(ArmTimer(Timer(TimerKind.WAIT, i), left))

    def _wait_timed_out(self, i: int) -> None:
        wait = self.program.waits[i]
        ends = self.state.steps[i].wait_deadline
        if isinstance(wait, SleepWait):
            assert ends is not None  # a sleep's WAITING event journals its end
            when = rfc3339(ends)
            self._wait_completed(i, freeze({"slept_until": when}), f"slept until {when}")
        elif isinstance(wait, Gate):
            assert wait.timeout is not None  # else no timer was armed
            decision = wait.on_timeout
            error = ExecutionError(
                ExecutionErrorType.TIMEOUT,
                f"no decision within {wait.timeout:g}s: on_timeout decided {decision.name}",
                step_id=self._steps[i].id,
            )
            self._decide(i, decision, None, error.message, "", timed_out=error)
        else:
            assert isinstance(wait, SignalWait) and wait.timeout is not None
            self._waiting.discard(i)
            error = ExecutionError(
                ExecutionErrorType.TIMEOUT,
                f"no signal {wait.name!r} within {wait.timeout:g}s",
                step_id=self._steps[i].id,
            )
            self._set_step(i, SS.FAILED, 0, error.message, error=error)
            self._step_failed(i, error)

    def _wait_completed(self, i: int, output: Any, message: str) -> None:
        self._waiting.discard(i)
        self._set_step(i, SS.COMPLETED, 0, message, output=output)
        self._settle(i)

    def _refuse_step(self, i: int, what: str, reason: str) -> FailedPrecondition:
        return step_refusal(self.state, i, what, reason)

    def _approve(self, command: Approve) -> None:
        i = command.step
        if not isinstance(self.program.waits[i], Gate):
            raise self._refuse_step(i, "it has no approval gate", "NO_APPROVAL_GATE")
        step = self.state.steps[i]
        if step.approval is not None:
            decided = step.approval
            by = f" by {decided.actor}" if decided.actor else ""
            raise self._refuse_step(
                i, f"its gate was decided already ({decided.decision.name}{by})", "GATE_DECIDED"
            )
        if i not in self._waiting:
            raise self._refuse_step(i, "its gate is not open", "STEP_NOT_WAITING")
        self._decide(i, command.decision, command.arguments, command.comment, command.by)
        self._reply(command.ticket)

    def _decide(
        self,
        i: int,
        decision: ApprovalDecision,
        arguments: Any,
        comment: str,
        by: str,
        timed_out: ExecutionError | None = None,
    ) -> None:
        """Record the decision; an approved step joins the ready heap (it starts when a slot
        is free and the execution is not paused), a rejected one fails."""
        self._waiting.discard(i)
        self._out.effects.append(DisarmTimer(Timer(TimerKind.WAIT, i)))
        self._emit(
            EventType.APPROVAL_DECIDED,
            step=i,
            decision=decision,
            message=comment,
            output=arguments,
            actor=by,
            error=timed_out,
        )
        if decision is ApprovalDecision.APPROVE:
            heapq.heappush(self._ready, i)
            return
        who = "its timeout" if timed_out is not None else (by or "request")
        error = ExecutionError(
            ExecutionErrorType.REJECTED,
            f"rejected by {who}: {comment}" if comment else f"rejected by {who}",
            step_id=self._steps[i].id,
        )
        self._set_step(i, SS.FAILED, 0, error.message, error=error)
        self._step_failed(i, error)

    def _signal(self, command: Signal) -> None:
        i = command.step
        wait = self.program.waits[i]
        assert isinstance(wait, SignalWait)  # the caller found the step by its signal
        if i in self.state.signals:
            raise self._refuse_step(
                i, f"signal {wait.name!r} was received already", "SIGNAL_RECEIVED"
            )
        status = self.state.steps[i].status
        if self.phase is not Phase.FORWARD:
            raise self._refuse("signal")
        if status is not SS.PENDING and i not in self._waiting:
            raise self._refuse_step(i, f"it no longer waits for {wait.name!r}", "STEP_NOT_WAITING")
        self._emit(
            EventType.SIGNAL_RECEIVED,
            step=i,
            signal=wait.name,
            output=command.payload,
            actor=command.by,
            message=_by(f"signal {wait.name!r} received", command.by),
        )
        if i in self._waiting:
            self._out.effects.append(DisarmTimer(Timer(TimerKind.WAIT, i)))
            self._wait_completed(i, self.state.signals[i], f"signal {wait.name!r} received")
        self._reply(command.ticket)

    def prompt(self, i: int) -> str:
        """Step i's gate prompt, its references resolved from the outputs it may see."""
        gate = self.program.waits[i]
        assert isinstance(gate, Gate)
        try:
            text = gate.prompt.resolve(self.outputs(), MAX_PROMPT_CHARS * 4)
        except StepError:  # an output lacks the path: show what was written
            text = gate.prompt.value
        if not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False)
        return clip(text, MAX_PROMPT_CHARS)

    def open_gates(self) -> list[int]:
        """Steps whose gate waits for a decision, in plan order."""
        return sorted(i for i in self._waiting if isinstance(self.program.waits[i], Gate))

    # ------------------------------------------------------------ timers

    def _timer_fired(self, timer: Timer) -> None:
        if timer.kind is TimerKind.RETRY:
            i, k = timer.step, timer.item
            if (i, k) in self._backing_off:
                self._backing_off.discard((i, k))
                if k < 0:
                    heapq.heappush(self._ready, -i if self.compensating else i)
                else:
                    heapq.heappush(self._fan_outs[i].pending, -k if self.compensating else k)
                    self._requeue(i)
        elif timer.kind is TimerKind.WAIT:
            i = timer.step
            if i in self._waiting:
                ends = self.state.steps[i].wait_deadline
                left = ends - self._clock() if ends is not None else 0.0
                if left > 0:  # the loop's clock ran ahead of the wall clock: never cut short
                    self._out.effects.append(ArmTimer(timer, left))
                else:
                    self._wait_timed_out(i)
        elif timer.kind is TimerKind.DEADLINE:
            if self.phase is Phase.FORWARD and self.state.status is ES.RUNNING:
                limit = self._deadline
                self._halt(
                    ES.FAILED,
                    ExecutionError(
                        ExecutionErrorType.TIMEOUT,
                        f"execution exceeded max_execution_time of {limit:g}s",
                        retryable=True,
                    ),
                )
        else:
            # Attempts that ignored their cancellation: record them stopped and move on.
            # Running on, only the siblings of an element that failed its step were.
            stopping = self.phase in _STOPPING
            given_up = sorted(
                (key, attempt)
                for key, attempt in self.running.items()
                if stopping or (key[1] >= 0 and self._fan_outs[key[0]].failed is not None)
            )
            for (i, k), attempt in given_up:
                del self.running[(i, k)]
                if k >= 0:
                    self._fan_outs[i].running -= 1
                self._attempt_stopped(i, attempt, self.compensating, None, k)

    def _arm_deadline(self) -> None:
        limit = self._deadline
        if limit is not None:
            left = limit - self.state.deadline_time(self._clock())
            self._out.effects.append(ArmTimer(DEADLINE, max(left, 0.0)))

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._out.effects.append(DisarmTimer(DEADLINE))

    # ------------------------------------------------------------ stopping

    def _halt(self, status: ExecutionStatus, error: ExecutionError | None) -> None:
        """End the current phase early: cancel what runs; what waits never runs."""
        if self.phase in _STOPPING:
            if status is ES.CANCELLED and self._stop is not None and self._stop[0] is not status:
                self._stop = (status, error)  # a cancel overrides a failure still winding down
                if self._cleaning_up:  # and stops its cleanup too
                    self._cleaning_up = False
                    self._ready = []
                    self._stop_attempts(lambda _: True)
            return
        self.phase = Phase.ROLLBACK_STOPPING if self.compensating else Phase.STOPPING
        self._stop = (status, error)
        self._disarm_deadline()
        if status is ES.FAILED and self.program.has_cleanup and not self.compensating:
            self._begin_cleanup()
        else:
            self._stop_attempts(lambda _: True)

    def _stop_reason(self) -> tuple[ExecutionError | None, str]:
        """The error a stopped step records (a cancel's; none for a failure) and its words."""
        stop = self._stop
        why = stop[1] if stop is not None and stop[0] is ES.CANCELLED else None
        return why, why.message if why else "the execution failed"

    def _stop_attempts(self, which: Callable[[int], bool]) -> None:
        """Cancel the running attempts, end the backoffs and the waits (those end CANCELLED
        with the phase) of the steps `which` selects."""
        for i, k in sorted(self._backing_off):
            if which(i):
                self._out.effects.append(DisarmTimer(Timer(TimerKind.RETRY, i, k)))
                self._backing_off.discard((i, k))
                attempt = self._attempts[i] if k < 0 else self._fan_outs[i].attempts[k]
                self._attempt_stopped(i, attempt, self.compensating, None, k)
        why, reason = self._stop_reason()
        for i in sorted(self._waiting):
            if which(i):
                # Settled at once, not when the phase ends: an inbox read from the journal
                # (another replica's) must stop listing the gate now.
                self._out.effects.append(DisarmTimer(Timer(TimerKind.WAIT, i)))
                self._waiting.discard(i)
                step = self.state.steps[i]
                self._set_step(
                    i, SS.CANCELLED, step.attempts, f"stopped waiting: {reason}", error=why
                )
        cancelled = False
        for (i, k), attempt in self.running.items():
            if which(i):
                self._out.effects.append(CancelAttempt(i, attempt, self.compensating, k))
                cancelled = True
        if cancelled:
            self._out.effects.append(ArmTimer(STOP_GRACE, STOP_GRACE_SECONDS))

    def _begin_cleanup(self) -> None:
        """Fail-fast with ALL_DONE steps: everything else pending is skipped and what runs is
        stopped; the ALL_DONE steps run once their dependencies have settled."""
        self._cleaning_up = True
        steps = self.state.steps
        note = "not run: the execution failed"
        for i, step in enumerate(steps):
            if self._is_cleanup(i):
                continue
            if step.status is SS.PENDING:
                self._set_step(i, SS.SKIPPED, self._attempts[i], note)
            elif i in self._waiting:  # settled now: a cleanup step may depend on it
                self._waiting.discard(i)
                self._out.effects.append(DisarmTimer(Timer(TimerKind.WAIT, i)))
                reason = "stopped waiting: the execution failed"
                self._set_step(i, SS.CANCELLED, step.attempts, reason)
        self._ready = [i for i in self._ready if self._is_cleanup(i)]
        heapq.heapify(self._ready)
        queued = set(self._ready)
        for i, deps in enumerate(self.program.dependencies):
            if steps[i].status is SS.PENDING and i not in queued:
                self._waiting_on[i] = sum(1 for d in deps if steps[d].status not in _SETTLED)
        free = [
            i
            for i, step in enumerate(steps)
            if step.status is SS.PENDING and i not in queued and self._waiting_on[i] == 0
        ]
        self._stop_attempts(lambda i: not self._is_cleanup(i))
        for i in list(self._fan_outs):
            if not self._is_cleanup(i):
                self._element_stopped(i, False)  # settles it if none of its elements ran
        for i in free:
            if steps[i].status is SS.PENDING and self._cleaning_up:
                self._step_ready(i)

    def _end_phase(self) -> None:
        self.phase = Phase.ENDED
        self._stop = None
        self._cleaning_up = False
        self._fan_outs = {}
        self._ready = []
        self._out.effects.append(DisarmTimer(STOP_GRACE))
        for ticket in self._on_phase_end:
            self._reply(ticket)
        self._on_phase_end = []

    def _finish_forward(self) -> None:
        """Settle the steps that never ran, then emit the terminal event."""
        stop = self._stop
        why, reason = self._stop_reason()
        never_ran = SS.CANCELLED if stop is not None and stop[0] is ES.CANCELLED else SS.SKIPPED
        note = "not run: " + reason
        for i, step in enumerate(self.state.steps):
            if step.status is SS.PENDING:
                self._set_step(i, never_ran, 0, note, error=why)
            elif step.status is SS.RUNNING:  # interrupted, and never restarted
                self._set_step(i, SS.CANCELLED, step.attempts, note, error=why)
            elif step.status is SS.WAITING:
                self._set_step(
                    i, SS.CANCELLED, step.attempts, f"stopped waiting: {reason}", error=why
                )
        self._disarm_deadline()
        if stop is not None:
            status, error = stop
            if status is ES.FAILED and error is None:
                error = self._first_failure
        elif self._first_failure is not None:
            status, error = ES.FAILED, self._first_failure
        else:
            status, error = ES.COMPLETED, None
        actor = self._requested_by if status is ES.CANCELLED else ""
        self._set_status(status, error.message if error else "all steps completed", error, actor)
        self._end_phase()
        options = self.program.options
        if options.auto_rollback and (
            status is ES.FAILED or (status is ES.CANCELLED and options.rollback_on_cancel)
        ):
            # In the same transition as the terminal event, so journaled in the same commit:
            # a crash between the two cannot leave a FAILED execution that was due to roll back.
            self._set_status(ES.ROLLING_BACK, "automatic rollback started")
            self._begin_rollback()

    # ------------------------------------------------------------ requests

    def _pause(self, ticket: int, by: str) -> None:
        status = self.state.status
        if status is ES.PAUSED:
            self._reply(ticket)
            return
        if status not in (ES.RUNNING, ES.ROLLING_BACK) or self.phase in _STOPPING:
            raise self._refuse("pause")
        self._disarm_deadline()
        self._set_status(ES.PAUSED, _by("paused", by), actor=by)
        self._reply(ticket)

    def _resume(self, ticket: int, by: str) -> None:
        status = self.state.status
        if status in (ES.RUNNING, ES.ROLLING_BACK) and self.phase is not Phase.ENDED:
            self._reply(ticket)
            return
        if status is not ES.PAUSED:
            raise self._refuse("resume")
        if self.state.rolling_back:
            self._set_status(ES.ROLLING_BACK, _by("rollback resumed", by), actor=by)
        else:
            self._set_status(ES.RUNNING, _by("resumed", by), actor=by)
            if self.phase is Phase.FORWARD:
                self._arm_deadline()
        self._reply(ticket)  # what the resume did; the run may move on in this transition

    def _cancel(self, ticket: int, reason: str, by: str) -> None:
        status = self.state.status
        if status is ES.CANCELLED:
            self._reply(ticket)
            return
        if self.phase is Phase.ENDED or self.phase is Phase.NEW:
            raise self._refuse("cancel")
        message = f"cancelled: {reason}" if reason else _by("cancelled", by)
        if self._stop is None or self._stop[0] is not ES.CANCELLED:  # the first cancel names it
            self._requested_by = by
        self._on_phase_end.append(ticket)
        self._halt(ES.CANCELLED, ExecutionError(ExecutionErrorType.CANCELLED, message))

    def _rollback(self, ticket: int, detach: bool, by: str) -> None:
        phase, status = self.phase, self.state.status
        if phase in (Phase.ROLLBACK, Phase.ROLLBACK_STOPPING):
            if detach:
                self._reply(ticket)
            else:
                self._on_end.append(ticket)
            return
        if phase is Phase.ENDED and status is ES.ROLLED_BACK:
            self._reply(ticket)
            return
        if phase is not Phase.ENDED or status not in (ES.FAILED, ES.CANCELLED, ES.ROLLBACK_FAILED):
            raise self._refuse("roll back")
        self._requested_by = by
        self._set_status(ES.ROLLING_BACK, _by("rollback started", by), actor=by)
        self._begin_rollback()
        if detach:
            self._reply(ticket)
        else:
            self._on_end.append(ticket)

    # ------------------------------------------------------------ rollback

    def _begin_rollback(self) -> None:
        """Compensate in reverse dependency order."""
        self.phase = Phase.ROLLBACK
        steps = self.state.steps
        for i, s in enumerate(steps):
            # An interrupted compensation continues its numbering; a new rollback starts afresh.
            c = s.compensation
            self._attempts[i] = c.attempts if s.status is SS.COMPENSATING and c else 0
        # A step is compensated after every step that depended on it and ran; steps with
        # nothing to undo pass their turn on at once. A for_each step that failed took part
        # if some of its elements completed: those are undone.
        took_part = self._took_part = [
            s.status in _DID_RUN or (s.status in _RETRIED and _undoable(s.items)) for s in steps
        ]
        dependents = self.program.dependents
        self._waiting_on = [
            sum(1 for d in dependents[i] if took_part[d]) for i in range(len(steps))
        ]
        self._ready = []
        self._interrupted = []
        self._fan_outs = {}
        self._undone = set()
        self._make_ready([i for i in range(len(steps)) if took_part[i] and not self._waiting_on[i]])

    def _needs_compensation(self, i: int) -> bool:
        status = self.state.steps[i].status
        return (
            self._took_part[i] and status is not SS.COMPENSATED and self.program.undo[i] is not None
        )

    def _make_ready(self, positions: list[int]) -> None:
        stack = positions
        steps = self.state.steps
        while stack:
            i = stack.pop()
            if self._needs_compensation(i):
                heapq.heappush(self._ready, -i)  # later plan positions first
                continue
            step = steps[i]
            if step.status is SS.COMPLETED and not step.nothing_to_undo:
                tool = self.program.tools[i]
                why = (
                    f"no compensation declared, and tool {tool.spec.name!r} cannot undo its calls"
                    if tool is not None
                    else "it only waited (a signal, a sleep)"
                )
                self._emit(
                    EventType.STEP_NOTHING_TO_UNDO, step=i, message=f"nothing to undo: {why}"
                )
            for d in self.program.dependencies[i]:  # nothing to undo here: pass the turn on
                if self._took_part[d]:
                    self._waiting_on[d] -= 1
                    if self._waiting_on[d] == 0:
                        stack.append(d)

    def _compensated(self, i: int) -> None:
        for d in self.program.dependencies[i]:
            if self._took_part[d]:
                self._waiting_on[d] -= 1
                if self._waiting_on[d] == 0:
                    self._make_ready([d])

    def _finish_rollback(self) -> None:
        """ROLLED_BACK, or ROLLBACK_FAILED naming what failed and what never ran."""
        steps = self.state.steps
        labels = [s.label for s in self.program.plan.steps]
        why = self._stop[1] if self._stop is not None else None
        for i, s in enumerate(steps):  # interrupted by a restart, and never restarted
            error = ExecutionError(
                why.error_type if why else ExecutionErrorType.CANCELLED,
                "not run again: " + (why.message if why else "the rollback stopped"),
                step_id=s.step_id,
            )
            for item in s.items:
                if item.status is SS.COMPENSATING:
                    attempt = item.compensation_attempts
                    self._set_item(
                        i, item.index, SS.COMPENSATION_FAILED, attempt, error.message, error=error
                    )
            if s.status is SS.COMPENSATING and s.compensation is not None:
                self._set_step(
                    i, SS.COMPENSATION_FAILED, s.compensation.attempts, error.message, error=error
                )
        failed: list[tuple[str, str, ExecutionErrorType | None]] = []
        for i, s in enumerate(steps):
            if s.status is SS.COMPENSATION_FAILED and s.compensation is not None:
                failed.append((labels[i], s.compensation.error, s.compensation.error_type))
            elif s.status in _RETRIED:  # a for_each step that failed: its elements' undo
                undo = next((t for t in s.items if t.status is SS.COMPENSATION_FAILED), None)
                if undo is not None:
                    failed.append((labels[i], f"item {undo.index}: {undo.error}", undo.error_type))
        not_run = [
            labels[i]
            for i, s in enumerate(steps)
            if self.program.undo[i] is not None
            and (
                s.status is SS.COMPLETED
                or (s.status in _RETRIED and any(t.status is SS.COMPLETED for t in s.items))
            )
        ]
        stopped = self._stop is not None
        if self.state.status is ES.PAUSED:  # a paused rollback was cancelled
            self._set_status(ES.ROLLING_BACK, "rollback resumed to record its cancellation")
        if not stopped and not failed:
            self._set_status(ES.ROLLED_BACK, self._rollback_report())
            self._end_phase()
            return
        parts = [f"compensation of {label!r} failed: {message}" for label, message, _ in failed]
        if not_run:
            parts.append("not compensated: " + ", ".join(map(repr, not_run)))
        if stopped:
            parts.insert(0, "rollback cancelled")
            error_type = ExecutionErrorType.CANCELLED
        else:
            error_type = failed[0][2] or ExecutionErrorType.INTERNAL
        first_failed = next(
            (
                s.step_id
                for s in steps
                if s.status is SS.COMPENSATION_FAILED
                or any(t.status is SS.COMPENSATION_FAILED for t in s.items)
            ),
            "",
        )
        error = ExecutionError(error_type, "; ".join(parts), retryable=True, step_id=first_failed)
        actor = self._requested_by if stopped else ""  # who cancelled it
        self._set_status(ES.ROLLBACK_FAILED, error.message, error, actor)
        self._end_phase()

    def _rollback_report(self) -> str:
        """What a rollback did, honestly: "2 compensated, 3 with nothing to undo"."""
        steps = self.state.steps
        compensated = sum(
            1
            for s in steps
            if s.status is SS.COMPENSATED
            or (s.status in _RETRIED and any(t.status is SS.COMPENSATED for t in s.items))
        )
        nothing = sum(1 for s in steps if s.status is SS.COMPLETED and s.nothing_to_undo)
        if not compensated and not nothing:
            return "nothing to compensate: no step had completed"
        parts = [f"{compensated} compensated"]
        if nothing:
            parts.append(f"{nothing} with nothing to undo")
        return ", ".join(parts)

    # ------------------------------------------------------------ views

    def outputs(self, own: int | None = None, item: int = -1) -> Mapping[str, Any]:
        """Outputs of completed steps by id or name, as references see them; `self` is the
        step being compensated. With `item`, the element of step `own` (a for_each step)
        an attempt runs for: `${item}`, `${item_index}`, and `self` is its output."""
        element = None
        if item >= 0 and own is not None:
            element = (self._fan_outs[own].values[item], item)
        return _Outputs(self.program.index, self.state, own, element)

    def element_output(self, i: int, item: int) -> Any:
        """What element `item` of for_each step `i` returned."""
        return self.state.steps[i].items[item].output


def step_refusal(state: ExecutionState, i: int, what: str, reason: str) -> FailedPrecondition:
    """A request about step i that its state does not allow; the details name the step's
    status, and its decision when it has one."""
    step = state.steps[i]
    refusal = FailedPrecondition(
        f"step {step.step_name or step.step_id!r} is {step.status.name}: {what}",
        plan_id=state.plan.id,
        status=state.status,
        reason=reason,
    )
    refusal.metadata.update(step_id=step.step_id, step_status=step.status.name)
    if step.approval is not None:
        refusal.metadata.update(
            decision=step.approval.decision.name, decided_by=step.approval.actor
        )
    return refusal


def _by(what: str, actor: str) -> str:
    return f"{what} by {actor}" if actor else f"{what} by request"


def _check_execution(current: ExecutionStatus, target: ExecutionStatus) -> None:
    if not can_transition(current, target):
        raise IllegalTransition("execution", current.name, target.name)


def _check_step(current: StepStatus, target: StepStatus) -> None:
    if not can_step_transition(current, target):
        raise IllegalTransition("step", current.name, target.name)


def _interrupted(attempt: int, step_id: str) -> ExecutionError:
    return ExecutionError(
        ExecutionErrorType.INTERNAL,
        f"attempt {attempt} was interrupted by a server restart",
        retryable=True,
        step_id=step_id,
    )


@dataclass(slots=True)
class _Elements:
    """An open for_each step: its list, and which elements wait, run and failed."""

    values: list[Any]
    pending: list[int]  # a heap of element indices (negated while compensating)
    attempts: list[int]  # the last attempt of each element, forward or undo
    limit: int  # elements at once
    running: int = 0
    left: int = 0  # elements not completed yet (forward)
    queued: bool = False  # the step is in the ready heap
    failed: ExecutionError | None = None  # an element failed for good, and so the step
    undo_failed: ExecutionError | None = None  # an element's compensation failed
    output_bytes: int = 0


class _Outputs(Mapping[str, Any]):
    __slots__ = ("_element", "_index", "_own", "_state")

    def __init__(
        self,
        index: Mapping[str, int],
        state: ExecutionState,
        own: int | None,
        element: tuple[Any, int] | None = None,
    ) -> None:
        self._index = index
        self._state = state
        self._own = own
        self._element = element  # (value, index)

    def _position(self, key: object) -> int | None:
        if key == "self":
            return self._own
        return self._index.get(key) if isinstance(key, str) else None

    def __getitem__(self, key: str) -> Any:
        element = self._element
        if element is not None:
            if key == ITEM:
                return element[0]
            if key == ITEM_INDEX:
                return element[1]
            if key == "self" and self._own is not None:
                return self._state.steps[self._own].items[element[1]].output
        i = self._position(key)
        if i is None:
            raise KeyError(key)
        status = self._state.steps[i].status
        if status in _DID_RUN:
            return self._state.steps[i].output
        if status in _SETTLED:  # skipped or failed: a dependency rule let the step run
            return ABSENT
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if self._element is not None and key in (ITEM, ITEM_INDEX):
            return True
        i = self._position(key)
        return i is not None and self._state.steps[i].status in _READABLE

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._index if k in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def abandon(state: ExecutionState, why: str, clock: Callable[[], float] = time.time) -> list[Event]:
    """The events that end an execution that cannot be resumed (a tool it needs is gone),
    through transitions the tables allow: what was in flight fails, what never ran is
    skipped, and a paused execution is resumed to record its failure."""
    message = f"cannot resume after a restart: {why}"
    error = ExecutionError(ExecutionErrorType.TOOL_NOT_FOUND, message)
    events: list[Event] = []

    def emit(**fields: Any) -> None:
        step_status = fields.get("step_status")
        if step_status is not None:
            record = state.steps[fields.pop("position")]
            if fields.get("item_index") is not None:
                record = record.items[fields["item_index"]]
            _check_step(record.status, step_status)
        status = fields.get("status", state.status)
        if fields["type"] is EventType.EXECUTION_STATUS_CHANGED:
            _check_execution(state.status, status)
        event = Event(
            sequence=state.last_sequence + 1,
            plan_id=state.plan.id,
            time=clock(),
            status=status,
            message=message,
            error=error,
            **{k: v for k, v in fields.items() if k != "status"},
        )
        state.apply(event)
        events.append(event)

    settle = {
        SS.PENDING: SS.SKIPPED,
        SS.RUNNING: SS.FAILED,
        SS.WAITING: SS.FAILED,
        SS.COMPENSATING: SS.COMPENSATION_FAILED,
    }
    for i, step in enumerate(state.steps):
        for item in step.items:  # a for_each step's elements in flight
            if item.status in (SS.RUNNING, SS.COMPENSATING):
                emit(
                    type=EventType.STEP_STATUS_CHANGED,
                    position=i,
                    step_id=step.step_id,
                    step_name=step.step_name,
                    step_status=settle[item.status],
                    item_index=item.index,
                )
        target = settle.get(step.status)
        if target is not None:
            attempt = step.attempts
            if step.status is SS.COMPENSATING and step.compensation is not None:
                attempt = step.compensation.attempts
            emit(
                type=EventType.STEP_STATUS_CHANGED,
                position=i,
                step_id=step.step_id,
                step_name=step.step_name,
                step_status=target,
                attempt=attempt,
            )
    if state.status is ES.PAUSED:
        emit(
            type=EventType.EXECUTION_STATUS_CHANGED,
            status=ES.ROLLING_BACK if state.rolling_back else ES.RUNNING,
        )
    if state.status is ES.PENDING:
        emit(type=EventType.EXECUTION_STATUS_CHANGED, status=ES.RUNNING)
    final = ES.ROLLBACK_FAILED if state.rolling_back else ES.FAILED
    emit(type=EventType.EXECUTION_STATUS_CHANGED, status=final)
    return events


def _undoable(items: list[ItemResult]) -> bool:
    """Some element completed, and so may need undoing (or is being undone)."""
    return any(t.status in (SS.COMPLETED, SS.COMPENSATING, SS.COMPENSATION_FAILED) for t in items)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else "an object"


def _seconds(limits: ResourceLimits) -> float | None:
    limit = limits.max_execution_time
    return limit.total_seconds() if limit is not None else None
