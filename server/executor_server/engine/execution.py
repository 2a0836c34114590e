"""One execution of a plan: the DAG scheduler, the attempt loop, and the control operations.

Scheduling is dependency counting: each step waits on a counter of unfinished dependencies
and enters a ready heap ordered by plan position when it reaches zero, so among ready steps
the earlier one in the plan always starts first. Every transition is an event: it is
applied to the state at once and journaled; a step waits for durability before it invokes
its tool and before it releases its dependents, so a crash never loses a completed step nor
hides an attempt that may have run.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from executor_server.domain.errors import StepError
from executor_server.domain.models import (
    ActionStep,
    Event,
    ExecutionError,
    ExecutionOptions,
    ResourceUsage,
)
from executor_server.domain.status import EventType, ExecutionErrorType, ExecutionStatus, StepStatus
from executor_server.engine import references
from executor_server.engine.journal import Journal
from executor_server.engine.metering import Metered
from executor_server.engine.policy import DEFAULT_MAX_CONCURRENT_STEPS, Retry, attempt_timeout
from executor_server.engine.state import ExecutionState
from executor_server.engine.validation import OutputRule, PlanGraph, compile_schema
from executor_server.tools.protocol import Budget, Tool, ToolContext

log = logging.getLogger(__name__)


class _Outputs(Mapping[str, Any]):
    """Outputs of completed steps by id or name, as references see them."""

    __slots__ = ("_index", "_state")

    def __init__(self, index: Mapping[str, int], state: ExecutionState) -> None:
        self._index = index
        self._state = state

    def __getitem__(self, key: str) -> Any:
        step = self._state.steps[self._index[key]]
        if step.status is not StepStatus.COMPLETED:
            raise KeyError(key)
        return step.output

    def __contains__(self, key: object) -> bool:
        i = self._index.get(key) if isinstance(key, str) else None
        return i is not None and self._state.steps[i].status is StepStatus.COMPLETED

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._index if k in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


async def run_attempt(
    tool: Tool,
    step: ActionStep,
    arguments: dict[str, Any],
    context: ToolContext,
    timeout_seconds: float,
    rules: tuple[OutputRule, ...],
) -> Any:
    """One call of a tool with its timeout and output checks.

    Returns the output; raises StepError for every failure (TIMEOUT, VALIDATION, a tool's
    own error, or any other exception as TOOL_FAILED) and lets cancellation through.
    """
    metered = Metered(tool.invoke(arguments, context))
    try:
        async with asyncio.timeout(timeout_seconds) as scope:
            output = await metered
    except TimeoutError as exc:
        if not scope.expired():
            raise StepError(f"TimeoutError: {exc}") from exc
        # A cut-off attempt may have done part of its work: only an idempotent tool is
        # safe to call again blindly.
        raise StepError(
            f"attempt timed out after {timeout_seconds:g}s",
            error_type=ExecutionErrorType.TIMEOUT,
            retryable=tool.spec.idempotent,
        ) from exc
    except StepError:
        raise
    except Exception as exc:
        raise StepError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        context.usage.cpu_time_ms += metered.cpu_seconds * 1000.0
    check_output(tool, step, output, rules)
    return output


def check_output(tool: Tool, step: ActionStep, output: Any, rules: tuple[OutputRule, ...]) -> None:
    """Raises StepError(VALIDATION) when the output breaks the tool's schema or a rule."""
    if not _is_json(output):
        raise StepError(
            f"tool {tool.spec.name!r} returned a value that is not JSON",
            error_type=ExecutionErrorType.VALIDATION,
            retryable=False,
        )
    checks: list[tuple[str, Any]] = []
    if tool.spec.output_schema is not None:
        checks.append(
            (f"output schema of tool {tool.spec.name!r}", compile_schema(tool.spec.output_schema))
        )
    checks.extend((rule.description, rule.validator) for rule in rules)
    for what, validator in checks:
        error = next(iter(validator.iter_errors(output)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "output"
            raise StepError(
                f"output fails {what} at {where}: {error.message}",
                error_type=ExecutionErrorType.VALIDATION,
            )


def check_arguments(tool: Tool, arguments: dict[str, Any]) -> None:
    """Arguments that held references can only be checked once resolved."""
    error = next(iter(compile_schema(tool.spec.input_schema).iter_errors(arguments)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "arguments"
        raise StepError(
            f"resolved arguments fail the input schema of {tool.spec.name!r} at {where}: "
            f"{error.message}",
            error_type=ExecutionErrorType.VALIDATION,
            retryable=False,
        )


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    return False


class Execution:
    """Runs one plan. Control methods are synchronous and take effect at once; `run` is the
    scheduler, owned by the executor's task group."""

    def __init__(
        self,
        graph: PlanGraph,
        options: ExecutionOptions,
        journal: Journal,
        state: ExecutionState,
        workspace: Path,
    ) -> None:
        self.graph = graph
        self.plan = graph.plan
        self.options = options
        self.journal = journal
        self.state = state
        self.workspace = workspace
        self.budget = Budget(options.resource_limits)
        self.finished = asyncio.Event()
        self._started = asyncio.Event()
        self._outputs = _Outputs(graph.index, state)
        self._concurrency = options.max_concurrent_steps or DEFAULT_MAX_CONCURRENT_STEPS
        self._wake = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._ready: list[int] = []
        self._waiting_on: list[int] = []
        self._interrupted: list[int] = []  # attempts a previous process left running
        # Why the execution stops early: (final status, error); None while it runs normally.
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
    ) -> int:
        """Apply one transition and queue it for the journal; returns its sequence."""
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
        )
        self.state.apply(event)
        self.journal.append(event)
        return event.sequence

    def _set_status(
        self, status: ExecutionStatus, message: str, error: ExecutionError | None = None
    ) -> int:
        return self.emit(
            EventType.EXECUTION_STATUS_CHANGED, status=status, message=message, error=error
        )

    # ------------------------------------------------------------------ control

    def accept(self) -> None:
        """Record the execution's first event."""
        self._set_status(ExecutionStatus.PENDING, "accepted")

    async def started(self) -> None:
        """Wait until the execution is running, as journaled (or has ended)."""
        await self._started.wait()

    def recover(self) -> None:
        """Settle what a previous process left in flight, before `run` continues the plan.

        A step whose attempt was running when the process died is run again only if its
        tool is idempotent or its retry policy allows another attempt; else it fails.
        """
        steps = self.state.steps
        failed = [i for i, s in enumerate(steps) if s.status is StepStatus.FAILED]
        if failed:
            step = steps[failed[0]]
            self._first_failure = ExecutionError(
                step.error_type or ExecutionErrorType.INTERNAL, step.error, step_id=step.step_id
            )
        for i, step in enumerate(steps):
            if step.status is not StepStatus.RUNNING:
                continue
            n = step.attempts
            lost = ExecutionError(
                ExecutionErrorType.INTERNAL,
                f"attempt {n} was interrupted by a server restart",
                retryable=True,
                step_id=step.step_id,
            )
            tool = self.graph.tools[i]
            retry = self._retry(i)
            if self._first_failure is not None and not self.options.continue_on_failure:
                self.emit(
                    EventType.STEP_STATUS_CHANGED,
                    step=i,
                    step_status=StepStatus.CANCELLED,
                    attempt=n,
                    message=lost.message,
                    error=lost,
                )
            elif tool.spec.idempotent or retry.allows_retry(n, lost.error_type, True):
                self.emit(
                    EventType.STEP_RETRY_SCHEDULED,
                    step=i,
                    attempt=n,
                    retry_delay=0.0,
                    message=f"{lost.message}; running it again",
                    error=lost,
                )
                self._interrupted.append(i)
            else:
                error = ExecutionError(
                    ExecutionErrorType.INTERNAL,
                    f"{lost.message}; tool {tool.spec.name!r} is not idempotent and the retry "
                    "policy allows no further attempt, so it is not run again",
                    step_id=step.step_id,
                )
                self.emit(
                    EventType.STEP_STATUS_CHANGED,
                    step=i,
                    step_status=StepStatus.FAILED,
                    attempt=n,
                    message=error.message,
                    error=error,
                )
                self._step_failed(i, error)
        if self._first_failure is not None and not self.options.continue_on_failure:
            self._stop(ExecutionStatus.FAILED, None)

    def _retry(self, i: int) -> Retry:
        return Retry.resolve(self.plan.steps[i].retry_policy, self.options.retry_policy)

    def can_pause(self) -> bool:
        return self.state.status is ExecutionStatus.RUNNING and self._halt is None

    def pause(self) -> int:
        self._resumed.clear()
        self._disarm_deadline()
        return self._set_status(ExecutionStatus.PAUSED, "paused by request")

    def resume(self) -> int:
        seq = self._set_status(ExecutionStatus.RUNNING, "resumed by request")
        self._resumed.set()
        self._arm_deadline()
        self._wake.set()
        return seq

    def cancel(self, reason: str) -> None:
        message = f"cancelled: {reason}" if reason else "cancelled by request"
        self._stop(ExecutionStatus.CANCELLED, ExecutionError(ExecutionErrorType.CANCELLED, message))

    def _stop(self, status: ExecutionStatus, error: ExecutionError | None) -> None:
        if self._halt is not None:
            return
        self._halt = (status, error)
        self._disarm_deadline()
        self._resumed.set()  # a paused execution must wake to wind down
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

    # ------------------------------------------------------------------ scheduling

    async def run(self) -> None:
        """Run the plan to its end. Cancelling this task (server shutdown) leaves the
        execution unfinished in the journal, to be resumed, rather than cancelled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                flusher = tasks.create_task(self.journal.run_flusher())
                try:
                    await self._schedule(tasks)
                    await self.journal.durable(self.state.last_sequence)
                finally:
                    flusher.cancel()
        finally:
            self._disarm_deadline()
            self._started.set()
            self.finished.set()

    async def _schedule(self, tasks: asyncio.TaskGroup) -> None:
        if self.state.status is ExecutionStatus.PENDING and self._halt is None:
            await self.journal.durable(self._set_status(ExecutionStatus.RUNNING, "started"))
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

        running, ready = self._running, self._ready
        while True:
            while ready and len(running) < self._concurrency and self._can_start():
                i = heapq.heappop(ready)
                running[i] = tasks.create_task(self._run_step(i))
            if not running and (self._halt is not None or (not ready and self._resumed.is_set())):
                break  # a paused execution stays paused, even with nothing left to start
            await self._wake.wait()
            self._wake.clear()
        self._finish()

    def _can_start(self) -> bool:
        return self._halt is None and self._resumed.is_set()

    def _finish(self) -> None:
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
        self._set_status(status, message, error)

    def _step_done(self, i: int) -> None:
        del self._running[i]
        self._wake.set()

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

    # ------------------------------------------------------------------ one step

    async def _run_step(self, i: int) -> None:
        try:
            await self._attempts(i)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._halt is None or task is None or task.cancelling() > 1:
                raise  # not ours: the server is shutting down
            task.uncancel()
            if self.state.steps[i].status.is_settled:
                return  # it finished just before the stop reached it
            _, error = self._halt
            why = error.message if error else "the execution failed"
            self.emit(
                EventType.STEP_STATUS_CHANGED,
                step=i,
                step_status=StepStatus.CANCELLED,
                attempt=self.state.steps[i].attempts,
                message=f"cancelled: {why}",
                error=ExecutionError(
                    error.error_type if error else ExecutionErrorType.CANCELLED,
                    why,
                    step_id=self.plan.steps[i].id,
                ),
            )
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
                step_status=StepStatus.FAILED,
                message=error.message,
                error=error,
            )
            self._step_failed(i, error)
        finally:
            self._step_done(i)

    async def _attempts(self, i: int) -> None:
        step = self.plan.steps[i]
        tool = self.graph.tools[i]
        call = step.tool_execution
        assert call is not None
        retry = self._retry(i)
        timeout = attempt_timeout(
            step_timeout=step.timeout,
            expected_duration=step.expected_duration,
            tool_default=tool.spec.default_timeout,
            policy=self.options.timeout_policy,
        )
        has_refs = bool(references.find_references(call.arguments))
        attempt = self.state.steps[i].attempts
        while True:
            attempt += 1
            context = self._context(i, attempt)
            try:
                self.budget.take_tool_invocation()
                context.usage.tool_invocations = 1
                await self.journal.durable(
                    self.emit(
                        EventType.STEP_STATUS_CHANGED,
                        step=i,
                        step_status=StepStatus.RUNNING,
                        attempt=attempt,
                        message=f"attempt {attempt} started",
                    )
                )
                arguments = call.arguments
                if has_refs:
                    arguments = references.resolve(arguments, self._outputs)
                    check_arguments(tool, arguments)
                output = await run_attempt(
                    tool, step, arguments, context, timeout, self.graph.output_rules[i]
                )
            except StepError as exc:
                error = ExecutionError(exc.error_type, exc.message, exc.retryable, step.id)
            else:
                await self.journal.durable(
                    self.emit(
                        EventType.STEP_STATUS_CHANGED,
                        step=i,
                        step_status=StepStatus.COMPLETED,
                        attempt=attempt,
                        message="completed",
                        output=output,
                        usage=context.usage,
                    )
                )
                self._release_dependents(i)
                return
            if retry.allows_retry(attempt, error.error_type, error.retryable):
                delay = retry.delay(attempt, seed=f"{self.plan_id}:{step.id}")
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
                step_status=StepStatus.FAILED,
                attempt=attempt,
                message=error.message,
                error=error,
                usage=context.usage,
            )
            self._step_failed(i, error)
            return

    def _context(self, i: int, attempt: int) -> ToolContext:
        step = self.plan.steps[i]

        def on_progress(fraction: float, message: str) -> None:
            self.emit(
                EventType.STEP_PROGRESS, step=i, attempt=attempt, message=message, progress=fraction
            )

        return ToolContext(
            plan_id=self.plan_id,
            step_id=step.id,
            step_name=step.name,
            attempt=attempt,
            deadline=None,
            workspace=self.workspace,
            budget=self.budget,
            on_progress=on_progress if self.options.progress_reporting else None,
        )
