"""The Executor: the engine's public face. It validates and admits plans, owns the tasks
that run them, applies control requests, and serves status and events.

On a shared store (PostgreSQL) it is one replica of several. It runs the executions it
owns and keeps claiming more while it has room: executions queued by full replicas, those
of replicas whose lease expired, and those handed over by replicas that are leaving, each
continued by replaying its journal. It answers every call for any execution: status,
history and watches from the store (following other replicas through notifications),
control operations by forwarding them to the owner (engine/replicas.py).

Raises the RequestError subclasses of `domain.errors`; rpc/ maps each to a gRPC status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
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
    RequestError,
    ResourceExhausted,
    StepError,
    StepNotFound,
    StillRunning,
    Unavailable,
)
from executor_server.domain.frozen import freeze
from executor_server.domain.limits import MAX_COMMENT_CHARS, Limits
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    Event,
    ExecutionOptions,
    ExecutionResult,
    PendingApproval,
    ResourceLimits,
    ResourceUsage,
    RetryPolicy,
    StepResult,
    TimeoutPolicy,
)
from executor_server.domain.status import ApprovalDecision, ExecutionStatus, StepStatus
from executor_server.engine import references
from executor_server.engine.attempt import check_arguments
from executor_server.engine.journal import Journal
from executor_server.engine.machine import (
    Approve,
    AwaitEnd,
    Cancel,
    Command,
    Machine,
    Pause,
    Recover,
    Resume,
    Retry,
    Rollback,
    Signal,
    Start,
    abandon,
    step_refusal,
)
from executor_server.engine.program import Program, build_program
from executor_server.engine.replicas import (
    FORWARDED,
    Moved,
    Wakeups,
    decode_answer,
    encode_answer,
    forwarded,
    wait_for,
)
from executor_server.engine.runner import Runner
from executor_server.engine.secrets import Secrets
from executor_server.engine.state import ExecutionState
from executor_server.engine.validation import (
    UUID,
    carries_schemas,
    validate_edited_arguments,
    validate_limits,
    validate_options,
    validate_plan,
    validate_signal_payload,
    validate_step,
)
from executor_server.engine.waits import Gate, SignalWait
from executor_server.observability import NULL_OBSERVER, Observer
from executor_server.store.memory import MemoryStore
from executor_server.store.protocol import (
    Appended,
    CommandAnswered,
    CommandSent,
    DuplicateExecution,
    ExecutionQuery,
    ExecutionRecord,
    ExecutionSummary,
    OpenGate,
    SentCommand,
    SharedStore,
    Store,
    WorkOffered,
)
from executor_server.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

WATCH_BATCH = 500
RECENT_JOURNALS = 32  # journals of ended executions kept for watchers that lag behind
#: How long cancel waits for running attempts to stop before it answers STILL_WINDING_DOWN
#: (the machine gives up on them after STOP_GRACE_SECONDS and records them stopped).
CANCEL_WAIT_SECONDS = 10.0
#: How often a replica reads again what it follows in the store when no notification came
#: (one may be lost when the listening connection breaks): a fallback, not the way it
#: learns of changes.
FALLBACK_POLL_SECONDS = 5.0
#: How long a control request looks for the replica that runs its execution (while one
#: takes over from another) before it answers UNAVAILABLE.
ROUTE_SECONDS = 30.0
#: How many times a replica takes back an execution whose run crashed.
CRASH_RETRIES = 3


@dataclass(frozen=True, slots=True)
class StepRunContext:
    """What a step run on its own may see of a plan around it."""

    plan_id: str = ""
    step_outputs: Mapping[str, Any] = field(default_factory=dict)
    resource_limits: ResourceLimits = field(default_factory=ResourceLimits)
    timeout_policy: TimeoutPolicy = field(default_factory=TimeoutPolicy)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)


class Executor:
    """The engine's public face. Each live execution is a Runner around its Machine; the
    executor only admits, routes requests to runners, and reads the store.

    One live execution per plan id: `_live` maps the id to the task that admits (or
    revives) it, entered before anything is awaited, so a second request for the same id
    always finds the first and waits for its outcome. The entry leaves when the run ends.
    """

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
        self._live: dict[str, asyncio.Future[Runner | None]] = {}
        self._ended: OrderedDict[str, Journal] = OrderedDict()
        self._runs: set[asyncio.Task[Any]] = set()
        self._closing = False
        # The run task of each execution here (a replica stops those it loses).
        self._executions: dict[str, asyncio.Task[Any]] = {}
        # Replicas only: the store they share, and what they follow through it.
        self._shared = store if isinstance(store, SharedStore) else None
        self._dropped: set[str] = set()
        self._crashes: Counter[str] = Counter()
        self._appended = Wakeups()  # by plan id: the journal grew, on any replica
        self._answered = Wakeups()  # by command id
        self._work = asyncio.Event()  # work to claim, or room to claim it
        self._commands = asyncio.Event()  # commands for this replica

    async def start(self) -> None:
        """Resume unfinished executions (as a replica: claim what there is room for, and
        go on claiming) and start purging expired ones."""
        if self._shared is None:
            await self.recover()
        else:
            await self._claim_work(self._shared)
            self._spawn(self._listen(self._shared), "replica notifications")
            self._spawn(self._replicate(self._shared), "replica claims")
            self._spawn(self._serve_commands(self._shared), "replica commands")
        if self._retention is not None:
            # At most a tenth of the retention late, and never busier than once a second.
            period = min(max(self._retention.total_seconds() / 10, 1.0), 3600.0)
            self._spawn(self._purge_periodically(period), "retention")

    def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return task

    async def _purge_periodically(self, period: float) -> None:
        assert self._retention is not None  # only started with a retention
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
        if (runner := await self._runner(plan_id)) is not None:
            raise _refused("delete", plan_id, runner.status)
        record = await self._store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        if not record.status.is_terminal:
            raise _refused("delete", plan_id, record.status)
        if plan_id in self._live:  # revived for a rollback while we read
            raise _refused("delete", plan_id, ExecutionStatus.ROLLING_BACK)
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
            await self._resume(record)
        return len(records)

    async def _resume(self, record: ExecutionRecord) -> bool:
        """Continue an unfinished execution from its journal (recovery is replay); False
        when it cannot be (then it is logged)."""
        events = await self._store.read_events(record.plan_id)
        state = _folded(record, events)
        try:
            program = validate_plan(record.plan, record.options, self.tools)
        except InvalidArgument as exc:  # valid when accepted: a tool it needs is gone
            log.error(
                "execution not resumed",
                extra={"plan_id": record.plan_id, "error": exc.message},
            )
            observer = self._observer.execution(record.plan, state.status)  # observability
            journal = Journal(self._store, record.plan_id, state.last_sequence, observer)
            journal.append(abandon(state, exc.message))
            try:
                await journal.flush()
            except Exception:  # another replica owns it now, or the store failed: theirs
                log.exception("execution not abandoned", extra={"plan_id": record.plan_id})
            journal.close()
            return False
        runner = self._runner_for(program, state)
        try:
            runner.handle(Recover())
        except Exception:  # a bug of ours: keep serving the others, resume it next start
            log.exception("execution not resumed", extra={"plan_id": record.plan_id})
            return False
        admitted: asyncio.Future[Runner | None] = asyncio.get_running_loop().create_future()
        admitted.set_result(runner)
        self._live[record.plan_id] = admitted
        self._start_run(runner)
        log.info(
            "execution resumed", extra={"plan_id": record.plan_id, "status": record.status.name}
        )
        return True

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
        durable store resumes them on the next start (or another replica at once)."""
        self._closing = True
        for task in self._runs:
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)

    async def hand_over(self) -> None:
        """As a replica that is leaving (on a store of one server: nothing): take no more
        work, stop every execution here and release its lease, so that other replicas
        claim it now rather than when the lease expires. New plans are queued for them;
        calls for any execution are still answered (forwarded to the new owner) until the
        server stops."""
        store = self._shared
        if store is None:
            return
        self._closing = True
        tasks = list(self._executions.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await store.release()
        except Exception:  # their leases expire instead
            log.exception("handing executions over failed")
        else:
            log.info("executions handed over", extra={"count": len(tasks)})

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

    # ------------------------------------------------------------------ runners

    def _runner_for(self, program: Program, state: ExecutionState) -> Runner:
        """A runner for `state` (new, or folded from the journal up to now)."""
        plan = program.plan
        observer = self._observer.execution(plan, state.status)  # observability
        journal = Journal(self._store, plan.id, state.last_sequence, observer)
        return Runner(
            Machine(program, state, secrets=self.secrets, limits=self.limits),
            journal,
            self._workspace(plan.id),
            self.limits,
            observer=observer,
            on_finished=self._finished,
        )

    def _finished(self, runner: Runner) -> None:
        """The machine has ended and its journal is stored: the id is free again."""
        plan_id = runner.plan_id
        was_full = len(self._live) >= self._max_active
        self._release(runner)
        if self._shared is not None:
            # Its lease no longer matters (a rollback acquires it again).
            self._shared.forget([plan_id])
            self._crashes.pop(plan_id, None)
            self._executions.pop(plan_id, None)
            if was_full:  # executions may be queued for the room this one leaves
                self._work.set()
        # Watchers still catching up read the tail from memory, not from the store.
        self._ended[plan_id] = runner.journal
        self._ended.move_to_end(plan_id)
        if len(self._ended) > RECENT_JOURNALS:
            self._ended.popitem(last=False)

    def _start_run(self, runner: Runner) -> None:
        plan_id = runner.plan_id
        self._executions[plan_id] = self._spawn(self._run(runner), f"execution {plan_id}")

    async def _run(self, runner: Runner) -> None:
        plan_id = runner.plan_id
        try:
            await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # left unfinished in the journal: the next start resumes it
            if runner.lost is not None:  # nothing was written: the new owner carries on
                log.warning(
                    "execution dropped: another replica owns it now",
                    extra={
                        "plan_id": plan_id,
                        "owner": runner.lost.owner,
                        "epoch": runner.lost.current,
                    },
                )
            else:
                log.exception("execution crashed", extra={"plan_id": plan_id})
                self._retry_crashed(plan_id)
        finally:
            self._release(runner)
            if self._executions.get(plan_id) is asyncio.current_task():
                del self._executions[plan_id]
            if plan_id in self._dropped:
                self._dropped.discard(plan_id)
                if self._shared is not None:
                    self._shared.forget([plan_id])  # stopped: `claim` may take it back
                self._work.set()

    def _retry_crashed(self, plan_id: str) -> None:
        """As a replica, continue a crashed execution from its journal again (a store that
        failed for a moment, say), a few times; after that it waits for the next start,
        as on a single server."""
        if self._shared is None:
            return
        self._crashes[plan_id] += 1
        if self._crashes[plan_id] > CRASH_RETRIES:
            log.error("execution left until the next start", extra={"plan_id": plan_id})
            return
        self._shared.forget([plan_id])  # `claim` takes it back
        self._work.set()

    def _drop(self, plan_id: str, why: str) -> None:
        """Stop running an execution this replica may no longer own: its attempts are
        cancelled and nothing more is journaled for it here."""
        task = self._executions.get(plan_id)
        if task is None or task.done() or plan_id in self._dropped:
            return
        self._dropped.add(plan_id)
        task.cancel()
        log.warning("execution dropped: " + why, extra={"plan_id": plan_id})

    def _release(self, runner: Runner) -> None:
        """Free the plan id, if `runner` still holds it."""
        entry = self._live.get(runner.plan_id)
        if entry is not None and entry.done() and not entry.cancelled():
            holds = entry.exception() is None and entry.result() is runner
            if holds:
                del self._live[runner.plan_id]

    def _claim(
        self, plan_id: str, admit: Coroutine[Any, Any, Runner | None]
    ) -> asyncio.Task[Runner | None]:
        """Make `plan_id` live with what `admit` returns; it runs to its end even if the
        requester goes away (a stored record without a run would be lost work)."""
        task = self._spawn(admit, f"admit {plan_id}")
        self._live[plan_id] = task

        def admitted(done: asyncio.Task[Runner | None]) -> None:
            failed = done.cancelled() or done.exception() is not None
            if (failed or done.result() is None) and self._live.get(plan_id) is done:
                del self._live[plan_id]

        task.add_done_callback(admitted)
        return task

    async def _runner(self, plan_id: str) -> Runner | None:
        """The live runner of `plan_id`, once admitted; None when there is none."""
        entry = self._live.get(plan_id)
        if entry is None:
            return None
        try:
            runner = await asyncio.shield(entry)
        except RequestError:
            # Its admission was refused; that requester hears why. Its entry leaves now
            # (awaiting a finished task does not yield to its done-callback).
            if self._live.get(plan_id) is entry:
                del self._live[plan_id]
            return None
        return None if runner is None or runner.finished else runner

    # ------------------------------------------------------------------ plans

    async def execute_plan(
        self, plan: ActionPlan, options: ExecutionOptions, *, detach: bool = False, by: str = ""
    ) -> ExecutionResult:
        """Run `plan` (or attach to its execution if the same plan was submitted before);
        `by` names the caller, recorded as the submitter.

        Raises InvalidArgument, AlreadyExists, ResourceExhausted, Unavailable.
        """
        if self._shared is None:
            self._check_open()  # a leaving replica queues plans for the others instead
        if carries_schemas(plan.steps):
            program = await asyncio.to_thread(validate_plan, plan, options, self.tools)
        else:
            program = validate_plan(plan, options, self.tools)
        self._check_secrets(plan.steps, "plan.steps")
        while True:
            entry = self._live.get(plan.id)
            ours = entry is None
            if entry is None:
                full = len(self._live) >= self._max_active
                if self._shared is not None and (full or self._closing):
                    # Journaled for whichever replica has room (it claims it at once).
                    entry = self._claim(plan.id, self._enqueue(self._shared, program, by))
                elif full:
                    raise ResourceExhausted(
                        f"the server is running {len(self._live)} executions, its limit"
                    )
                else:
                    entry = self._claim(plan.id, self._admit(program, by))
            try:
                runner = await asyncio.shield(entry)
                break
            except RequestError:
                if ours:
                    raise
                # Another submission of this id was refused (its content differs from the
                # stored one): that says nothing about ours, so decide ours afresh. Its
                # entry may not have left yet (its done-callback is still to run, and
                # awaiting a finished task does not yield): take it out now.
                if self._live.get(plan.id) is entry:
                    del self._live[plan.id]
        if runner is not None and (
            runner.program is not program
            and not (runner.program.plan == plan and runner.program.options == options)
        ):
            raise AlreadyExists(plan.id)
        if runner is not None and not detach:
            try:
                await runner.request(AwaitEnd)
            except Unavailable:
                if self._shared is None:
                    raise
                runner = None  # stopped here (lease lost, leaving): it goes on elsewhere
        if runner is None:  # it runs on another replica, or ran before and has finished
            if not detach:
                await self._ended_anywhere(plan.id)
            return await self._stored_result(plan.id)
        return await self._result(runner)

    async def _admit(self, program: Program, by: str = "") -> Runner | None:
        """Store and start a new execution; None when the same plan ran before.

        Raises AlreadyExists when the id is taken by other content.
        """
        plan, options = program.plan, program.options
        record = ExecutionRecord(plan, options, time.time())
        state = ExecutionState(plan, record.create_time)
        runner = self._runner_for(program, state)
        runner.handle(Start(by))
        try:
            # The record and the first events (accepted, started, the first attempts) in one
            # commit; no tool runs before it is stored.
            await runner.journal.create(record)
        except DuplicateExecution as dup:
            if not dup.existing.submitted_as(plan, options):
                raise AlreadyExists(plan.id) from None
            return None
        # Stored but not started when the server began closing meanwhile: the next start
        # finds it unfinished and runs it (another replica, at once).
        if self._closing and self._shared is not None:
            runner.journal.close()
            await self._shared.release([plan.id])
            return None
        self._check_open()
        self._start_run(runner)
        return runner

    async def _enqueue(self, store: SharedStore, program: Program, by: str) -> None:
        """Store a new execution, accepted, for any replica to claim and start.

        Raises AlreadyExists when the id is taken by other content.
        """
        plan, options = program.plan, program.options
        record = ExecutionRecord(plan, options, time.time())
        state = ExecutionState(plan, record.create_time)
        # The first event a start journals (PENDING, accepted, by whom), alone: the
        # replica that claims it replays it and its Recover starts the run.
        machine = Machine(program, state, secrets=self.secrets, limits=self.limits)
        accepted = machine.handle(Start(by)).events[:1]
        try:
            await store.enqueue_execution(record, accepted)
        except DuplicateExecution as dup:
            if not dup.existing.submitted_as(plan, options):
                raise AlreadyExists(plan.id) from None
            return
        log.info("execution queued", extra={"plan_id": plan.id})

    async def _result(self, runner: Runner) -> ExecutionResult:
        # Report only what is journaled: nothing a crash could take back.
        try:
            await runner.settled()
        except Unavailable:
            if self._shared is None:
                raise
            return await self._stored_result(runner.plan_id)  # it goes on elsewhere
        return runner.machine.state.snapshot(time.time())

    async def _stored_result(self, plan_id: str) -> ExecutionResult:
        record = await self._store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        return _folded(record, await self._store.read_events(plan_id)).snapshot(time.time())

    # ------------------------------------------------------------------ status and control

    async def get_status(self, plan_id: str) -> ExecutionResult:
        """Raises NotFound."""
        runner = await self._runner(plan_id)
        if runner is not None:
            return await self._result(runner)
        return await self._stored_result(plan_id)

    async def _control(
        self,
        plan_id: str,
        command: Callable[[int], Command],
        operation: str,
        holds: ExecutionStatus | None = None,
    ) -> ExecutionStatus:
        """Send a request to the live execution. One that is not live has ended: only a
        request whose effect already `holds` succeeds. Raises NotFound, FailedPrecondition,
        Moved (a replica that does not run it)."""
        runner = await self._runner(plan_id)
        if runner is not None:
            return await self._ask(runner, command)
        record = await self._store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        if self._shared is not None and not record.status.is_terminal:
            raise Moved(plan_id)  # live on another replica
        if record.status is holds:
            return record.status
        raise _refused(operation, plan_id, record.status)

    async def _ask(self, runner: Runner, command: Callable[[int], Command]) -> ExecutionStatus:
        """`runner.request(command)`; a runner that stopped here (lease lost, leaving) is
        Moved on a replica: the execution goes on elsewhere."""
        try:
            return await runner.request(command)
        except Unavailable:
            if self._shared is None:
                raise
            raise Moved(runner.plan_id) from None

    @forwarded
    async def pause(self, plan_id: str, *, by: str = "") -> ExecutionStatus:
        """Raises NotFound, FailedPrecondition (not running)."""
        return await self._control(plan_id, partial(Pause, by=by), "pause", ExecutionStatus.PAUSED)

    @forwarded
    async def resume(self, plan_id: str, *, by: str = "") -> ExecutionStatus:
        """Raises NotFound, FailedPrecondition (not paused)."""
        return await self._control(plan_id, partial(Resume, by=by), "resume")

    @forwarded
    async def cancel(self, plan_id: str, reason: str = "", *, by: str = "") -> ExecutionStatus:
        """Cancel, and answer once it is cancelled: running attempts are cancelled and get
        STOP_GRACE_SECONDS to stop before they are recorded as stopped anyway.

        Raises NotFound, FailedPrecondition (already finished otherwise than cancelled).
        """
        try:
            async with asyncio.timeout(CANCEL_WAIT_SECONDS):
                return await self._control(
                    plan_id,
                    partial(Cancel, reason=reason, by=by),
                    "cancel",
                    ExecutionStatus.CANCELLED,
                )
        except TimeoutError:
            log.warning("cancel is taking long", extra={"plan_id": plan_id})
            runner = await self._runner(plan_id)
            raise StillRunning(
                f"cancel requested, but running attempts are still winding down after "
                f"{CANCEL_WAIT_SECONDS:g}s; the execution ends CANCELLED once they stop "
                "(watch it, or cancel again to wait once more)",
                plan_id=plan_id,
                status=runner.status if runner is not None else ExecutionStatus.CANCELLED,
            ) from None

    @forwarded
    async def rollback(
        self, plan_id: str, *, detach: bool = False, by: str = ""
    ) -> ExecutionStatus:
        """Compensate the completed steps of a FAILED or CANCELLED execution (again, for one
        that ended ROLLBACK_FAILED: only what is not yet compensated). Waits for the end of
        the rollback unless `detach`. Raises NotFound, FailedPrecondition."""
        command = partial(Rollback, detach=detach, by=by)
        while True:
            runner = await self._runner(plan_id)
            if runner is not None:
                return await self._ask(runner, command)
            record = await self._store.get_execution(plan_id)
            if record is None:
                raise NotFound(plan_id)
            if self._shared is not None and not record.status.is_terminal:
                raise Moved(plan_id)
            if record.status is ExecutionStatus.ROLLED_BACK:
                return record.status
            if record.status not in _ROLLBACKABLE:
                raise _refused("roll back", plan_id, record.status)
            if plan_id not in self._live:  # else someone revived it meanwhile: join them
                self._check_open()
                await asyncio.shield(self._claim(plan_id, self._revive(record, by)))

    async def retry(
        self,
        plan_id: str,
        *,
        detach: bool = False,
        limits: ResourceLimits | None = None,
        by: str = "",
    ) -> ExecutionResult:
        """Run a FAILED or CANCELLED execution again from where it stopped: its FAILED,
        CANCELLED and SKIPPED steps run again, COMPLETED ones keep their outputs; `limits`
        replace its resource limits (what it used still counts). Waits for its end unless
        `detach`, and answers with its result.

        Raises NotFound, FailedPrecondition, InvalidArgument, Unavailable (Moved)."""
        if limits is not None:
            validate_limits(limits, "resource_limits")
        as_json = limits.model_dump(mode="json") if limits is not None else None
        await self.rerun(plan_id, detach=detach, limits=as_json, by=by)
        return await self.get_status(plan_id)

    @forwarded
    async def rerun(
        self,
        plan_id: str,
        *,
        detach: bool = False,
        limits: dict[str, Any] | None = None,
        by: str = "",
    ) -> ExecutionStatus:
        """`retry` where the execution runs (`limits` as JSON). Raises what `retry` raises,
        or Moved."""
        replaced = ResourceLimits.model_validate(limits) if limits is not None else None
        command = partial(Retry, detach=detach, by=by, limits=replaced)
        while True:
            runner = await self._runner(plan_id)
            if runner is not None:
                return await self._ask(runner, command)
            record = await self._store.get_execution(plan_id)
            if record is None:
                raise NotFound(plan_id)
            if self._shared is not None and not record.status.is_terminal:
                raise Moved(plan_id)  # live on another replica
            if record.status not in _RETRYABLE:
                raise _refused("retry", plan_id, record.status)
            if plan_id not in self._live:  # else someone revived it meanwhile: join them
                self._check_open()
                revived = self._claim(plan_id, self._revive(record, by, retry=command))
                runner = await asyncio.shield(revived)
                if runner is not None:
                    if not detach:
                        return await runner.request(AwaitEnd)
                    await runner.settled()
                    return runner.status

    async def _revive(
        self,
        record: ExecutionRecord,
        by: str = "",
        *,
        retry: Callable[[int], Command] | None = None,
    ) -> Runner | None:
        """Bring a finished execution back to life, rolling back (or retrying). Raises
        Moved when another replica revived it first."""
        if self._shared is not None:
            acquired = await self._shared.acquire(record.plan_id)
            if acquired is None:
                raise Moved(record.plan_id)
            record = acquired
        state = _folded(record, await self._store.read_events(record.plan_id))
        program = validate_plan(record.plan, record.options, self.tools)
        runner = self._runner_for(program, state)
        runner.handle(Recover())
        # Before it runs, so that it cannot end first.
        runner.handle(retry(0) if retry is not None else Rollback(by=by))
        self._start_run(runner)
        return runner

    # ------------------------------------------------------------------ waiting steps

    async def approve(
        self,
        plan_id: str,
        step: str,
        decision: ApprovalDecision,
        *,
        arguments: Mapping[str, Any] | None = None,
        comment: str = "",
        by: str = "",
    ) -> tuple[StepResult, dict[str, Any]]:
        """Decide the approval gate of `step` (its id or name); answers once the decision is
        journaled, with the step as it left it (and its parameters). `arguments` replace the
        step's own (only on APPROVE, at a gate that allows editing).

        Raises NotFound (StepNotFound), InvalidArgument (a bad comment, or arguments the
        tool's input schema refuses: the gate stays open), FailedPrecondition (no gate,
        decided already, not waiting, or the execution has ended).
        """
        if len(comment) > MAX_COMMENT_CHARS:
            raise InvalidArgument(
                [FieldViolation("comment", f"longer than {MAX_COMMENT_CHARS} characters")],
                reason="INVALID_REQUEST",
            )
        await self.decide_gate(
            plan_id, step, decision.name, arguments=arguments, comment=comment, by=by
        )
        runner = await self._runner(plan_id)
        if runner is not None:  # here: the step as the decision left it
            position = runner.program.index[step]
            result = runner.machine.state.snapshot(time.time()).step_results[position]
            return result, runner.program.plan.steps[position].parameters
        # Decided where it runs (another replica), or it has ended since: from the journal.
        record = await self._store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        position = _position(record.plan, step)
        state = _folded(record, await self._store.read_events(plan_id))
        return state.snapshot(time.time()).step_results[position], record.plan.steps[
            position
        ].parameters

    @forwarded
    async def decide_gate(
        self,
        plan_id: str,
        step: str,
        decision: str,
        *,
        arguments: Mapping[str, Any] | None = None,
        comment: str = "",
        by: str = "",
    ) -> ExecutionStatus:
        """`approve` where the execution runs: `decision` is an ApprovalDecision's name.
        Raises what `approve` raises, or Moved."""
        runner = await self._runner(plan_id)
        if runner is None:
            raise await self._decision_refused(plan_id, step)
        program = runner.program
        found = program.index.get(step)
        if found is None:
            raise StepNotFound(plan_id, step)
        position = found
        gate = program.waits[position]
        choice = ApprovalDecision[decision]
        if arguments is not None and isinstance(gate, Gate):
            violation = None
            if choice is not ApprovalDecision.APPROVE:
                violation = "only an approval may replace the arguments"
            elif not gate.allow_edit:
                violation = "this step's gate does not allow editing (approval.allow_edit)"
            if violation is not None:
                raise InvalidArgument(
                    [FieldViolation("arguments", violation)], reason="INVALID_REQUEST"
                )
            tool = program.tools[position]
            assert tool is not None  # a gate guards a tool call
            validate_edited_arguments(tool, arguments, self.limits.max_argument_bytes)
        edited = freeze(arguments) if arguments is not None else None
        return await self._ask(
            runner,
            partial(
                Approve, step=position, decision=choice, arguments=edited, comment=comment, by=by
            ),
        )

    async def _decision_refused(self, plan_id: str, step: str) -> RequestError:
        """Why a decision for an execution that is not live (it has ended) is refused,
        from its journal: NotFound, StepNotFound or FailedPrecondition."""
        record = await self._store.get_execution(plan_id)
        if record is None:
            return NotFound(plan_id)
        if self._shared is not None and not record.status.is_terminal:
            return Moved(plan_id)  # live on another replica
        position = _position(record.plan, step)
        state = _folded(record, await self._store.read_events(plan_id))
        return _refused_step(state, position, record.plan.steps[position].approval is None)

    @forwarded
    async def signal(
        self, plan_id: str, name: str, payload: Any, *, by: str = ""
    ) -> ExecutionStatus:
        """Deliver the signal `name`: the step waiting for it completes with `payload` as
        its output, or, when it does not wait yet, finds it kept (journaled) once it does.

        Raises NotFound, InvalidArgument (no step waits for `name`, or the payload breaks
        its schema or bounds), FailedPrecondition (received already, the step no longer
        waits, or the execution has ended).
        """
        runner = await self._runner(plan_id)
        if runner is None:
            record = await self._store.get_execution(plan_id)
            if record is None:
                raise NotFound(plan_id)
            if not any(
                s.wait_for_signal is not None and s.wait_for_signal.name == name
                for s in record.plan.steps
            ):
                raise _unknown_signal(name)
            if self._shared is not None and not record.status.is_terminal:
                raise Moved(plan_id)  # live on another replica
            raise _refused("signal", plan_id, record.status)
        position = runner.program.signals.get(name)
        if position is None:
            raise _unknown_signal(name)
        wait = runner.program.waits[position]
        assert isinstance(wait, SignalWait)
        validate_signal_payload(wait, payload, self.limits.max_output_bytes)
        return await self._ask(
            runner, partial(Signal, step=position, payload=freeze(payload), by=by)
        )

    async def list_approvals(
        self, plan_id: str = "", after: tuple[float, str, int] | None = None, limit: int = 50
    ) -> tuple[list[PendingApproval], bool]:
        """Open gates, oldest first (by when they began waiting, then plan id and plan
        position), after the position `after`; and whether more follow. Alone, every
        unfinished execution is live here; as a replica, of every replica's executions, as
        the database holds them."""
        if self._shared is None:
            return self._local_approvals(plan_id, after, limit)
        found: list[PendingApproval] = []
        folded: dict[str, Machine | None] = {}  # executions that run elsewhere, by id
        more = True
        while more and len(found) < limit:  # a gate that is not open after all is skipped
            here = [plan_id] if plan_id else list(self._live)
            page = await self._shared.open_gates(
                plan_id,
                after,
                limit - len(found),
                journals_except=[p for p in here if self._live_runner(p) is not None],
            )
            for gate in page.gates:
                entry = self._gate_entry(gate, page.journals, folded)
                if entry is not None:
                    found.append(entry)
            more = page.more
            if page.gates:
                after = page.gates[-1].key
        return found, more

    def _live_runner(self, plan_id: str) -> Runner | None:
        """The runner of an unfinished execution that runs here."""
        entry = self._live.get(plan_id)
        if entry is None or not entry.done() or entry.cancelled() or entry.exception():
            return None
        runner = entry.result()
        return runner if runner is not None and not runner.finished else None

    def _local_approvals(
        self, plan_id: str, after: tuple[float, str, int] | None, limit: int
    ) -> tuple[list[PendingApproval], bool]:
        found: list[tuple[tuple[float, str, int], Runner]] = []
        for live_id in [plan_id] if plan_id else list(self._live):
            runner = self._live_runner(live_id)
            if runner is None:
                continue
            steps = runner.machine.state.steps
            for i in runner.machine.open_gates():
                key = (steps[i].wait_start_time or 0.0, live_id, i)
                if after is None or key > after:
                    found.append((key, runner))
        found.sort(key=lambda item: item[0])
        # Only the page is built: resolving a gate's arguments costs.
        page = [self._pending(runner.machine, key[2]) for key, runner in found[:limit]]
        return page, len(found) > limit

    def _gate_entry(
        self,
        gate: OpenGate,
        journals: Mapping[str, tuple[ExecutionRecord, list[Event]]],
        folded: dict[str, Machine | None],
    ) -> PendingApproval | None:
        """The inbox entry of a gate the database holds open: from its runner when it runs
        here, else from its journal (read with the gate), folded as recovery folds it, so
        its prompt and arguments are what its owner shows. None when it is not open after
        all: decided or ending here and not stored yet, or moved from here since the page
        was read (it shows again on the next read)."""
        runner = self._live_runner(gate.plan_id)
        if runner is not None:
            if gate.position not in runner.machine.open_gates():
                return None
            return self._pending(runner.machine, gate.position)
        if gate.plan_id not in folded:
            folded[gate.plan_id] = self._folded_machine(journals.get(gate.plan_id))
        machine = folded[gate.plan_id]
        if machine is None:
            return None
        step = machine.state.steps[gate.position]
        if step.status is not StepStatus.WAITING or step.approval is not None:
            return None  # cannot be: the projection is written with the journal
        return self._pending(machine, gate.position)

    def _folded_machine(
        self, journal: tuple[ExecutionRecord, list[Event]] | None
    ) -> Machine | None:
        """A machine over an execution's journal, to read from, never to run."""
        if journal is None:
            return None
        record, events = journal
        try:
            program = validate_plan(record.plan, record.options, self.tools)
        except RequestError as error:  # a tool it calls is not registered here
            log.warning(
                "open gates not listed", extra={"plan_id": record.plan_id, "error": str(error)}
            )
            return None
        return Machine(program, _folded(record, events), secrets=self.secrets)

    def _pending(self, machine: Machine, i: int) -> PendingApproval:
        program = machine.program
        gate, step, result = program.waits[i], program.plan.steps[i], machine.state.steps[i]
        assert isinstance(gate, Gate) and step.tool_execution is not None
        template = program.arguments[i]
        arguments: Any = template.value
        if template.steps:  # secrets stay `${secrets.NAME}`: never resolved for show
            # An output that lacks a path fails the step when it starts; show the raw.
            with contextlib.suppress(StepError):
                arguments = references.resolve(
                    arguments, machine.outputs(), self.limits.max_argument_bytes
                )
        return PendingApproval(
            plan_id=program.plan.id,
            plan_name=program.plan.name,
            step_id=step.id,
            step_name=step.name,
            position=i,
            tool_name=step.tool_execution.tool_name,
            prompt=machine.prompt(i),
            arguments=arguments,
            wait_start_time=result.wait_start_time or 0.0,
            deadline=result.wait_deadline,
            on_timeout=gate.on_timeout,
            allow_edit=gate.allow_edit,
        )

    async def watch(self, plan_id: str, after_sequence: int = 0) -> AsyncIterator[list[Event]]:
        """Batches of events after `after_sequence`: first the journal, then live ones as
        they are stored (by whichever replica runs it); ends after the execution's last
        event. Raises NotFound."""
        if plan_id not in self._live and await self._store.get_execution(plan_id) is None:
            raise NotFound(plan_id)
        return self._follow(plan_id, after_sequence)

    async def _follow(self, plan_id: str, after: int) -> AsyncIterator[list[Event]]:
        with self._appended.watch(plan_id) as appended:
            while True:
                appended.clear()  # before reading: what is appended later wakes us
                runner = await self._runner(plan_id)
                journal = runner.journal if runner is not None else self._ended.get(plan_id)
                if journal is not None:
                    events = await journal.read(after, WATCH_BATCH)
                else:
                    events = await self._store.read_events(plan_id, after, WATCH_BATCH)
                if events:
                    yield events
                    after = events[-1].sequence
                    continue
                if runner is not None:
                    await journal.published_after(after)  # type: ignore[union-attr]
                    continue
                if self._shared is None or await self._has_ended(plan_id, after):
                    return  # every event it will ever have is stored, and has been sent
                await wait_for(appended, FALLBACK_POLL_SECONDS)  # another replica runs it

    async def _has_ended(self, plan_id: str, after: int) -> bool:
        """Whether a watcher that has seen up to `after` has seen everything: the
        execution is gone or terminal, and nothing came after `after`. (The status is
        stored with the events that set it, so once it is terminal, so is the journal.)"""
        record = await self._store.get_execution(plan_id)
        if record is not None and not record.status.is_terminal:
            return False
        return not await self._store.read_events(plan_id, after, 1)

    async def _ended_anywhere(self, plan_id: str) -> None:
        """Wait until the execution is terminal, wherever it runs. Raises NotFound."""
        with self._appended.watch(plan_id) as appended:
            while True:
                appended.clear()
                record = await self._store.get_execution(plan_id)
                if record is None:
                    raise NotFound(plan_id)
                if record.status.is_terminal:
                    return
                await wait_for(appended, FALLBACK_POLL_SECONDS)

    # ------------------------------------------------------------------ replicas

    async def _route(
        self, operation: str, plan_id: str, arguments: dict[str, Any]
    ) -> ExecutionStatus:
        """Apply a `forwarded` operation where the execution runs: here when this replica
        runs it or nobody live does (it then claims it), else at its owner's. Raises what
        the operation raises, or Moved when no replica took it in ROUTE_SECONDS."""
        method = FORWARDED[operation]
        store = self._shared
        if store is None:
            return await method(self, plan_id, **arguments)
        pause, give_up = 0.02, time.monotonic() + ROUTE_SECONDS
        while True:
            try:
                if plan_id in self._live:
                    return await method(self, plan_id, **arguments)
                lease = await store.lease(plan_id)
                if lease is None:
                    raise NotFound(plan_id)
                if lease.live and lease.owner is not None and lease.owner != store.replica_id:
                    answer = await self._forward(store, lease.owner, operation, plan_id, arguments)
                    if answer is not None:
                        return decode_answer(answer, plan_id)
                elif await self._take(store, plan_id):
                    return await method(self, plan_id, **arguments)
            except Moved:
                if time.monotonic() > give_up:
                    raise
            # Between owners: the one that had it lost it, or is leaving.
            if time.monotonic() > give_up:
                raise Moved(plan_id)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _take(self, store: SharedStore, plan_id: str) -> bool:
        """Make an execution that no live replica runs live here; False when another
        replica was quicker. A finished one stays as it is (a rollback revives it)."""
        record = await store.get_execution(plan_id)
        if record is None:
            raise NotFound(plan_id)
        if record.status.is_terminal or plan_id in self._live:
            return True
        if self._closing:  # leaving: another replica claims it
            return False
        acquired = await store.acquire(plan_id)
        if acquired is None:
            return False
        if acquired.status.is_terminal:  # it ended meanwhile
            store.forget([plan_id])
            return True
        return await self._resume(acquired)

    async def _forward(
        self,
        store: SharedStore,
        owner: str,
        operation: str,
        plan_id: str,
        arguments: dict[str, Any],
    ) -> str | None:
        """Send the operation to `owner` and wait for its answer (JSON text); None when
        the owner went away before it answered (the caller asks again who owns it)."""
        command_id = await store.send_command(plan_id, owner, operation, json.dumps(arguments))
        with self._answered.watch(command_id) as answered:
            try:
                while True:
                    answered.clear()
                    answer = await store.command_answer(command_id)
                    if answer is not None:
                        return answer
                    await wait_for(answered, store.lease_seconds / 4)
                    lease = await store.lease(plan_id)
                    if lease is None or not lease.live or lease.owner != owner:
                        answer = await store.command_answer(command_id)
                        if answer is None:
                            await store.withdraw_command(command_id)
                        return answer
            except BaseException:
                with contextlib.suppress(Exception):  # the caller went away: take it back
                    await asyncio.shield(store.withdraw_command(command_id))
                raise

    async def _serve_commands(self, store: SharedStore) -> None:
        """Apply the operations other replicas forward to this one, each in its own task
        (a rollback that waits for its end holds back nothing else)."""
        while True:
            self._commands.clear()
            try:
                for command in await store.take_commands():
                    self._spawn(self._apply(store, command), f"command {command.command_id}")
            except Exception:
                log.exception("reading forwarded commands failed")
            await wait_for(self._commands, FALLBACK_POLL_SECONDS)

    async def _apply(self, store: SharedStore, command: SentCommand) -> None:
        outcome: ExecutionStatus | RequestError
        method = FORWARDED.get(command.operation)
        try:
            if method is None:  # from a newer replica, during a rolling upgrade
                raise Unavailable(
                    f"replica {store.replica_id} runs the execution and does not know "
                    f"{command.operation!r} yet: upgrade it"
                )
            arguments = json.loads(command.arguments)
            outcome = await method(self, command.plan_id, **arguments)
        except RequestError as exc:
            outcome = exc
        except Exception:
            log.exception(
                "forwarded command failed",
                extra={"plan_id": command.plan_id, "operation": command.operation},
            )
            outcome = Unavailable("the replica running the execution failed the request")
        try:
            await store.answer_command(command.command_id, encode_answer(outcome))
        except Exception:  # the sender asks again once it sees nobody answer
            log.exception("answering a forwarded command failed")

    async def _listen(self, store: SharedStore) -> None:
        """Turn the store's notifications into wake-ups; listen again when the connection
        breaks (and have everyone read again: notifications were lost meanwhile)."""
        while True:
            try:
                async with store.listen() as notifications:
                    self._appended.wake_all()
                    self._work.set()
                    self._commands.set()
                    async for notification in notifications:
                        match notification:
                            case Appended(plan_id):
                                self._appended.wake(plan_id)
                            case WorkOffered():
                                self._work.set()
                            case CommandSent(target) if target == store.replica_id:
                                self._commands.set()
                            case CommandAnswered(command_id):
                                self._answered.wake(command_id)
            except Exception as exc:
                log.warning("listening to other replicas failed", extra={"error": str(exc)})
            self._appended.wake_all()
            await asyncio.sleep(1.0)

    async def _replicate(self, store: SharedStore) -> None:
        """Keep what this replica runs its own, and claim work while there is room: every
        lease/4 (a dead replica's leases expire unannounced), and at once when work is
        offered or room is made."""
        period = store.lease_seconds / 4
        while True:
            self._work.clear()
            try:
                self._drop_lost(store)
                await self._claim_work(store)
            except Exception:
                log.exception("claiming work failed")
            await wait_for(self._work, period)

    def _drop_lost(self, store: SharedStore) -> None:
        """Stop the executions whose lease this replica lost (another took them while it
        was paused or cut off), or may have lost (no heartbeat landed for a lease)."""
        if time.monotonic() > store.leases_sure_until:
            for plan_id in list(self._executions):
                self._drop(plan_id, "no heartbeat landed for a lease, another may own it")
            return
        held = store.held()
        for plan_id in list(self._executions):
            if plan_id not in held and plan_id not in self._dropped:
                self._drop(plan_id, "another replica owns it now")

    async def _claim_work(self, store: SharedStore) -> None:
        if self._closing or time.monotonic() > store.leases_sure_until:
            return
        room = self._max_active - len(self._live)
        if room <= 0:
            return
        for record in await store.claim(room):
            if record.plan_id in self._live:  # still winding down from a drop
                store.forget([record.plan_id])
                continue
            await self._resume(record)

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
        assert call is not None  # validate_step requires it
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
        program = build_program(
            plan,
            options,
            index={step.id: 0},
            dependencies=[()],
            tools=[tool],
            output_rules=[rules],
            compensation_tools=[None],
        )
        # A one-step execution of its own, journaled in memory only and never listed.
        store = MemoryStore()
        record = ExecutionRecord(plan, options, time.time())
        state = ExecutionState(plan, record.create_time)
        observer = self._observer.execution(plan, state.status, standalone=True)  # observability
        runner = Runner(
            Machine(program, state, secrets=self.secrets, limits=self.limits),
            Journal(store, plan_id, observer=observer),
            self._workspace(plan_id),
            self.limits,
            observer=observer,
        )
        runner.handle(Start())
        await runner.journal.create(record)
        await runner.run()
        return state.steps[0], state.usage


def _folded(record: ExecutionRecord, events: Iterable[Event]) -> ExecutionState:
    """An execution's state: its journal folded (recovery is replay)."""
    state = ExecutionState(record.plan, record.create_time)
    for event in events:
        state.apply(event)
    return state


def _position(plan: ActionPlan, step: str) -> int:
    """The position of the step with this id or name. Raises StepNotFound."""
    for i, s in enumerate(plan.steps):
        if step in (s.id, s.name) and step:
            return i
    raise StepNotFound(plan.id, step)


def _refused_step(state: ExecutionState, i: int, no_gate: bool) -> FailedPrecondition:
    """Why a decision for step i of an execution that has ended is refused."""
    step = state.steps[i]
    if no_gate:
        return step_refusal(state, i, "it has no approval gate", "NO_APPROVAL_GATE")
    if step.approval is not None:
        what = f"its gate was decided already ({step.approval.decision.name})"
        return step_refusal(state, i, what, "GATE_DECIDED")
    return step_refusal(state, i, f"the execution is {state.status.name}", "STEP_NOT_WAITING")


def _unknown_signal(name: str) -> InvalidArgument:
    return InvalidArgument(
        [FieldViolation("name", f"no step of the plan waits for signal {name[:140]!r}")],
        reason="UNKNOWN_SIGNAL",
    )


_ROLLBACKABLE = (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED, ExecutionStatus.ROLLBACK_FAILED)
_RETRYABLE = (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


def _refused(operation: str, plan_id: str, status: ExecutionStatus) -> FailedPrecondition:
    return FailedPrecondition(
        f"cannot {operation} an execution that is {status.name}",
        plan_id=plan_id,
        status=status,
    )
