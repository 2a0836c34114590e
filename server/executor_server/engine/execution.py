"""One execution of a plan: the DAG scheduler, the attempt loop, rollback, and control.

Forward, scheduling is dependency counting: a step waits on a counter of unfinished
dependencies and enters a ready heap ordered by plan position when it reaches zero, so
among ready steps the earlier one in the plan always starts first. Rollback runs the same
machinery over the reversed graph: a completed step is compensated once every completed
step that depended on it is, later plan positions first.

Every transition is an event: it is applied to the state at once and journaled in order. A
step waits for its start to be stored before it invokes a tool that is not idempotent, so a
crash never hides an attempt that may have run; acknowledgements and watchers only ever see
stored events, so nothing reported as done is lost.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from executor_server.domain.errors import StepError
from executor_server.domain.limits import Limits
from executor_server.domain.models import (
    Event,
    ExecutionError,
    ExecutionOptions,
    ResourceUsage,
)
from executor_server.domain.status import (
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
    can_transition,
)
from executor_server.engine import references
from executor_server.engine.attempt import check_arguments, check_json, check_output, run_attempt
from executor_server.engine.journal import Journal
from executor_server.engine.policy import DEFAULT_MAX_CONCURRENT_STEPS, Retry, attempt_timeout
from executor_server.engine.secrets import (
    Secrets,
    declares_write_only,
    find_secrets,
    write_only_values,
)
from executor_server.engine.state import ExecutionState
from executor_server.engine.validation import PlanGraph
from executor_server.observability import NULL_EXECUTION_OBSERVER, ExecutionObserver
from executor_server.tools.protocol import Budget, CompensatingTool, ToolContext, ToolSpec

log = logging.getLogger(__name__)

# Statuses of a step whose forward work completed: its output exists and it may need undoing.
_DID_RUN = frozenset(
    {
        StepStatus.COMPLETED,
        StepStatus.COMPENSATING,
        StepStatus.COMPENSATED,
        StepStatus.COMPENSATION_FAILED,
    }
)


class _Outputs(Mapping[str, Any]):
    """Outputs of completed steps by id or name, as references see them; `self` is the
    step being compensated."""

    __slots__ = ("_index", "_own", "_state")

    def __init__(
        self, index: Mapping[str, int], state: ExecutionState, own: int | None = None
    ) -> None:
        self._index = index
        self._state = state
        self._own = own

    def _position(self, key: object) -> int | None:
        if key == "self":
            return self._own
        return self._index.get(key) if isinstance(key, str) else None

    def __getitem__(self, key: str) -> Any:
        i = self._position(key)
        if i is None or self._state.steps[i].status not in _DID_RUN:
            raise KeyError(key)
        return self._state.steps[i].output

    def __contains__(self, key: object) -> bool:
        i = self._position(key)
        return i is not None and self._state.steps[i].status in _DID_RUN

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._index if k in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(slots=True)
class _Job:
    """The attempts of one step in one direction: its forward call or its compensation."""

    spec: ToolSpec
    #: Starts one attempt; raises StepError when its arguments cannot be resolved.
    call: Callable[[ToolContext], Coroutine[Any, Any, Any]]
    check: Callable[[Any], None]
    retry: Retry
    timeout: float
    previous_attempts: int
    running: StepStatus
    done: StepStatus
    failed: StepStatus
    on_done: Callable[[int], None]
    on_failed: Callable[[int, ExecutionError], None]


class Execution:
    """Runs one plan. Control methods are synchronous and take effect at once; `run` is the
    scheduler, owned by the executor."""

    def __init__(
        self,
        graph: PlanGraph,
        options: ExecutionOptions,
        journal: Journal,
        state: ExecutionState,
        workspace: Path,
        limits: Limits,
        observer: ExecutionObserver = NULL_EXECUTION_OBSERVER,
        secrets: Secrets | None = None,
    ) -> None:
        self.graph = graph
        self.secrets = secrets or Secrets()
        # What steps produce is masked before it becomes an event: every secret, and the
        # write-only arguments of the steps that started.
        self._masker = self.secrets.masker()
        self._masker_generation = self.secrets.generation
        self._hidden: set[str] = set()
        self._hides: dict[int, bool] = {}  # by input schema: does it declare writeOnly?
        self.limits = limits
        self._observer = observer
        self.plan = graph.plan
        self.options = options
        self.journal = journal
        self.state = state
        self.workspace = workspace
        self.budget = Budget(options.resource_limits, state.usage.copy())
        self.budget.used.add(state.compensation_usage)
        self.finished = asyncio.Event()
        #: Set when the current phase (forward work or a rollback) has ended.
        self.phase_ended = asyncio.Event()
        self._started = asyncio.Event()
        self._started_at = 0  # the sequence that made it run
        self._outputs = _Outputs(graph.index, state)
        self._concurrency = options.max_concurrent_steps or DEFAULT_MAX_CONCURRENT_STEPS
        self._plan_retry = Retry.resolve(options.retry_policy)
        self._wake = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._ready: list[int] = []  # a heap of step positions times `_direction`
        self._direction = 1
        self._waiting_on: list[int] = []
        self._interrupted: list[int] = []  # forward attempts a previous process left running
        self._rollback_requested = False
        #: Who asked for the stop or rollback under way, for its events.
        self._requested_by = ""
        # Why the phase stops early: (final status, error); None while it runs normally.
        self._halt: tuple[ExecutionStatus, ExecutionError | None] | None = None
        self._first_failure: ExecutionError | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_left: float | None = None
        self._deadline_armed_at = 0.0

    @property
    def plan_id(self) -> str:
        return self.plan.id

    @property
    def status(self) -> ExecutionStatus:
        return self.state.status

    # ------------------------------------------------------------------ events

    def emit(
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
    ) -> int:
        """Apply one transition and queue it for the journal; returns its sequence."""
        if self._masker_generation != self.secrets.generation:  # reloaded meanwhile
            self._masker = self.secrets.masker(self._hidden)
            self._masker_generation = self.secrets.generation
        masker = self._masker
        if masker is not None:
            message = masker.text(message)
            output = masker.value(output)
            if error is not None:
                error = replace(error, message=masker.text(error.message))
        action = self.plan.steps[step] if step is not None else None
        event = Event(
            sequence=self.state.last_sequence + 1,
            plan_id=self.plan.id,
            time=time.time(),
            type=type,
            status=status if status is not None else self.state.status,
            step_id=action.id if action else "",
            step_name=action.name if action else "",
            step_status=step_status,
            attempt=attempt,
            message=message,
            error=error,
            output=output,
            usage=usage,
            retry_delay=retry_delay,
            progress=progress,
            actor=actor,
        )
        self.state.apply(event)
        self.journal.append(event)
        return event.sequence

    def _set_status(
        self,
        status: ExecutionStatus,
        message: str,
        error: ExecutionError | None = None,
        actor: str = "",
    ) -> int:
        current = self.state.status
        assert status is current or can_transition(current, status), f"{current} -> {status}"
        return self.emit(
            EventType.EXECUTION_STATUS_CHANGED,
            status=status,
            message=message,
            error=error,
            actor=actor,
        )

    # ------------------------------------------------------------------ control

    def accept(self, by: str = "") -> None:
        """Record the execution's first event; `by` names who submitted it."""
        self._set_status(ExecutionStatus.PENDING, "accepted", actor=by)

    async def started(self) -> None:
        """Wait until the execution is running, as journaled (or has ended)."""
        await self._started.wait()
        await self.journal.durable(self._started_at)

    @property
    def rolls_back(self) -> bool:
        """A rollback is under way or about to start."""
        return self.state.rolling_back or self._rollback_requested

    def request_rollback(self, by: str = "") -> None:
        """Roll back when `run` starts (for a FAILED, CANCELLED or ROLLBACK_FAILED state)."""
        self._rollback_requested = True
        self._requested_by = by

    def can_pause(self) -> bool:
        active = (ExecutionStatus.RUNNING, ExecutionStatus.ROLLING_BACK)
        return self.state.status in active and self._halt is None

    def pause(self, by: str = "") -> int:
        self._resumed.clear()
        self._disarm_deadline()
        return self._set_status(ExecutionStatus.PAUSED, _by("paused", by), actor=by)

    def resume(self, by: str = "") -> int:
        if self.state.rolling_back:
            seq = self._set_status(
                ExecutionStatus.ROLLING_BACK, _by("rollback resumed", by), actor=by
            )
        else:
            seq = self._set_status(ExecutionStatus.RUNNING, _by("resumed", by), actor=by)
            self._arm_deadline()
        self._resumed.set()
        self._wake.set()
        return seq

    def cancel(self, reason: str, by: str = "") -> None:
        message = f"cancelled: {reason}" if reason else _by("cancelled", by)
        if self._halt is None:
            self._requested_by = by
        self._stop(ExecutionStatus.CANCELLED, ExecutionError(ExecutionErrorType.CANCELLED, message))

    def _stop(self, status: ExecutionStatus, error: ExecutionError | None) -> None:
        if self._halt is not None:
            return
        self._halt = (status, error)
        self._disarm_deadline()
        if status is ExecutionStatus.CANCELLED:
            self._resumed.set()  # a paused execution must wake to wind down
        # Otherwise a paused one stays paused: a failure ends it when it is resumed.
        for task in self._running.values():
            task.cancel()
        self._wake.set()

    def _arm_deadline(self) -> None:
        if self._deadline_left is None or self._deadline is not None:
            return
        loop = asyncio.get_running_loop()
        self._deadline_armed_at = loop.time()
        self._deadline = loop.call_later(max(self._deadline_left, 0.0), self._deadline_passed)

    def _disarm_deadline(self) -> None:
        if self._deadline is None:
            return
        self._deadline.cancel()
        self._deadline = None
        assert self._deadline_left is not None
        self._deadline_left -= asyncio.get_running_loop().time() - self._deadline_armed_at

    def _deadline_passed(self) -> None:
        self._deadline = None
        limit = self.options.resource_limits.max_execution_time
        assert limit is not None
        self._stop(
            ExecutionStatus.FAILED,
            ExecutionError(
                ExecutionErrorType.TIMEOUT,
                f"execution exceeded max_execution_time of {limit.total_seconds():g}s",
                retryable=True,
            ),
        )

    # ------------------------------------------------------------------ recovery

    def recover(self) -> None:
        """Settle what a previous process left in flight, before `run` continues.

        An attempt (or compensation) that was running when the process died is run again
        only if its tool is idempotent or its retry policy allows another attempt; else the
        step fails (or its compensation does).
        """
        steps = self.state.steps
        failed = next((s for s in steps if s.status is StepStatus.FAILED), None)
        if failed is not None:
            self._first_failure = ExecutionError(
                failed.error_type or ExecutionErrorType.INTERNAL,
                failed.error,
                step_id=failed.step_id,
            )
        fail_fast = not self.options.continue_on_failure
        for i, step in enumerate(steps):
            if step.status is StepStatus.RUNNING:
                n = step.attempts
                if self._first_failure is not None and fail_fast:
                    lost = _interrupted(n, step.step_id)
                    self.emit(
                        EventType.STEP_STATUS_CHANGED,
                        step=i,
                        step_status=StepStatus.CANCELLED,
                        attempt=n,
                        message=lost.message,
                        error=lost,
                    )
                    continue
                error = self._settle_interrupted(
                    i, n, self.graph.tools[i].spec, self._retry(i), StepStatus.FAILED
                )
                if error is None:
                    self._interrupted.append(i)
                else:
                    self._step_failed(i, error)
            elif step.status is StepStatus.COMPENSATING:
                job = self._compensation_job(i)
                self._settle_interrupted(
                    i, job.previous_attempts, job.spec, job.retry, StepStatus.COMPENSATION_FAILED
                )
        if self._first_failure is not None and fail_fast:
            self._stop(ExecutionStatus.FAILED, None)

    def _settle_interrupted(
        self, i: int, attempt: int, spec: ToolSpec, retry: Retry, failed: StepStatus
    ) -> ExecutionError | None:
        """Schedule the interrupted attempt again (None), or fail it (its error)."""
        lost = _interrupted(attempt, self.plan.steps[i].id)
        if spec.idempotent or retry.allows_retry(attempt, lost.error_type, True):
            self.emit(
                EventType.STEP_RETRY_SCHEDULED,
                step=i,
                attempt=attempt,
                retry_delay=0.0,
                message=f"{lost.message}; running it again",
                error=lost,
            )
            return None
        error = ExecutionError(
            ExecutionErrorType.INTERNAL,
            f"{lost.message}; tool {spec.name!r} is not idempotent and the retry policy "
            "allows no further attempt, so it is not run again",
            step_id=lost.step_id,
        )
        self.emit(
            EventType.STEP_STATUS_CHANGED,
            step=i,
            step_status=failed,
            attempt=attempt,
            message=error.message,
            error=error,
        )
        return error

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Run the plan to its end, then its rollback when one is due. Cancelling this task
        (server shutdown) leaves the execution unfinished in the journal, to be resumed,
        rather than cancelled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                flusher = tasks.create_task(self.journal.run_flusher())
                if not self.state.status.is_terminal and not self.state.rolling_back:
                    await self._run_forward(tasks)
                if self._rollback_due():
                    await self._run_rollback(tasks)
                self.journal.drain()
                await flusher
        finally:
            self._disarm_deadline()
            self._started.set()
            self.phase_ended.set()
            self.finished.set()
            self.journal.close()

    async def _drive(self, tasks: asyncio.TaskGroup, job_for: Callable[[int], _Job]) -> None:
        """Start ready steps while the phase may, until nothing runs or can start."""
        running, ready, direction = self._running, self._ready, self._direction
        while True:
            while ready and len(running) < self._concurrency and self._can_start():
                i = heapq.heappop(ready) * direction
                task = tasks.create_task(self._run_job(i, job_for(i)))
                running[i] = task
                # Not a `finally` in the job: a task cancelled before its first step never
                # runs its body, and must still leave the running set and wake us.
                task.add_done_callback(partial(self._job_ended, i))
            if not running and (self._halt is not None or not ready) and self._resumed.is_set():
                break  # a paused execution stays paused, even with nothing left to do
            await self._wake.wait()
            self._wake.clear()

    def _can_start(self) -> bool:
        return self._halt is None and self._resumed.is_set()

    async def _phase_end(self) -> None:
        await self.journal.durable(self.state.last_sequence)
        self.phase_ended.set()

    # ------------------------------------------------------------------ forward

    async def _run_forward(self, tasks: asyncio.TaskGroup) -> None:
        if self.state.status is ExecutionStatus.PENDING and self._halt is None:
            self._started_at = self._set_status(ExecutionStatus.RUNNING, "started")
        self._started.set()
        limit = self.options.resource_limits.max_execution_time
        if limit is not None:
            self._deadline_left = limit.total_seconds() - self.state.execution_time(time.time())
        if self.state.status is ExecutionStatus.RUNNING:
            self._arm_deadline()
        elif self._halt is None:
            self._resumed.clear()  # recovered while paused: stays paused

        steps = self.state.steps
        completed = StepStatus.COMPLETED
        self._waiting_on = [
            sum(1 for d in deps if steps[d].status is not completed)
            for deps in self.graph.dependencies
        ]
        self._ready = [
            i
            for i, waiting in enumerate(self._waiting_on)
            if waiting == 0 and steps[i].status is StepStatus.PENDING
        ]
        self._ready.extend(self._interrupted)
        heapq.heapify(self._ready)
        await self._drive(tasks, self._forward_job)
        self._disarm_deadline()
        self._finish_forward()
        await self._phase_end()

    def _finish_forward(self) -> None:
        """Settle the steps that never ran, then emit the terminal event."""
        halt = self._halt
        if halt is not None and halt[0] is ExecutionStatus.CANCELLED:
            never_ran, why = StepStatus.CANCELLED, halt[1]
        else:
            never_ran, why = StepStatus.SKIPPED, None
        for i, step in enumerate(self.state.steps):
            if not step.status.is_settled:  # pending, or interrupted and never restarted
                self.emit(
                    EventType.STEP_STATUS_CHANGED,
                    step=i,
                    step_status=never_ran
                    if step.status is StepStatus.PENDING
                    else StepStatus.CANCELLED,
                    message="not run: " + (why.message if why else "the execution failed"),
                    error=why,
                )
        if halt is not None:
            status, error = halt
            if status is ExecutionStatus.FAILED and error is None:
                error = self._first_failure
        elif self._first_failure is not None:
            status, error = ExecutionStatus.FAILED, self._first_failure
        else:
            status, error = ExecutionStatus.COMPLETED, None
        message = error.message if error else "all steps completed"
        actor = self._requested_by if status is ExecutionStatus.CANCELLED else ""
        self._set_status(status, message, error, actor)
        if self._rollback_due():
            # Journaled with the terminal event, in the same batch: a crash between the two
            # cannot leave a FAILED execution that was due to roll back.
            self._set_status(ExecutionStatus.ROLLING_BACK, "automatic rollback started")

    def _forward_job(self, i: int) -> _Job:
        step = self.plan.steps[i]
        tool = self.graph.tools[i]
        call = step.tool_execution
        assert call is not None
        rules = self.graph.output_rules[i]
        has_refs = bool(references.find_references(call.arguments))
        prepare = self._secret_preparation(call.arguments, tool.spec.input_schema)

        def start(context: ToolContext) -> Coroutine[Any, Any, Any]:
            arguments = prepare(call.arguments) if prepare else call.arguments
            if has_refs:
                arguments = references.resolve(
                    arguments, self._outputs, self.limits.max_argument_bytes
                )
            if has_refs or prepare:
                check_arguments(tool, arguments)
            if prepare:
                self._hide_write_only(tool.spec.input_schema, arguments)
            return tool.invoke(arguments, context)

        return _Job(
            spec=tool.spec,
            call=start,
            check=lambda output: check_output(
                tool.spec, output, rules, self.limits.max_output_bytes
            ),
            retry=self._retry(i),
            timeout=self._attempt_timeout(i),
            previous_attempts=self.state.steps[i].attempts,
            running=StepStatus.RUNNING,
            done=StepStatus.COMPLETED,
            failed=StepStatus.FAILED,
            on_done=self._release_dependents,
            on_failed=self._step_failed,
        )

    def _secret_preparation(
        self, arguments: Any, schema: Mapping[str, Any]
    ) -> Callable[[Any], Any] | None:
        """What puts secrets into a step's arguments when an attempt starts (None: none
        needed). Secrets go in first: text a step's output brings in through a reference is
        never taken for a secret's name."""
        names = find_secrets(arguments)
        hides = self._hides.get(id(schema))
        if hides is None:  # once per tool, not per step
            hides = self._hides[id(schema)] = declares_write_only(schema)
        if not names and not hides:
            return None

        def put_secrets(value: Any) -> Any:
            try:
                return self.secrets.resolve(value) if names else value
            except KeyError as missing:
                raise StepError(
                    f"secret {missing.args[0]!r} is not among the server's secrets (any more)",
                    error_type=ExecutionErrorType.VALIDATION,
                    retryable=False,
                ) from None

        return put_secrets

    def _hide_write_only(self, schema: Mapping[str, Any], arguments: Any) -> None:
        hidden = set(write_only_values(schema, arguments)) - self._hidden
        if hidden:
            self._hidden |= hidden
            self._masker = self.secrets.masker(self._hidden)

    def _retry(self, i: int) -> Retry:
        own = self.plan.steps[i].retry_policy
        return self._plan_retry if own is None else Retry.resolve(own, self.options.retry_policy)

    def _attempt_timeout(self, i: int) -> float:
        step = self.plan.steps[i]
        return attempt_timeout(
            step_timeout=step.timeout,
            expected_duration=step.expected_duration,
            tool_default=self.graph.tools[i].spec.default_timeout,
            policy=self.options.timeout_policy,
        )

    def _release_dependents(self, i: int) -> None:
        for d in self.graph.dependents[i]:
            self._waiting_on[d] -= 1
            if self._waiting_on[d] == 0:
                heapq.heappush(self._ready, d)

    def _step_failed(self, i: int, error: ExecutionError) -> None:
        if self._first_failure is None:
            self._first_failure = error
        if not self.options.continue_on_failure:
            self._stop(ExecutionStatus.FAILED, None)
            return
        # Steps downstream of a failure can never run: settle them now.
        skipped: set[int] = set()
        stack = list(self.graph.dependents[i])
        while stack:
            d = stack.pop()
            if d in skipped or self.state.steps[d].status is not StepStatus.PENDING:
                continue
            skipped.add(d)
            stack.extend(self.graph.dependents[d])
        failed = self.plan.steps[i].label
        for d in sorted(skipped):
            self.emit(
                EventType.STEP_STATUS_CHANGED,
                step=d,
                step_status=StepStatus.SKIPPED,
                message=f"not run: dependency {failed!r} failed",
                error=ExecutionError(
                    ExecutionErrorType.DEPENDENCY_FAILED,
                    f"dependency {failed!r} failed",
                    step_id=self.plan.steps[d].id,
                ),
            )

    # ------------------------------------------------------------------ rollback

    def _rollback_due(self) -> bool:
        status = self.state.status
        if self.state.rolling_back or self._rollback_requested:
            return True
        return self.options.auto_rollback and (
            status is ExecutionStatus.FAILED
            or (status is ExecutionStatus.CANCELLED and self.options.rollback_on_cancel)
        )

    def _has_undo(self, i: int) -> bool:
        """Whether the step declares a compensation or its tool undoes itself."""
        tool = self.graph.tools[i]
        return self.plan.steps[i].compensation is not None or (
            tool.spec.compensable and isinstance(tool, CompensatingTool)
        )

    def _needs_compensation(self, i: int) -> bool:
        status = self.state.steps[i].status
        return status in _DID_RUN and status is not StepStatus.COMPENSATED and self._has_undo(i)

    async def _run_rollback(self, tasks: asyncio.TaskGroup) -> None:
        self._halt = None
        self.phase_ended.clear()
        self._direction = -1  # later plan positions first
        if self.state.status is ExecutionStatus.PAUSED:
            self._resumed.clear()  # recovered while a rollback was paused
        else:
            self._resumed.set()
            if self.state.status is not ExecutionStatus.ROLLING_BACK:
                by = self._requested_by
                self._set_status(
                    ExecutionStatus.ROLLING_BACK, _by("rollback started", by), actor=by
                )
        self._started_at = self.state.last_sequence
        self._started.set()

        # A step is compensated after every step that depended on it and ran; steps with
        # nothing to undo pass their turn on at once.
        steps = self.state.steps
        took_part = [s.status in _DID_RUN for s in steps]
        self._waiting_on = [
            sum(1 for d in self.graph.dependents[i] if took_part[d]) for i in range(len(steps))
        ]
        self._ready = []
        self._make_ready([i for i in range(len(steps)) if took_part[i] and not self._waiting_on[i]])
        await self._drive(tasks, self._compensation_job)
        self._finish_rollback()
        await self._phase_end()

    def _make_ready(self, positions: list[int]) -> None:
        stack = positions
        while stack:
            i = stack.pop()
            if self._needs_compensation(i):
                heapq.heappush(self._ready, -i)
                continue
            for d in self.graph.dependencies[i]:  # nothing to undo here: pass the turn on
                if self.state.steps[d].status in _DID_RUN:
                    self._waiting_on[d] -= 1
                    if self._waiting_on[d] == 0:
                        stack.append(d)

    def _compensated(self, i: int) -> None:
        for d in self.graph.dependencies[i]:
            if self.state.steps[d].status in _DID_RUN:
                self._waiting_on[d] -= 1
                if self._waiting_on[d] == 0:
                    self._make_ready([d])

    def _compensation_failed(self, i: int, error: ExecutionError) -> None:
        self._compensated(i)  # a failed undo does not hold back the others

    def _compensation_job(self, i: int) -> _Job:
        step = self.plan.steps[i]
        record = self.state.steps[i]
        tool = self.graph.tools[i]
        outputs = _Outputs(self.graph.index, self.state, own=i)
        declared = step.compensation
        if declared is not None:
            undo = self.graph.compensation_tools[i]
            assert undo is not None
            spec = undo.spec
            has_refs = bool(references.find_references(declared.arguments))
            prepare = self._secret_preparation(declared.arguments, spec.input_schema)

            def start(context: ToolContext) -> Coroutine[Any, Any, Any]:
                arguments = prepare(declared.arguments) if prepare else declared.arguments
                if has_refs:
                    arguments = references.resolve(
                        arguments, outputs, self.limits.max_argument_bytes
                    )
                if has_refs or prepare:
                    check_arguments(undo, arguments)
                if prepare:
                    self._hide_write_only(spec.input_schema, arguments)
                return undo.invoke(arguments, context)

            retry = Retry.resolve(
                declared.retry_policy, step.retry_policy, self.options.retry_policy
            )
            timeout = (
                declared.timeout.total_seconds() if declared.timeout else self._attempt_timeout(i)
            )
        else:
            assert isinstance(tool, CompensatingTool)
            self_undo = tool
            spec = tool.spec
            call = step.tool_execution
            assert call is not None
            prepare = self._secret_preparation(call.arguments, spec.input_schema)

            def start(context: ToolContext) -> Coroutine[Any, Any, Any]:
                arguments = prepare(call.arguments) if prepare else call.arguments
                arguments = references.resolve(arguments, outputs, self.limits.max_argument_bytes)
                if prepare:
                    self._hide_write_only(spec.input_schema, arguments)
                return self_undo.compensate(arguments, record.output, context)

            retry, timeout = self._retry(i), self._attempt_timeout(i)
        # An interrupted compensation continues its numbering; a new rollback starts afresh.
        previous = 0
        if record.status is StepStatus.COMPENSATING and record.compensation is not None:
            previous = record.compensation.attempts
        return _Job(
            spec=spec,
            call=start,
            check=lambda output: check_json(spec, output, self.limits.max_output_bytes),
            retry=retry,
            timeout=timeout,
            previous_attempts=previous,
            running=StepStatus.COMPENSATING,
            done=StepStatus.COMPENSATED,
            failed=StepStatus.COMPENSATION_FAILED,
            on_done=self._compensated,
            on_failed=self._compensation_failed,
        )

    def _finish_rollback(self) -> None:
        """ROLLED_BACK, or ROLLBACK_FAILED naming what failed and what never ran."""
        steps = self.state.steps
        failed = [
            (self.plan.steps[i].label, s.compensation)
            for i, s in enumerate(steps)
            if s.status is StepStatus.COMPENSATION_FAILED and s.compensation is not None
        ]
        not_run = [
            self.plan.steps[i].label
            for i, s in enumerate(steps)
            if s.status is StepStatus.COMPLETED and self._has_undo(i)
        ]
        if self._halt is None and not failed:
            self._set_status(ExecutionStatus.ROLLED_BACK, "every completed step compensated")
            return
        parts = [f"compensation of {label!r} failed: {c.error}" for label, c in failed]
        if not_run:
            parts.append("not compensated: " + ", ".join(map(repr, not_run)))
        if self._halt is not None:
            parts.insert(0, "rollback cancelled")
            error_type = ExecutionErrorType.CANCELLED
        else:
            error_type = failed[0][1].error_type or ExecutionErrorType.INTERNAL
        first_failed = next(
            (s.step_id for s in steps if s.status is StepStatus.COMPENSATION_FAILED), ""
        )
        error = ExecutionError(error_type, "; ".join(parts), retryable=True, step_id=first_failed)
        actor = self._requested_by if self._halt is not None else ""  # who cancelled it
        self._set_status(ExecutionStatus.ROLLBACK_FAILED, error.message, error, actor)

    # ------------------------------------------------------------------ one step

    async def _run_job(self, i: int, job: _Job) -> None:
        error: ExecutionError | None = None
        try:
            error = await self._attempts(i, job)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._halt is None or task is None or task.cancelling() > 1:
                raise  # not ours: the server is shutting down
            task.uncancel()
            if self.state.steps[i].status in (job.done, job.failed):
                return  # it finished just before the stop reached it
            _, why = self._halt
            reason = why.message if why else "the execution failed"
            stopped = job.failed if job.running is StepStatus.COMPENSATING else StepStatus.CANCELLED
            error = ExecutionError(
                why.error_type if why else ExecutionErrorType.CANCELLED,
                reason,
                step_id=self.plan.steps[i].id,
            )
            self.emit(
                EventType.STEP_STATUS_CHANGED,
                step=i,
                step_status=stopped,
                attempt=self._attempt_of(i, job),
                message=f"cancelled: {reason}",
                error=error,
            )
            return
        except Exception:  # a bug of ours: record it rather than lose the execution
            log.exception("step crashed", extra={"plan_id": self.plan_id, "step": i})
            error = ExecutionError(
                ExecutionErrorType.INTERNAL,
                "internal error while running the step",
                step_id=self.plan.steps[i].id,
            )
            self.emit(
                EventType.STEP_STATUS_CHANGED,
                step=i,
                step_status=job.failed,
                message=error.message,
                error=error,
            )
        if error is None:
            job.on_done(i)
        else:
            job.on_failed(i, error)

    def _job_ended(self, i: int, task: asyncio.Task[None]) -> None:
        if self._running.get(i) is task:
            del self._running[i]
        self._wake.set()

    def _attempt_of(self, i: int, job: _Job) -> int:
        record = self.state.steps[i]
        if job.running is StepStatus.COMPENSATING:
            return record.compensation.attempts if record.compensation else 0
        return record.attempts

    async def _attempts(self, i: int, job: _Job) -> ExecutionError | None:
        """Attempt until one succeeds or the retry policy gives up; returns the final error."""
        step_id = self.plan.steps[i].id
        attempt = job.previous_attempts
        loop = asyncio.get_running_loop()
        while True:
            attempt += 1
            context = self._context(i, attempt, loop.time() + job.timeout, job)
            wait_at_least = 0.0
            try:
                self.budget.take_tool_invocation()
                context.usage.tool_invocations = 1
                started = self.emit(
                    EventType.STEP_STATUS_CHANGED,
                    step=i,
                    step_status=job.running,
                    attempt=attempt,
                    message=f"attempt {attempt} started",
                )
                if not job.spec.idempotent:
                    # A tool that must not run twice unknowingly: journal that this attempt
                    # may have run before it does. An idempotent one need not wait.
                    await self.journal.durable(started)
                output = await run_attempt(job.call(context), job.spec, context, job.timeout)
                job.check(output)
            except StepError as exc:
                error = ExecutionError(exc.error_type, exc.message, exc.retryable, step_id)
                wait_at_least = exc.retry_after or 0.0
            else:
                # No wait here: the journal is written in order, so the first later step
                # that waits (to run a non-idempotent tool), and every acknowledgement,
                # finds this completion stored.
                self.emit(
                    EventType.STEP_STATUS_CHANGED,
                    step=i,
                    step_status=job.done,
                    attempt=attempt,
                    message="completed",
                    output=output,
                    usage=context.usage,
                )
                return None
            if job.retry.allows_retry(attempt, error.error_type, error.retryable):
                # The other side's Retry-After wins over a shorter backoff.
                delay = max(
                    job.retry.delay(attempt, seed=f"{self.plan_id}:{step_id}"), wait_at_least
                )
                self.emit(
                    EventType.STEP_RETRY_SCHEDULED,
                    step=i,
                    attempt=attempt,
                    message=f"attempt {attempt} failed; retrying in {delay:.3g}s",
                    error=error,
                    usage=context.usage,
                    retry_delay=delay,
                )
                await asyncio.sleep(delay)
                await self._resumed.wait()  # a pause holds pending retries
                if self._halt is not None:
                    raise asyncio.CancelledError  # stopped while waiting to retry
                continue
            self.emit(
                EventType.STEP_STATUS_CHANGED,
                step=i,
                step_status=job.failed,
                attempt=attempt,
                message=error.message,
                error=error,
                usage=context.usage,
            )
            return error

    def _context(self, i: int, attempt: int, deadline: float, job: _Job) -> ToolContext:
        step = self.plan.steps[i]
        # observability: the one place a ToolContext is built; the attempt's span starts here.
        trace_context = self._observer.attempt_starting(
            step.id, attempt, job.spec.name, job.running is StepStatus.COMPENSATING
        )

        def on_progress(fraction: float, message: str) -> None:
            self.emit(
                EventType.STEP_PROGRESS, step=i, attempt=attempt, message=message, progress=fraction
            )

        return ToolContext(
            plan_id=self.plan_id,
            step_id=step.id,
            step_name=step.name,
            attempt=attempt,
            deadline=deadline,
            workspace=self.workspace,
            budget=self.budget,
            on_progress=on_progress if self.options.progress_reporting else None,
            trace_context=trace_context,
        )


def _by(what: str, actor: str) -> str:
    return f"{what} by {actor}" if actor else f"{what} by request"


def _interrupted(attempt: int, step_id: str) -> ExecutionError:
    return ExecutionError(
        ExecutionErrorType.INTERNAL,
        f"attempt {attempt} was interrupted by a server restart",
        retryable=True,
        step_id=step_id,
    )
