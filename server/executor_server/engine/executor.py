"""The Executor: the engine's public face. It validates and admits plans, owns the tasks
that run them, applies control requests, and serves status and events.

Raises the RequestError subclasses of `domain.errors`; rpc/ maps each to a gRPC status.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from executor_server.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    StepError,
    StillRunning,
    Unavailable,
)
from executor_server.domain.limits import Limits
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    Event,
    ExecutionError,
    ExecutionOptions,
    ExecutionResult,
    ResourceLimits,
    ResourceUsage,
    RetryPolicy,
    StepResult,
    TimeoutPolicy,
)
from executor_server.domain.status import (
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)
from executor_server.engine import references
from executor_server.engine.attempt import check_arguments
from executor_server.engine.execution import Execution
from executor_server.engine.journal import Journal
from executor_server.engine.secrets import Secrets
from executor_server.engine.state import ExecutionState
from executor_server.engine.validation import (
    UUID,
    PlanGraph,
    carries_schemas,
    validate_options,
    validate_plan,
    validate_step,
)
from executor_server.observability import NULL_OBSERVER, Observer
from executor_server.store.memory import MemoryStore
from executor_server.store.protocol import (
    DuplicateExecution,
    ExecutionQuery,
    ExecutionRecord,
    ExecutionSummary,
    Store,
)
from executor_server.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

WATCH_BATCH = 500
RECENT_JOURNALS = 32  # journals of ended executions kept for watchers that lag behind
CANCEL_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class StepRunContext:
    """What a step run on its own may see of a plan around it."""

    plan_id: str = ""
    step_outputs: Mapping[str, Any] = field(default_factory=dict)
    resource_limits: ResourceLimits = field(default_factory=ResourceLimits)
    timeout_policy: TimeoutPolicy = field(default_factory=TimeoutPolicy)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)


class Executor:
    def __init__(
        self,
        tools: ToolRegistry,
        store: Store,
        *,
        workspace_root: Path,
        max_active_executions: int = 1000,
        retention: timedelta | None = None,
        limits: Limits | None = None,
        secrets: Secrets | None = None,
        observer: Observer = NULL_OBSERVER,
    ) -> None:
        self.tools = tools
        self.limits = limits or Limits()
        self.secrets = secrets or Secrets()
        self._observer = observer
        self._store = store
        self._workspace_root = workspace_root
        self._max_active = max_active_executions
        self._retention = retention
        self._live: dict[str, Execution] = {}
        self._ended: OrderedDict[str, Journal] = OrderedDict()
        self._admitting: dict[str, asyncio.Future[Execution | None]] = {}
        self._runs: set[asyncio.Task[None]] = set()
        # Serialises the decisions that make an execution live, so two requests cannot
        # both start the same one.
        self._admission = asyncio.Lock()
        self._closing = False

    async def start(self) -> None:
        """Resume unfinished executions and start purging expired ones."""
        await self.recover()
        if self._retention is not None:
            # At most a tenth of the retention late, and never busier than once a second.
            period = min(max(self._retention.total_seconds() / 10, 1.0), 3600.0)
            self._spawn(self._purge_periodically(period), "retention")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _purge_periodically(self, period: float) -> None:
        assert self._retention is not None
        while True:
            try:
                purged = await self.purge(time.time() - self._retention.total_seconds())
                if purged:
                    log.info("purged expired executions", extra={"count": purged})
            except Exception:  # a failed purge is retried next period, never fatal
                log.exception("purging expired executions failed")
            await asyncio.sleep(period)

    async def purge(self, ended_before: float) -> int:
        """Delete terminal executions that ended before `ended_before`, with their
        workspaces; returns how many."""
        count = 0
        while batch := await self._store.finished_before(ended_before, 500):
            for plan_id in batch:
                if plan_id not in self._live:
                    await self._forget(plan_id)
                    count += 1
            if len(batch) < 500:
                break
        return count

    async def _forget(self, plan_id: str) -> None:
        self._ended.pop(plan_id, None)
        await self._store.delete_execution(plan_id)
        workspace = self._workspace(plan_id)
        await asyncio.to_thread(shutil.rmtree, workspace, ignore_errors=True)

    async def delete(self, plan_id: str, *, by: str = "") -> None:
        """Forget a finished execution (`by` names who asked, for the log). Raises
        NotFound, FailedPrecondition (unfinished)."""
        async with self._admission:
            live = self._live.get(plan_id)
            if live is not None:
                raise _refused("delete", plan_id, live.status)
            record = await self._store.get_execution(plan_id)
            if record is None:
                raise NotFound(plan_id)
            if not record.status.is_terminal:
                raise _refused("delete", plan_id, record.status)
            await self._forget(plan_id)
        log.info("execution deleted", extra={"plan_id": plan_id, "by": by})

    async def list_executions(
        self, query: ExecutionQuery
    ) -> tuple[list[ExecutionSummary], tuple[float, str] | None]:
        """A page of executions, and where the next page starts (None on the last)."""
        found = await self._store.list_executions(replace(query, limit=query.limit + 1))
        page = found[: query.limit]
        more = len(found) > query.limit
        return page, (page[-1].create_time, page[-1].plan_id) if more and page else None

    async def recover(self) -> int:
        """Continue every execution the store has unfinished; returns how many."""
        records = await self._store.unfinished_executions()
        for record in records:
            events = await self._store.read_events(record.plan_id)
            try:
                graph = validate_plan(record.plan, record.options, self.tools)
            except InvalidArgument as exc:  # valid when accepted: a tool it needs is gone
                await self._fail_unrecoverable(record, events, exc.message)
                continue
            self._start(graph, record, events)
            log.info(
                "execution resumed", extra={"plan_id": record.plan_id, "status": record.status.name}
            )
        return len(records)

    async def _fail_unrecoverable(
        self, record: ExecutionRecord, events: list[Event], why: str
    ) -> None:
        message = f"cannot resume after a restart: {why}"
        log.error("execution not resumed", extra={"plan_id": record.plan_id, "error": why})
        await self._store.append_events(
            record.plan_id,
            [
                Event(
                    sequence=len(events) + 1,
                    plan_id=record.plan_id,
                    time=time.time(),
                    type=EventType.EXECUTION_STATUS_CHANGED,
                    status=ExecutionStatus.FAILED,
                    message=message,
                    error=ExecutionError(ExecutionErrorType.TOOL_NOT_FOUND, message),
                )
            ],
        )

    def _workspace(self, plan_id: str) -> Path:
        """The workspace directory of an execution: plan ids are UUIDs (checked where they
        enter), and this makes sure no id can name a directory outside the root."""
        if not UUID.match(plan_id):
            raise ValueError(f"not a plan id: {plan_id[:64]!r}")
        return self._workspace_root / plan_id

    def start_closing(self) -> None:
        """Refuse new plans and steps (UNAVAILABLE) from now on."""
        self._closing = True

    async def close(self) -> None:
        """Stop every run without finishing it: the journal keeps them unfinished, so a
        durable store resumes them on the next start."""
        self._closing = True
        for task in self._runs:
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)

    def _check_secrets(self, steps: Sequence[ActionStep], field: str) -> None:
        """Raises InvalidArgument naming each secret a step refers to that the server does
        not have."""
        violations = []
        for i, step in enumerate(steps):
            where = f"{field}[{i}]" if field == "plan.steps" else field
            for part, call in (
                ("tool_execution", step.tool_execution),
                ("compensation", step.compensation),
            ):
                if call is None:
                    continue
                for name in self.secrets.unknown(call.arguments):
                    violations.append(
                        FieldViolation(
                            f"{where}.{part}.arguments", f"unknown secret {name[:128]!r}"
                        )
                    )
        if violations:
            raise InvalidArgument(violations, reason="UNKNOWN_SECRET")

    def _check_open(self) -> None:
        if self._closing:
            raise Unavailable("the server is shutting down")

    # ------------------------------------------------------------------ plans

    async def execute_plan(
        self, plan: ActionPlan, options: ExecutionOptions, *, detach: bool = False, by: str = ""
    ) -> ExecutionResult:
        """Run `plan` (or attach to its execution if the same plan was submitted before);
        `by` names the caller, recorded as the submitter.

        Raises InvalidArgument, AlreadyExists, ResourceExhausted, Unavailable.
        """
        self._check_open()
        if carries_schemas(plan.steps):
            graph = await asyncio.to_thread(validate_plan, plan, options, self.tools)
        else:
            graph = validate_plan(plan, options, self.tools)
        self._check_secrets(plan.steps, "plan.steps")
        earlier = self._admitting.get(plan.id)
        if earlier is not None:  # the same id, submitted a moment ago: let it decide first
            await asyncio.wait([earlier])
        execution = self._live.get(plan.id)
        if execution is None:
            if len(self._live) >= self._max_active:
                raise ResourceExhausted(
                    f"the server is running {len(self._live)} executions, its limit"
                )
            record = ExecutionRecord(plan, options, time.time())
            # Admission runs to its end even if the client goes away: a stored record
            # without a running execution would be lost work.
            admitting = asyncio.ensure_future(self._admit(graph, record, by))
            self._admitting[plan.id] = admitting
            admitting.add_done_callback(partial(self._admitted, plan.id))
            execution = await asyncio.shield(admitting)
            if execution is None:  # it ran before and has finished
                return await self._stored_result(plan.id)
        elif not (execution.plan == plan and execution.options == options):
            raise AlreadyExists(plan.id)

        if detach:
            await execution.started()
        else:
            await execution.finished.wait()
        return await self._result(execution)

    def _admitted(self, plan_id: str, admitting: asyncio.Future[Execution | None]) -> None:
        if self._admitting.get(plan_id) is admitting:
            del self._admitting[plan_id]
        if not admitting.cancelled():
            admitting.exception()  # its submitter reports it, if still there to hear

    async def _admit(
        self, graph: PlanGraph, record: ExecutionRecord, by: str = ""
    ) -> Execution | None:
        """Store and start a new execution; None when the same plan ran before.

        Raises AlreadyExists when the id is taken by other content.
        """
        try:
            await self._store.create_execution(record)
        except DuplicateExecution as dup:
            if not dup.existing.submitted_as(record.plan, record.options):
                raise AlreadyExists(record.plan_id) from None
            return None
        # Stored but not started when the server began closing meanwhile: the next start
        # finds it unfinished and runs it.
        self._check_open()
        return self._start(graph, record, by=by)

    def _start(
        self,
        graph: PlanGraph,
        record: ExecutionRecord,
        journaled: list[Event] | None = None,
        *,
        rollback: bool = False,
        by: str = "",
    ) -> Execution:
        """Run a new execution, or continue one from the events it `journaled` before
        (and roll it back, if asked); `by` names who asked."""
        plan = graph.plan
        state = ExecutionState(plan, record.create_time)
        for event in journaled or ():
            state.apply(event)
        observer = self._observer.execution(plan, state.status)  # observability
        execution = Execution(
            graph,
            record.options,
            Journal(self._store, plan.id, state.last_sequence, observer),
            state,
            self._workspace(plan.id),
            self.limits,
            observer,
            self.secrets,
        )
        if journaled:
            execution.recover()
        else:
            execution.accept(by)
        if rollback:
            execution.request_rollback(by)
        self._live[plan.id] = execution
        self._spawn(self._run(execution), f"execution {plan.id}")
        return execution

    async def _run(self, execution: Execution) -> None:
        try:
            await execution.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("execution crashed", extra={"plan_id": execution.plan_id})
        finally:
            self._live.pop(execution.plan_id, None)
            # Watchers still catching up read the tail from memory, not from the store.
            self._ended[execution.plan_id] = execution.journal
            self._ended.move_to_end(execution.plan_id)
            if len(self._ended) > RECENT_JOURNALS:
                self._ended.popitem(last=False)

    async def _result(self, execution: Execution) -> ExecutionResult:
        # Report only what is journaled: nothing a crash could take back.
        await execution.journal.durable(execution.state.last_sequence)
        return execution.state.snapshot(time.time())

    async def _stored_result(self, plan_id: str) -> ExecutionResult:
        record = await self._store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        state = ExecutionState(record.plan, record.create_time)
        for event in await self._store.read_events(plan_id):
            state.apply(event)
        return state.snapshot(time.time())

    # ------------------------------------------------------------------ status and control

    async def get_status(self, plan_id: str) -> ExecutionResult:
        """Raises NotFound."""
        execution = self._live.get(plan_id)
        if execution is not None:
            return await self._result(execution)
        return await self._stored_result(plan_id)

    async def _controllable(self, plan_id: str) -> Execution | ExecutionStatus:
        """The live execution, or the status of a finished one. Raises NotFound."""
        execution = self._live.get(plan_id)
        if execution is not None:
            return execution
        record = await self._store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        return record.status

    async def pause(self, plan_id: str, *, by: str = "") -> ExecutionStatus:
        """Raises NotFound, FailedPrecondition (not running)."""
        execution = await self._controllable(plan_id)
        status = execution if isinstance(execution, ExecutionStatus) else execution.status
        if status is ExecutionStatus.PAUSED:
            return status
        if not isinstance(execution, Execution) or not execution.can_pause():
            raise _refused("pause", plan_id, status)
        seq = execution.pause(by)
        await execution.journal.durable(seq)
        return ExecutionStatus.PAUSED

    async def resume(self, plan_id: str, *, by: str = "") -> ExecutionStatus:
        """Raises NotFound, FailedPrecondition (not paused)."""
        execution = await self._controllable(plan_id)
        status = execution if isinstance(execution, ExecutionStatus) else execution.status
        if not isinstance(execution, Execution) or status not in (
            ExecutionStatus.PAUSED,
            ExecutionStatus.RUNNING,
            ExecutionStatus.ROLLING_BACK,
        ):
            raise _refused("resume", plan_id, status)
        if status is ExecutionStatus.PAUSED:
            seq = execution.resume(by)
            status = execution.status  # what the resume did; the run may move on meanwhile
            await execution.journal.durable(seq)
        return status

    async def cancel(self, plan_id: str, reason: str = "", *, by: str = "") -> ExecutionStatus:
        """Cancel and wait (briefly) for running attempts to wind down.

        Raises NotFound, FailedPrecondition (already finished otherwise than cancelled).
        """
        execution = await self._controllable(plan_id)
        status = execution if isinstance(execution, ExecutionStatus) else execution.status
        if status is ExecutionStatus.CANCELLED:
            return status
        # A live execution may have just ended: its status decides, as for a stored one.
        if not isinstance(execution, Execution) or status.is_terminal:
            raise _refused("cancel", plan_id, status)
        execution.cancel(reason, by)
        try:  # the end of what was cancelled, not of a rollback that may follow
            await asyncio.wait_for(execution.phase_ended.wait(), CANCEL_WAIT_SECONDS)
        except TimeoutError:
            log.warning("cancel is taking long", extra={"plan_id": plan_id})
            raise StillRunning(
                f"cancel requested, but running attempts are still winding down after "
                f"{CANCEL_WAIT_SECONDS:g}s; the execution ends CANCELLED once they stop "
                "(watch it, or cancel again to wait once more)",
                plan_id=plan_id,
                status=execution.status,
            ) from None
        await execution.journal.durable(execution.state.last_sequence)
        status = execution.status
        if status is not ExecutionStatus.CANCELLED and not execution.rolls_back:
            raise _refused("cancel", plan_id, status)  # it ended otherwise just before
        return status

    async def rollback(
        self, plan_id: str, *, detach: bool = False, by: str = ""
    ) -> ExecutionStatus:
        """Compensate the completed steps of a FAILED or CANCELLED execution (again, for one
        that ended ROLLBACK_FAILED: only what is not yet compensated). Waits for the end of
        the rollback unless `detach`. Raises NotFound, FailedPrecondition."""
        async with self._admission:
            live = self._live.get(plan_id)
            if live is not None and not live.rolls_back:
                # Its forward run is still going, or just ending: rollback needs the end.
                if not live.status.is_terminal:
                    raise _refused("roll back", plan_id, live.status)
                await live.finished.wait()
                live = None
            execution = live or await self._revive_for_rollback(plan_id, by)
        if isinstance(execution, ExecutionStatus):
            return execution
        if detach:
            await execution.started()
        else:
            await execution.finished.wait()
        await execution.journal.durable(execution.state.last_sequence)
        return execution.status

    async def _revive_for_rollback(self, plan_id: str, by: str = "") -> Execution | ExecutionStatus:
        """Start the rollback of a finished execution; a rolled-back one stays as it is."""
        record = await self._store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        if record.status is ExecutionStatus.ROLLED_BACK:
            return record.status
        rollbackable = (
            ExecutionStatus.FAILED,
            ExecutionStatus.CANCELLED,
            ExecutionStatus.ROLLBACK_FAILED,
        )
        if record.status not in rollbackable:
            raise _refused("roll back", plan_id, record.status)
        graph = validate_plan(record.plan, record.options, self.tools)
        events = await self._store.read_events(plan_id)
        return self._start(graph, record, events, rollback=True, by=by)

    async def watch(self, plan_id: str, after_sequence: int = 0) -> AsyncIterator[list[Event]]:
        """Batches of events after `after_sequence`: first the journal, then live ones as
        they are stored; ends after the execution's last event. Raises NotFound."""
        if plan_id not in self._live and await self._store.get_execution(plan_id) is None:
            raise NotFound(plan_id)
        return self._follow(plan_id, after_sequence)

    async def _follow(self, plan_id: str, after: int) -> AsyncIterator[list[Event]]:
        while True:
            execution = self._live.get(plan_id)
            journal = execution.journal if execution is not None else self._ended.get(plan_id)
            if journal is not None:
                events = await journal.read(after, WATCH_BATCH)
            else:
                events = await self._store.read_events(plan_id, after, WATCH_BATCH)
            if events:
                yield events
                after = events[-1].sequence
                continue
            if execution is None or execution.finished.is_set():
                return  # every event it will ever have is stored, and has been sent
            await execution.journal.published_after(after)

    # ------------------------------------------------------------------ one step

    async def execute_step(
        self, step: ActionStep, context: StepRunContext
    ) -> tuple[StepResult, ResourceUsage]:
        """Run one step outside any plan, with its retries, timeout and output checks.

        Raises InvalidArgument for a malformed step or context.
        """
        self._check_open()
        if context.plan_id and not UUID.match(context.plan_id):
            # It names the workspace directory: only a plan id can.
            raise InvalidArgument(
                [FieldViolation("context.plan_id", "must be a plan id (a UUID) or empty")]
            )
        known = context.step_outputs.keys()
        if carries_schemas([step]):
            tool, rules = await asyncio.to_thread(validate_step, step, known, self.tools)
        else:
            tool, rules = validate_step(step, known, self.tools)
        self._check_secrets([step], "step")
        options = ExecutionOptions(
            resource_limits=context.resource_limits,
            timeout_policy=context.timeout_policy,
            retry_policy=context.retry_policy,
        )
        validate_options(options, field="context")
        plan_id = context.plan_id or str(uuid.uuid4())
        call = step.tool_execution
        assert call is not None
        try:
            arguments = call.arguments
            if references.find_references(arguments):
                arguments = references.resolve(
                    arguments, context.step_outputs, self.limits.max_argument_bytes
                )
                check_arguments(tool, arguments)
        except StepError as exc:
            now = time.time()
            failed = StepResult(
                step.id,
                step.name,
                StepStatus.FAILED,
                error=exc.message,
                error_type=exc.error_type,
                start_time=now,
                end_time=now,
            )
            return failed, ResourceUsage()
        resolved = step.model_copy(
            update={"tool_execution": call.model_copy(update={"arguments": arguments})}
        )
        plan = ActionPlan(id=plan_id, steps=(resolved,))
        graph = PlanGraph(plan, {step.id: 0}, ((),), ((),), (tool,), (rules,), (None,))
        # A one-step execution of its own, journaled in memory only and never listed.
        store = MemoryStore()
        record = ExecutionRecord(plan, options, time.time())
        await store.create_execution(record)
        state = ExecutionState(plan, record.create_time)
        observer = self._observer.execution(plan, state.status, standalone=True)  # observability
        execution = Execution(
            graph,
            options,
            Journal(store, plan_id, observer=observer),
            state,
            self._workspace(plan_id),
            self.limits,
            observer,
            self.secrets,
        )
        execution.accept()
        await execution.run()
        return execution.state.steps[0], execution.state.usage


def _refused(operation: str, plan_id: str, status: ExecutionStatus) -> FailedPrecondition:
    return FailedPrecondition(
        f"cannot {operation} an execution that is {status.name}",
        plan_id=plan_id,
        status=status,
    )
