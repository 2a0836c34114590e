"""The engine's machine, driven with no event loop through random plans and random
interleavings of attempt outcomes, timers, pause, resume, cancel, rollback and
crash-then-recover (a hypothesis RuleBasedStateMachine).

After every rule: no step starts before its dependencies completed; never more attempts
than `max_concurrent_steps`; sequences are gap-free; every transition in the journal is one
the tables allow; folding the journal (what recovery does) gives the live state; a
compensation starts only after everything that depended on its step was undone. At the
end: the same commands give the same events.

`MACHINE_EXAMPLES=2000 make fuzz` runs it longer than CI does.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from executor_server.domain.errors import FailedPrecondition
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    ApprovalGate,
    Compensation,
    Event,
    ExecutionError,
    ExecutionOptions,
    ResourceUsage,
    RetryPolicy,
    Sleep,
    ToolExecution,
    WaitForSignal,
)
from executor_server.domain.status import (
    ApprovalDecision,
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
    can_step_transition,
    can_transition,
)
from executor_server.engine.machine import (
    STOP_GRACE,
    Approve,
    ArmTimer,
    AttemptEnded,
    AwaitEnd,
    Cancel,
    CancelAttempt,
    Command,
    DisarmTimer,
    Machine,
    Pause,
    Phase,
    Recover,
    Reply,
    Resume,
    Rollback,
    Signal,
    Start,
    StartAttempt,
    Timer,
    TimerFired,
    TimerKind,
    Transition,
)
from executor_server.engine.program import Program, build_program
from executor_server.engine.references import Template
from executor_server.engine.state import ExecutionState
from executor_server.engine.waits import Gate, SignalWait, SleepWait, Wait
from executor_server.tools.protocol import ToolContext, ToolSpec

EXAMPLES = int(os.environ.get("MACHINE_EXAMPLES", "60"))
SS = StepStatus
ES = ExecutionStatus


class _Tool:
    def __init__(self, name: str, idempotent: bool) -> None:
        self.spec = ToolSpec(name=name, description=name, idempotent=idempotent)

    async def invoke(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        raise AssertionError("the machine never calls a tool")


TOOLS = {name: _Tool(name, idem) for name, idem in (("safe", True), ("unsafe", False))}


@dataclass(frozen=True)
class PlanShape:
    deps: tuple[tuple[int, ...], ...]
    unsafe: tuple[bool, ...]
    undo: tuple[bool, ...]
    attempts: tuple[int, ...]
    concurrency: int
    continue_on_failure: bool
    auto_rollback: bool
    rollback_on_cancel: bool
    #: What each step waits for first: None, "gate", "gate-timeout", "signal", "sleep".
    waits: tuple[str | None, ...] = ()


WAITS = [None, None, None, "gate", "gate-timeout", "signal", "sleep"]


@st.composite
def shapes(draw: st.DrawFn) -> PlanShape:
    n = draw(st.integers(1, 6))
    deps = tuple(
        tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)))) if i else ()
        for i in range(n)
    )
    return PlanShape(
        deps=deps,
        unsafe=tuple(draw(st.booleans()) for _ in range(n)),
        undo=tuple(draw(st.sampled_from([True, True, False])) for _ in range(n)),
        attempts=tuple(draw(st.integers(1, 3)) for _ in range(n)),
        concurrency=draw(st.integers(1, 3)),
        continue_on_failure=draw(st.booleans()),
        auto_rollback=draw(st.booleans()),
        rollback_on_cancel=draw(st.booleans()),
        waits=tuple(draw(st.sampled_from(WAITS)) for _ in range(n)),
    )


def _wait(kind: str | None, i: int) -> Wait | None:
    if kind in ("gate", "gate-timeout"):
        timeout = 5.0 if kind == "gate-timeout" else None
        on_timeout = ApprovalDecision.APPROVE if i % 2 else ApprovalDecision.REJECT
        return Gate(Template(f"step {i}?"), timeout, on_timeout, allow_edit=True)
    if kind == "signal":
        return SignalWait(f"sig{i}", 5.0 if i % 2 else None, None)
    if kind == "sleep":
        return SleepWait(float(i + 1), None)
    return None


def compile_shape(shape: PlanShape) -> Program:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(len(shape.deps))]
    waits = [_wait(shape.waits[i] if shape.waits else None, i) for i in range(len(ids))]
    # A signal or a sleep runs no tool (and so has nothing to undo).
    runs = [not isinstance(w, SignalWait | SleepWait) for w in waits]
    steps = tuple(
        ActionStep(
            id=ids[i],
            name=f"s{i}",
            tool_execution=ToolExecution(
                tool_name="unsafe" if shape.unsafe[i] else "safe", arguments={"i": i}
            )
            if runs[i]
            else None,
            wait_for_signal=WaitForSignal(name=w.name) if isinstance(w, SignalWait) else None,
            sleep=Sleep(duration=timedelta(seconds=w.duration or 0))
            if isinstance(w, SleepWait)
            else None,
            approval=ApprovalGate() if isinstance(w, Gate) else None,
            dependencies=tuple(ids[d] for d in shape.deps[i]),
            retry_policy=RetryPolicy(max_attempts=shape.attempts[i]),
            compensation=Compensation(tool_name="safe") if shape.undo[i] and runs[i] else None,
        )
        for i, w in enumerate(waits)
    )
    plan = ActionPlan(id=str(uuid.UUID(int=999)), steps=steps)
    options = ExecutionOptions(
        max_concurrent_steps=shape.concurrency,
        continue_on_failure=shape.continue_on_failure,
        auto_rollback=shape.auto_rollback,
        rollback_on_cancel=shape.rollback_on_cancel,
    )
    index = {s.id: i for i, s in enumerate(steps)} | {s.name: i for i, s in enumerate(steps)}
    return build_program(
        plan,
        options,
        index=index,
        dependencies=list(shape.deps),
        tools=[TOOLS[s.tool_execution.tool_name] if s.tool_execution else None for s in steps],
        output_rules=[() for _ in steps],
        compensation_tools=[TOOLS["safe"] if s.compensation else None for s in steps],
        waits=waits,
    )


def fold(program: Program, events: list[Event]) -> ExecutionState:
    state = ExecutionState(program.plan, 0.0)
    for event in events:
        state.apply(event)
    return state


def same_state(a: ExecutionState, b: ExecutionState) -> bool:
    return (
        a.status is b.status
        and a.last_sequence == b.last_sequence
        and a.rolling_back == b.rolling_back
        and a.steps == b.steps
        and a.usage == b.usage
        and a.compensation_usage == b.compensation_usage
        and a.error == b.error
        and a.signals == b.signals
        and (a.start_time, a.end_time) == (b.start_time, b.end_time)
        and a.execution_time(1e6) == pytest.approx(b.execution_time(1e6))
    )


_DID_RUN = {SS.COMPLETED, SS.COMPENSATING, SS.COMPENSATED, SS.COMPENSATION_FAILED}


class MachineTest(RuleBasedStateMachine):
    """The test plays the runner: it performs the machine's effects in a model of the world
    (attempts in flight, timers armed), and feeds back what happens as commands."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.journal: list[Event] = []
        self.tickets = 0

    def clock(self) -> float:
        return self.now

    @initialize(shape=shapes())
    def start(self, shape: PlanShape) -> None:
        self.program = compile_shape(shape)
        self._incarnate([], Start())

    def _incarnate(self, journal: list[Event], first: Command) -> None:
        """A machine, new or from `journal` (a crash lost everything in flight)."""
        self.journal = list(journal)
        self.base = list(journal)
        self.machine = Machine(self.program, fold(self.program, journal), clock=self.clock)
        self.commands: list[tuple[float, Command]] = []
        self.ends: set[int] = set()  # journal lengths at the end of a transition
        self.inflight: dict[tuple[int, int, bool], bool] = {}  # -> cancel requested
        self.timers: dict[Timer, float] = {}
        self.durable_floor = len(journal)  # a crash cannot lose what this covers
        self._send(first)
        if isinstance(first, Start):  # the record and its first events: one commit
            self.durable_floor = len(self.journal)

    def _send(self, command: Command) -> Transition | None:
        before = self.machine.state.last_sequence
        try:
            transition = self.machine.handle(command)
        except FailedPrecondition as refused:
            assert refused.status is self.machine.status
            assert self.machine.state.last_sequence == before  # a refusal changes nothing
            return None
        self.commands.append((self.now, command))
        self.journal.extend(transition.events)
        self.ends.add(len(self.journal))
        for effect in transition.effects:
            self._perform(effect)
        return transition

    def _perform(self, effect: Any) -> None:
        state = self.machine.state
        match effect:
            case StartAttempt(step, attempt, compensation, after):
                if compensation:
                    # Reverse dependency order: nothing that depended on it is still to undo.
                    for d in self.program.dependents[step]:
                        s = state.steps[d]
                        pending_undo = s.status is SS.COMPLETED and self.program.undo[d]
                        assert not pending_undo and s.status is not SS.COMPENSATING, (step, d)
                    assert state.steps[step].status is SS.COMPENSATING
                else:
                    for d in self.program.dependencies[step]:
                        assert state.steps[d].status is SS.COMPLETED, (step, d)
                    assert state.steps[step].status is SS.RUNNING
                unsafe = not (
                    self.program.undo[step].idempotent  # type: ignore[union-attr]
                    if compensation
                    else self.program.idempotent[step]
                )
                assert (after > 0) == unsafe  # only a tool that is not idempotent waits
                if after:
                    self.durable_floor = max(self.durable_floor, after)
                self.inflight[(step, attempt, compensation)] = False
            case CancelAttempt(step, attempt, compensation):
                self.inflight[(step, attempt, compensation)] = True
            case ArmTimer(timer, delay):
                assert delay >= 0
                self.timers[timer] = delay
            case DisarmTimer(timer):
                self.timers.pop(timer, None)
            case Reply(_, sequence, _):
                assert sequence <= len(self.journal)
                self.durable_floor = max(self.durable_floor, sequence)

    # ------------------------------------------------------------ the world

    @precondition(lambda self: self.inflight)
    @rule(
        data=st.data(),
        outcome=st.sampled_from(["ok", "ok", "ok", "ok", "retryable", "final", "timeout"]),
        spent=st.floats(0, 3),
    )
    def attempt_ends(self, data: st.DataObject, outcome: str, spent: float) -> None:
        key = data.draw(st.sampled_from(sorted(self.inflight)))
        step, attempt, compensation = key
        cancel_requested = self.inflight.pop(key)
        self.now += spent
        usage = ResourceUsage(tool_invocations=1, cpu_time_ms=1.0)
        if cancel_requested and data.draw(st.booleans()):
            ended = AttemptEnded(step, attempt, compensation, cancelled=True, usage=usage)
        elif outcome == "ok":
            ended = AttemptEnded(step, attempt, compensation, output={"v": step}, usage=usage)
        else:
            kind = {
                "retryable": ExecutionErrorType.TOOL_FAILED,
                "final": ExecutionErrorType.VALIDATION,
                "timeout": ExecutionErrorType.TIMEOUT,
            }[outcome]
            error = ExecutionError(kind, f"{outcome} failure", outcome != "final")
            ended = AttemptEnded(step, attempt, compensation, error=error, usage=usage)
        self._send(ended)

    @precondition(lambda self: self.timers)
    @rule(data=st.data())
    def timer_fires(self, data: st.DataObject) -> None:
        timer = data.draw(st.sampled_from(sorted(self.timers, key=repr)))
        self.now += self.timers.pop(timer)
        self._send(TimerFired(timer))

    @rule(command=st.sampled_from(["pause", "resume", "cancel", "rollback", "rollback-detach"]))
    def request(self, command: str) -> None:
        self.tickets += 1
        t = self.tickets
        requests: dict[str, Command] = {
            "pause": Pause(t),
            "resume": Resume(t),
            "cancel": Cancel(t, "test"),
            "rollback": Rollback(t),
            "rollback-detach": Rollback(t, detach=True),
        }
        self._send(requests[command])

    @rule(data=st.data(), approve=st.booleans(), edit=st.booleans())
    def decide(self, data: st.DataObject, approve: bool, edit: bool) -> None:
        """Someone decides a gate (any step: the machine refuses what it must)."""
        gated = [i for i, w in enumerate(self.program.waits) if isinstance(w, Gate)]
        if not gated:
            return
        self.tickets += 1
        decision = ApprovalDecision.APPROVE if approve else ApprovalDecision.REJECT
        arguments = {"edited": True} if edit and approve else None
        step = data.draw(st.sampled_from(gated))
        self._send(Approve(self.tickets, step, decision, arguments, "test", "someone"))

    @rule(data=st.data())
    def signal(self, data: st.DataObject) -> None:
        awaiting = sorted(self.program.signals.values())
        if not awaiting:
            return
        self.tickets += 1
        self._send(Signal(self.tickets, data.draw(st.sampled_from(awaiting)), {"paid": 1}))

    @rule()
    def await_end(self) -> None:
        self.tickets += 1
        self._send(AwaitEnd(self.tickets))

    @rule(data=st.data())
    def crash_and_recover(self, data: st.DataObject) -> None:
        """The process dies: the journal keeps at least what was durable-waited for (and,
        being written in whole transitions, ends at a transition boundary)."""
        boundaries = sorted({len(self.base), *self.ends})
        keep = data.draw(st.sampled_from([b for b in boundaries if b >= self.durable_floor]))
        self._incarnate(self.journal[:keep], Recover())

    # ------------------------------------------------------------ invariants

    @invariant()
    def gap_free(self) -> None:
        assert [e.sequence for e in self.journal] == list(range(1, len(self.journal) + 1))

    @invariant()
    def transitions_allowed(self) -> None:
        status: ExecutionStatus | None = None
        steps = {s.id: SS.PENDING for s in self.program.plan.steps}
        for event in self.journal:
            if event.type is EventType.EXECUTION_STATUS_CHANGED:
                if status is None:
                    assert event.status is ES.PENDING
                else:
                    assert can_transition(status, event.status), (status, event.status)
                status = event.status
            elif event.type is EventType.STEP_STATUS_CHANGED:
                assert event.step_status is not None
                current = steps[event.step_id]
                assert can_step_transition(current, event.step_status), (current, event)
                steps[event.step_id] = event.step_status
            assert event.status is status  # every event carries the status after it

    @invariant()
    def bounded_concurrency(self) -> None:
        assert len(self.machine.running) <= self.program.concurrency

    @invariant()
    def waiting_holds_no_slot_and_runs_nothing(self) -> None:
        state = self.machine.state
        for position, _, compensation in self.inflight:
            assert compensation or state.steps[position].status is not SS.WAITING
        for i, result in enumerate(state.steps):
            if result.status is SS.WAITING:
                assert self.program.waits[i] is not None
            if isinstance(self.program.waits[i], SignalWait | SleepWait):
                assert result.attempts == 0  # it never ran an attempt
            decided = result.approval
            if decided is not None and decided.decision is ApprovalDecision.REJECT:
                assert result.attempts == 0 and result.status is SS.FAILED
            # A wait that ends by itself has its timer, also after a recovery.
            timed = result.wait_deadline is not None and decided is None
            if result.status is SS.WAITING and timed and self.machine.phase is Phase.FORWARD:
                assert Timer(TimerKind.WAIT, i) in self.timers, i

    @invariant()
    def recovery_is_the_fold(self) -> None:
        assert same_state(fold(self.program, self.journal), self.machine.state)

    @invariant()
    def ended_means_settled(self) -> None:
        if self.machine.phase is Phase.ENDED:
            state = self.machine.state
            assert state.status.is_terminal
            assert not self.machine.running
            assert all(s.status not in (SS.PENDING, SS.RUNNING, SS.WAITING) for s in state.steps)
            assert all(s.status is not SS.COMPENSATING for s in state.steps)
            assert STOP_GRACE not in self.timers or not self.machine.running

    def teardown(self) -> None:
        if not hasattr(self, "program"):
            return
        # The same commands give the same events, times included.
        machine = Machine(self.program, fold(self.program, self.base), clock=self.clock)
        replayed: list[Event] = list(self.base)
        for moment, command in self.commands:
            self.now = moment
            replayed.extend(machine.handle(command).events)
        assert replayed == self.journal
        # A retry backoff armed a timer for the step it was about.
        for timer in self.timers:
            if timer.kind is TimerKind.RETRY:
                assert 0 <= timer.step < len(self.program)


MachineTest.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_machine = MachineTest.TestCase


def test_a_step_is_compensated_only_after_all_its_dependents() -> None:
    """Fan-out then fan-in: s0's undo waits for both s1's and s2's."""
    shape = PlanShape(
        deps=((), (0,), (0,), (1, 2)),
        unsafe=(False,) * 4,
        undo=(True, True, True, False),
        attempts=(1,) * 4,
        concurrency=3,
        continue_on_failure=False,
        auto_rollback=True,
        rollback_on_cancel=False,
    )
    test = MachineTest()
    test.start(shape)

    def end(step: int, *, compensation: bool = False, ok: bool = True) -> None:
        del test.inflight[(step, 1, compensation)]
        error = None if ok else ExecutionError(ExecutionErrorType.VALIDATION, "no")
        test._send(AttemptEnded(step, 1, compensation, output={}, error=error))

    for i in (0, 1, 2):
        end(i)
    end(3, ok=False)
    assert sorted(test.inflight) == [(1, 1, True), (2, 1, True)]
    end(2, compensation=True)
    assert sorted(test.inflight) == [(1, 1, True)]  # s0 still waits for s1
    end(1, compensation=True)
    assert sorted(test.inflight) == [(0, 1, True)]
    end(0, compensation=True)
    assert test.machine.status is ES.ROLLED_BACK
    test.teardown()


def test_a_sleep_ends_at_its_journaled_time_never_before_and_recovery_keeps_it() -> None:
    shape = PlanShape(
        deps=((),),
        unsafe=(False,),
        undo=(False,),
        attempts=(1,),
        concurrency=1,
        continue_on_failure=False,
        auto_rollback=False,
        rollback_on_cancel=False,
        waits=("sleep",),  # one second
    )
    program = compile_shape(shape)
    now = [1000.0]
    machine = Machine(program, fold(program, []), clock=lambda: now[0])
    started = machine.handle(Start())
    waiting = started.events[-1]
    assert waiting.step_status is SS.WAITING and waiting.wait_deadline == 1001.0
    nap = Timer(TimerKind.WAIT, 0)
    assert ArmTimer(nap, 1.0) in started.effects

    now[0] = 1000.6  # the process dies; a new one replays the journal
    revived = Machine(program, fold(program, started.events), clock=lambda: now[0])
    (rearmed,) = revived.handle(Recover()).effects
    assert isinstance(rearmed, ArmTimer) and rearmed.timer == nap
    assert rearmed.delay == pytest.approx(0.4)
    now[0] = 1000.9  # its loop timer fires early (clocks drift): the sleep goes on
    early = revived.handle(TimerFired(nap))
    assert early.events == []
    (again,) = early.effects
    assert isinstance(again, ArmTimer) and again.delay == pytest.approx(0.1)
    now[0] = 1001.0
    woke = revived.handle(TimerFired(nap)).events
    assert [e.step_status for e in woke[:1]] == [SS.COMPLETED]
    assert woke[0].output == {"slept_until": "1970-01-01T00:16:41Z"}
    assert woke[-1].status is ES.COMPLETED
