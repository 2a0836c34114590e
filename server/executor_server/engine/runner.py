"""The thin async side of one execution: it performs the machine's effects and turns what
happens back into commands (engine/machine.py decides everything).

- One task group per execution holds its attempt tasks and its journal flusher; only
  shutdown cancels the group. An attempt's outcome comes back through the task's
  done-callback, which runs however the task ended — even when it was cancelled before
  its first step — so no attempt is ever lost and nothing is ever uncancelled.
- A backoff, the plan deadline and a stop's grace period are loop timers, not tasks: a step
  waiting to retry holds no concurrency slot.
- Durability is honoured in two places, both decided by the machine: an attempt whose
  `StartAttempt.after` is set runs its tool only once that sequence is durable, and
  `request` answers only once its reply's sequence is stored and published (so an answer
  never reports what a watcher cannot see yet). Every event goes to the
  journal through `_perform`, and every ToolContext is built in `_context`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from executor_server.domain.errors import StepError, Unavailable
from executor_server.domain.frozen import freeze
from executor_server.domain.limits import Limits
from executor_server.domain.models import ExecutionError, ResourceUsage
from executor_server.domain.status import ExecutionErrorType, ExecutionStatus
from executor_server.engine import references
from executor_server.engine.attempt import check_arguments, check_json, check_output
from executor_server.engine.journal import Journal
from executor_server.engine.machine import (
    ArmTimer,
    AttemptEnded,
    CancelAttempt,
    Command,
    DisarmTimer,
    Machine,
    Phase,
    Reply,
    ReportProgress,
    StartAttempt,
    Timer,
    TimerFired,
    Transition,
)
from executor_server.engine.metering import Metered
from executor_server.engine.references import Template
from executor_server.engine.secrets import declares_write_only, write_only_values
from executor_server.observability import NULL_EXECUTION_OBSERVER, ExecutionObserver
from executor_server.store.protocol import LeaseLost
from executor_server.tools.protocol import CompensatingTool, Tool, ToolContext

log = logging.getLogger(__name__)


class _Attempt:
    """One attempt in flight: its task, and the timer that cuts it off."""

    __slots__ = ("began", "context", "effect", "expired", "reported", "task", "timeout", "timer")

    def __init__(self, effect: StartAttempt, context: ToolContext, timeout: float) -> None:
        self.effect = effect
        self.context = context
        self.timeout = timeout
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.expired = False
        self.began = False
        self.reported = False  # its outcome reached the machine

    def arm_timeout(self) -> None:
        """Called when the tool first waits: a call that never waits cannot be interrupted,
        and most (echo, cached answers) then cost no timer at all."""
        deadline = self.context.deadline
        if deadline is not None:
            self.timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self.expired = True
        if self.task is not None:
            self.task.cancel()


class Runner:
    """Runs one machine. `handle` is synchronous: a command takes effect at once."""

    def __init__(
        self,
        machine: Machine,
        journal: Journal,
        workspace: Path,
        limits: Limits,
        *,
        observer: ExecutionObserver = NULL_EXECUTION_OBSERVER,
        on_finished: Callable[[Runner], None] | None = None,
    ) -> None:
        self.machine = machine
        self.limits = limits
        self._observer = observer
        self.program = machine.program
        self.journal = journal
        self.workspace = workspace
        self._on_finished = on_finished
        self._loop = asyncio.get_running_loop()
        self._group: asyncio.TaskGroup | None = None
        self._deferred: list[StartAttempt] = []  # attempts decided before `run` began
        #: By (step, item, attempt, compensation); item is -1 but for a for_each's elements.
        self._attempts: dict[tuple[int, int, int, bool], _Attempt] = {}
        self._timers: dict[Timer, asyncio.TimerHandle] = {}
        self._replies: dict[int, asyncio.Future[tuple[int, ExecutionStatus]]] = {}
        self._tickets = itertools.count(1)
        self._ended = asyncio.Event()  # the machine is ENDED, or broke
        self._crash: BaseException | None = None
        self._closing = False
        self._hides: dict[int, bool] = {}  # by input schema: does it declare writeOnly?
        #: The machine has ended and all of its journal is stored: it takes no more requests.
        self.finished = False
        #: Why the run stopped when another replica took the execution over.
        self.lost: LeaseLost | None = None

    @property
    def plan_id(self) -> str:
        return self.program.plan.id

    @property
    def status(self) -> ExecutionStatus:
        return self.machine.status

    # ------------------------------------------------------------ commands in, effects out

    def handle(self, command: Command) -> None:
        """Apply a command. Raises what the machine raises for a refused request."""
        transition = self.machine.handle(command)
        self._perform(transition)

    def _perform(self, transition: Transition) -> None:
        if transition.events:
            self.journal.append(transition.events)  # the one way an event is journaled
        for effect in transition.effects:
            match effect:
                case StartAttempt():
                    self._start_attempt(effect)
                case CancelAttempt(step, attempt, compensation, item):
                    self._cancel_attempt((step, item, attempt, compensation))
                case ArmTimer(timer, delay):
                    self._disarm(timer)
                    self._timers[timer] = self._loop.call_later(delay, self._fire, timer)
                case DisarmTimer(timer):
                    self._disarm(timer)
                case Reply(ticket, sequence, status):
                    future = self._replies.pop(ticket, None)
                    if future is not None and not future.done():
                        future.set_result((sequence, status))
        if self.machine.phase is Phase.ENDED:
            self._ended.set()

    def _from_callback(self, command: Command) -> None:
        """A command from a loop callback: a failure here is a bug of ours, and must end
        the run (left unfinished in the journal) rather than vanish into the loop's log."""
        if self._closing:
            return  # shutting down: what is in flight stays in flight for the next start
        try:
            self.handle(command)
        except Exception as exc:
            self._crash = exc
            self._ended.set()

    def _fire(self, timer: Timer) -> None:
        self._timers.pop(timer, None)
        self._from_callback(TimerFired(timer))

    def _disarm(self, timer: Timer) -> None:
        handle = self._timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    # ------------------------------------------------------------ requests

    async def request(self, command: Callable[[int], Command]) -> ExecutionStatus:
        """Send the command built for a fresh ticket; returns the status it answers with,
        once everything that answer reports is durable. Raises what the machine raises
        (FailedPrecondition), or Unavailable when the server stops first."""
        ticket = next(self._tickets)
        reply: asyncio.Future[tuple[int, ExecutionStatus]] = self._loop.create_future()
        self._replies[ticket] = reply
        try:
            self.handle(command(ticket))
        except BaseException:
            del self._replies[ticket]
            raise
        sequence, status = await reply
        await self.journal.visible(sequence)
        return status

    async def settled(self) -> None:
        """Wait until everything the state holds now is stored and published."""
        await self.journal.visible(self.machine.state.last_sequence)

    # ------------------------------------------------------------ attempts

    def _start_attempt(self, effect: StartAttempt) -> None:
        if self._group is None:
            self._deferred.append(effect)
            return
        i = effect.step
        undo = self.program.undo[i] if effect.compensation else None
        timeout = undo.timeout if undo is not None else self.program.timeout[i]
        attempt = _Attempt(effect, self._context(effect, timeout), timeout)
        self._attempts[_key(effect)] = attempt
        task = self._group.create_task(self._run_attempt(attempt))
        attempt.task = task
        task.add_done_callback(lambda _: self._attempt_done(attempt))

    def _tool(self, i: int) -> Tool:
        tool = self.program.tools[i]
        assert tool is not None  # the machine starts attempts only of steps with a tool
        return tool

    def _end_attempt(self, attempt: _Attempt) -> None:
        self._attempts.pop(_key(attempt.effect), None)
        if attempt.timer is not None:
            attempt.timer.cancel()

    def _cancel_attempt(self, key: tuple[int, int, int, bool]) -> None:
        attempt = self._attempts.get(key)
        if attempt is not None and attempt.task is not None:
            attempt.task.cancel()
            return
        for effect in self._deferred:  # never started: it ends here, cancelled
            if _key(effect) == key:
                self._deferred.remove(effect)
                ended = AttemptEnded(
                    effect.step,
                    effect.attempt,
                    effect.compensation,
                    cancelled=True,
                    item=effect.item,
                )
                self._loop.call_soon(self._from_callback, ended)
                return

    def _context(self, effect: StartAttempt, timeout: float) -> ToolContext:
        """The one place a ToolContext is built."""
        i = effect.step
        step = self.program.plan.steps[i]
        undo = self.program.undo[i] if effect.compensation else None
        tool = undo.tool if undo is not None else self._tool(i)
        # observability: the attempt's span starts here.
        item = effect.item if effect.item >= 0 else None
        trace_context = self._observer.attempt_starting(
            step.id, effect.attempt, tool.spec.name, effect.compensation, item
        )
        on_progress = None
        if self.program.options.progress_reporting:
            i, n, k = effect.step, effect.attempt, effect.item

            def on_progress(fraction: float, message: str) -> None:
                self._from_callback(ReportProgress(i, n, fraction, message, k))

        context = ToolContext(
            plan_id=self.plan_id,
            step_id=step.id,
            step_name=step.name,
            attempt=effect.attempt,
            deadline=self._loop.time() + timeout,
            workspace=self.workspace,
            budget=self.machine.budget,
            on_progress=on_progress,
            trace_context=trace_context,
            item_index=item,
        )
        context.usage.tool_invocations = 1
        return context

    def _call(self, effect: StartAttempt, context: ToolContext) -> Coroutine[Any, Any, Any]:
        """The tool call of an attempt, its secrets and references resolved. Raises
        StepError."""
        i, k, program = effect.step, effect.item, self.program
        if not effect.compensation:
            tool = self._tool(i)
            approval = self.machine.state.steps[i].approval
            if approval is not None and approval.arguments is not None:
                # Edited by the approver: checked then, and taken as they are.
                return tool.invoke(approval.arguments, context)
            outputs = self.machine.outputs(own=i, item=k) if k >= 0 else self.machine.outputs()
            arguments = self._arguments(program.arguments[i], tool, outputs)
            return tool.invoke(arguments, context)
        undo = program.undo[i]
        if undo is None:  # the machine compensates only steps with an undo
            raise StepError("the step has nothing to undo", error_type=ExecutionErrorType.INTERNAL)
        outputs = self.machine.outputs(own=i, item=k)
        if undo.by_tool and isinstance(undo.tool, CompensatingTool):
            arguments = self._arguments(undo.arguments, undo.tool, outputs, check=False)
            if k >= 0:
                output = self.machine.element_output(i, k)
            else:
                output = self.machine.state.steps[i].output
            return undo.tool.compensate(arguments, output, context)
        return undo.tool.invoke(self._arguments(undo.arguments, undo.tool, outputs), context)

    def _arguments(
        self, template: Template, tool: Tool, outputs: Mapping[str, Any], *, check: bool = True
    ) -> Any:
        """Arguments as the tool gets them: secrets first (so that text an output brings in
        through a reference is never taken for a secret's name), then references; checked
        against the input schema when either changed them. Raises StepError."""
        limit = self.limits.max_argument_bytes
        if template.secrets:
            try:
                value = self.machine.secrets.resolve(template.value)
            except KeyError as missing:
                raise StepError(
                    f"secret {missing.args[0]!r} is not among the server's secrets (any more)",
                    error_type=ExecutionErrorType.VALIDATION,
                    retryable=False,
                ) from None
            if template.steps or template.items:
                value = references.resolve(value, outputs, limit)
            value = freeze(value)
        else:
            value = template.resolve(outputs, limit)
        if check and (template.steps or template.items or template.secrets):
            check_arguments(tool, value)
        schema = tool.spec.input_schema
        hides = self._hides.get(id(schema))
        if hides is None:  # once per tool, not per step
            hides = self._hides[id(schema)] = declares_write_only(schema)
        if hides:
            self.machine.hide(write_only_values(schema, value))
        return value

    async def _run_attempt(self, attempt: _Attempt) -> None:
        """One attempt, start to outcome. The outcome of a call that returned or raised is
        reported as the task ends, in its last step: a failure stops its siblings before
        they take a step of their own. An attempt that ended otherwise (cancelled, timed
        out, broken) is reported by the done-callback."""
        ended = await self._attempt_outcome(attempt)
        if not attempt.expired:
            attempt.reported = True
            self._end_attempt(attempt)
            self._from_callback(ended)

    async def _attempt_outcome(self, attempt: _Attempt) -> AttemptEnded:
        """Its outcome for every failure of the tool; only cancellation ends it otherwise."""
        attempt.began = True
        effect, context = attempt.effect, attempt.context
        i = effect.step
        try:
            if effect.after:
                await self.journal.durable(effect.after)
            metered = Metered(self._call(effect, context), attempt.arm_timeout)
            try:
                output = await metered
            finally:
                context.usage.cpu_time_ms += metered.cpu_seconds * 1000.0
            output = self._checked(effect, output)
        except StepError as exc:
            return self._failed(
                attempt, exc.error_type, exc.message, exc.retryable, exc.retry_after
            )
        except Unavailable:
            raise  # the journal closed under it: only at shutdown, which cancels it anyway
        except Exception as exc:
            return self._failed(
                attempt, ExecutionErrorType.TOOL_FAILED, f"{type(exc).__name__}: {exc}", True
            )
        return AttemptEnded(
            i,
            effect.attempt,
            effect.compensation,
            output=output,
            usage=context.usage,
            item=effect.item,
        )

    def _checked(self, effect: StartAttempt, output: Any) -> Any:
        """The output, read-only from now on. Raises StepError: VALIDATION when it is not
        JSON, nests too deep or breaks a rule, RESOURCE_EXHAUSTED past max_output_bytes."""
        i, limit = effect.step, self.limits.max_output_bytes
        if effect.compensation:
            undo = self.program.undo[i]
            if undo is not None:
                check_json(undo.tool.spec, output, limit)
        else:
            check_output(self._tool(i).spec, output, self.program.output_rules[i], limit)
        return freeze(output)

    def _failed(
        self,
        attempt: _Attempt,
        error_type: ExecutionErrorType,
        message: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> AttemptEnded:
        effect = attempt.effect
        step_id = self.program.plan.steps[effect.step].id
        return AttemptEnded(
            effect.step,
            effect.attempt,
            effect.compensation,
            error=ExecutionError(error_type, message, retryable, step_id),
            usage=attempt.context.usage,
            retry_after=retry_after or 0.0,
            item=effect.item,
        )

    def _attempt_done(self, attempt: _Attempt) -> None:
        if attempt.reported:
            return
        effect, task = attempt.effect, attempt.task
        assert task is not None  # set right after the task is created
        self._end_attempt(attempt)
        usage: ResourceUsage | None = attempt.context.usage if attempt.began else None
        if attempt.expired:
            # A cut-off attempt may have done part of its work: only an idempotent tool is
            # safe to call again blindly.
            undo = self.program.undo[effect.step]
            tool = undo.tool if effect.compensation and undo else self._tool(effect.step)
            ended = self._failed(
                attempt,
                ExecutionErrorType.TIMEOUT,
                f"attempt timed out after {attempt.timeout:g}s",
                tool.spec.idempotent,
            )
        elif task.cancelled():
            ended = AttemptEnded(
                effect.step,
                effect.attempt,
                effect.compensation,
                cancelled=True,
                usage=usage,
                item=effect.item,
            )
        elif (exc := task.exception()) is not None:
            log.error(
                "attempt crashed",
                exc_info=exc,
                extra={"plan_id": self.plan_id, "step": effect.step},
            )
            ended = self._failed(
                attempt, ExecutionErrorType.INTERNAL, "internal error while running the step", False
            )
        else:
            return  # it returned and reported
        self._from_callback(ended)

    # ------------------------------------------------------------ the run

    async def run(self) -> None:
        """Perform effects until the machine has ended and its journal is stored.

        Cancelling this task (server shutdown) leaves the execution unfinished in the
        journal, to be resumed, rather than cancelled. Raises what broke the machine.
        """
        try:
            async with asyncio.TaskGroup() as group:
                try:
                    await self._run(group)
                except asyncio.CancelledError:
                    self._closing = True  # the group now cancels the attempts: not outcomes
                    raise
                # Attempts given up on may still be winding down: they are the group's.
                for attempt in self._attempts.values():
                    if attempt.task is not None:
                        attempt.task.cancel()
        finally:
            self._closing = True
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            self.journal.close()
            for reply in self._replies.values():
                if not reply.done():
                    reply.set_exception(Unavailable("the execution was stopped by the server"))
            self._replies.clear()

    async def _run(self, group: asyncio.TaskGroup) -> None:
        self._group = group
        deferred, self._deferred = self._deferred, []
        for effect in deferred:
            self._start_attempt(effect)
        flusher = group.create_task(self._flush())
        while True:
            await self._ended.wait()
            if self._crash is not None:
                raise self._crash
            self.journal.drain()
            await flusher
            # Events may have come after the flusher's last look, or a rollback begun.
            if self.machine.phase is Phase.ENDED and self.journal.written:
                break
            self._ended.clear()
            self.journal.undrain()
            flusher = group.create_task(self._flush())
        self.finished = True
        if self._on_finished is not None:
            self._on_finished(self)

    async def _flush(self) -> None:
        """The journal's flusher. A write that fails ends the run, since nothing more can be
        journaled (LeaseLost: another replica owns the execution now): the outcomes of the
        attempts that the group then cancels are not taken in."""
        try:
            await self.journal.run_flusher()
        except BaseException as exc:
            self._closing = True
            if isinstance(exc, LeaseLost):
                self.lost = exc
            raise


def _key(effect: StartAttempt) -> tuple[int, int, int, bool]:
    return effect.step, effect.item, effect.attempt, effect.compensation
