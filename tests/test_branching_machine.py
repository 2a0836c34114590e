"""Branching in the pure machine, under random plans and random outcomes (hypothesis).

Random DAGs whose steps have random dependency rules, random `when` conditions (constant,
or on a dependency's status or output) and some a for_each over a dependency's output;
every attempt succeeds or fails at random, and sometimes the execution is cancelled, then
retried. The properties: no step runs whose rule is unmet or whose condition is false;
after a failure under fail-fast only ALL_DONE steps start; every step (and element)
settles; retrying never re-runs what completed; folding the journal gives the live state.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.tools import make_registry

from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    Compensation,
    Event,
    ExecutionError,
    ExecutionOptions,
    ForEach,
    RetryPolicy,
    ToolExecution,
)
from executor_server.domain.status import (
    DependencyRule,
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)
from executor_server.engine.machine import (
    ArmTimer,
    AttemptEnded,
    Cancel,
    CancelAttempt,
    DisarmTimer,
    Machine,
    Phase,
    Retry,
    Rollback,
    Start,
    StartAttempt,
    Timer,
    TimerFired,
    TimerKind,
    Transition,
)
from executor_server.engine.state import ExecutionState
from executor_server.engine.validation import validate_plan

EXAMPLES = int(os.environ.get("MACHINE_EXAMPLES", "40"))
SS = StepStatus
ES = ExecutionStatus
RULES = list(DependencyRule)
SETTLED = {SS.COMPLETED, SS.FAILED, SS.SKIPPED, SS.CANCELLED}
REGISTRY = make_registry()


@dataclass(frozen=True)
class Shape:
    deps: tuple[tuple[int, ...], ...]
    rules: tuple[DependencyRule, ...]
    whens: tuple[str, ...]
    fan_out: tuple[int | None, ...]  # the dependency whose `items` it runs over
    continue_on_failure: bool
    concurrency: int
    undo: tuple[bool, ...]


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    n = draw(st.integers(1, 7))
    deps = tuple(
        tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)))) if i else ()
        for i in range(n)
    )
    whens = []
    fan_out: list[int | None] = []
    for i in range(n):
        choices = ["", "", "true", "false"]
        for d in deps[i]:
            choices += [f'steps.s{d}.status == "COMPLETED"', f"steps.s{d}.output.ok == true"]
        whens.append(draw(st.sampled_from(choices)))
        fan_out.append(draw(st.sampled_from([None, None, *deps[i]])))
    return Shape(
        deps=deps,
        rules=tuple(draw(st.sampled_from(RULES)) for _ in range(n)),
        whens=tuple(whens),
        fan_out=tuple(fan_out),
        continue_on_failure=draw(st.booleans()),
        concurrency=draw(st.integers(1, 3)),
        undo=tuple(draw(st.booleans()) for _ in range(n)),
    )


def _plan(shape: Shape) -> ActionPlan:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(len(shape.deps))]
    steps = []
    for i in range(len(ids)):
        d = shape.fan_out[i]
        steps.append(
            ActionStep(
                id=ids[i],
                name=f"s{i}",
                tool_execution=ToolExecution(tool_name="echo", arguments={"i": i}),
                dependencies=tuple(ids[j] for j in shape.deps[i]),
                retry_policy=RetryPolicy(max_attempts=2),
                when=shape.whens[i],
                dependency_rule=shape.rules[i],
                for_each=ForEach(items=f"${{steps.s{d}.output.items}}") if d is not None else None,
                compensation=Compensation(tool_name="echo") if shape.undo[i] else None,
            )
        )
    return ActionPlan(id=str(uuid.UUID(int=999)), steps=tuple(steps))


class Driver:
    """Plays the runner: keeps what the machine started and armed, and answers it."""

    def __init__(self, machine: Machine, data: st.DataObject) -> None:
        self.machine = machine
        self.data = data
        self.in_flight: dict[tuple[int, int, int, bool], bool] = {}  # -> cancel requested
        self.timers: set[Timer] = set()
        self.journal: list[Event] = []

    def send(self, command: Any) -> None:
        self.perform(self.machine.handle(command))

    def perform(self, transition: Transition) -> None:
        self.journal.extend(transition.events)
        for effect in transition.effects:
            match effect:
                case StartAttempt(step, attempt, compensation, _, item):
                    self.in_flight[(step, item, attempt, compensation)] = False
                case CancelAttempt(step, attempt, compensation, item):
                    key = (step, item, attempt, compensation)
                    if key in self.in_flight:
                        self.in_flight[key] = True
                case ArmTimer(timer, _):
                    self.timers.add(timer)
                case DisarmTimer(timer):
                    self.timers.discard(timer)

    def run(self, *, may_cancel: bool) -> None:
        for _ in range(400):
            if self.machine.phase is Phase.ENDED and not self.in_flight:
                return
            if may_cancel and self.data.draw(st.integers(0, 15)) == 0:
                self.send(Cancel(0, "test"))
                may_cancel = False
                continue
            if self.in_flight:
                key = self.data.draw(st.sampled_from(sorted(self.in_flight)))
                cancelled = self.in_flight.pop(key)
                step, item, attempt, compensation = key
                if cancelled:
                    ended = AttemptEnded(step, attempt, compensation, cancelled=True, item=item)
                elif self.data.draw(st.booleans()):
                    ok = self.data.draw(st.booleans())
                    output = {"ok": ok, "items": list(range(self.data.draw(st.integers(0, 3))))}
                    ended = AttemptEnded(step, attempt, compensation, output=output, item=item)
                else:
                    error = ExecutionError(ExecutionErrorType.TOOL_FAILED, "no", retryable=True)
                    ended = AttemptEnded(step, attempt, compensation, error=error, item=item)
                self.send(ended)
            elif self.timers:
                timer = self.data.draw(st.sampled_from(sorted(self.timers, key=repr)))
                self.timers.discard(timer)
                self.send(TimerFired(timer))
            else:
                raise AssertionError(f"stuck in {self.machine.phase} with nothing in flight")
        raise AssertionError("did not end")


def _check_rules(shape: Shape, journal: list[Event], start: int) -> None:
    """Replays the journal from `start`: each step's (and element's) start happened with
    its rule met and its condition true; under fail-fast, after a failure only ALL_DONE
    steps start."""
    ids = {str(uuid.UUID(int=i + 1)): i for i in range(len(shape.deps))}
    statuses = [SS.PENDING] * len(shape.deps)
    for event in journal[:start]:
        if event.type is EventType.STEP_STATUS_CHANGED and event.item_index is None:
            statuses[ids[event.step_id]] = event.step_status  # type: ignore[assignment]
    failed = False
    for event in journal[start:]:
        if event.type is not EventType.STEP_STATUS_CHANGED:
            continue
        i = ids[event.step_id]
        new = event.step_status
        assert new is not None
        if event.item_index is not None:
            assert statuses[i] is SS.RUNNING or new is not SS.RUNNING
            continue
        if new is SS.RUNNING and statuses[i] is SS.PENDING:
            deps = [statuses[d] for d in shape.deps[i]]
            rule = shape.rules[i]
            if rule is DependencyRule.ALL_COMPLETED:
                assert all(s is SS.COMPLETED for s in deps), (i, deps)
            elif rule is DependencyRule.NONE_FAILED:
                assert all(s in (SS.COMPLETED, SS.SKIPPED) for s in deps), (i, deps)
            else:
                assert all(s in SETTLED for s in deps), (i, deps)
            assert shape.whens[i] != "false"
            if failed and not shape.continue_on_failure:
                assert rule is DependencyRule.ALL_DONE, i
        if new is SS.FAILED:
            failed = True
        if new is SS.SKIPPED and event.message == "condition false":
            assert shape.whens[i] not in ("", "true")
        statuses[i] = new


def _check_rollback(
    shape: Shape, driver: Driver, completed: set[str], done_items: set[tuple[str, int]]
) -> None:
    """Everything that completed and has an undo is undone (or its undo failed, which the
    end says), elements of failed for_each steps included; nothing else is."""
    before = len(driver.journal)
    driver.send(Rollback(0))
    driver.run(may_cancel=False)
    state = driver.machine.state
    assert state.status in (ES.ROLLED_BACK, ES.ROLLBACK_FAILED)
    undone = {SS.COMPENSATED, SS.COMPENSATION_FAILED}
    failed_undo = False
    for i, s in enumerate(state.steps):
        if s.step_id in completed:
            if shape.undo[i]:
                assert s.status in undone, (i, s.status)
                failed_undo |= s.status is SS.COMPENSATION_FAILED
            else:
                assert s.status is SS.COMPLETED and s.nothing_to_undo
        for t in s.items:
            if (s.step_id, t.index) in done_items and shape.undo[i]:
                assert t.status in undone, (i, t.index, t.status)
                failed_undo |= t.status is SS.COMPENSATION_FAILED
            elif (s.step_id, t.index) not in done_items:
                assert t.status not in undone
    assert (state.status is ES.ROLLBACK_FAILED) == failed_undo
    _check_undo_order(shape, driver.journal[before:])
    assert _fold(driver.machine.state.plan, driver.journal).snapshot(0.0) == state.snapshot(0.0)


def _check_undo_order(shape: Shape, events: list[Event]) -> None:
    """A step's undo starts only once every step depending on it has finished its own."""
    ids = {str(uuid.UUID(int=i + 1)): i for i in range(len(shape.deps))}
    began: dict[int, int] = {}
    ended: dict[int, int] = {}
    for n, event in enumerate(events):
        if event.type is not EventType.STEP_STATUS_CHANGED or not event.step_id:
            continue
        i = ids[event.step_id]
        if event.step_status is SS.COMPENSATING:
            began.setdefault(i, n)
        if event.step_status in (SS.COMPENSATED, SS.COMPENSATION_FAILED):
            ended[i] = n
    for i, start in began.items():
        for j in range(len(shape.deps)):
            if i in shape.deps[j] and j in began:
                assert ended.get(j, len(events)) < start, (i, j)


def _fold(plan: ActionPlan, journal: list[Event]) -> ExecutionState:
    state = ExecutionState(plan, 0.0)
    for event in journal:
        state.apply(event)
    return state


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(shape=shapes(), data=st.data())
def test_no_step_runs_whose_rule_is_unmet_and_every_step_settles(
    shape: Shape, data: st.DataObject
) -> None:
    plan = _plan(shape)
    options = ExecutionOptions(
        continue_on_failure=shape.continue_on_failure, max_concurrent_steps=shape.concurrency
    )
    program = validate_plan(plan, options, REGISTRY)
    machine = Machine(program, ExecutionState(plan, 0.0), clock=lambda: 0.0)
    driver = Driver(machine, data)
    driver.send(Start())
    driver.run(may_cancel=True)

    state = machine.state
    assert state.status in (ES.COMPLETED, ES.FAILED, ES.CANCELLED)
    assert all(s.status in SETTLED for s in state.steps)
    for s in state.steps:
        if s.status is SS.COMPLETED:
            assert all(item.status is SS.COMPLETED for item in s.items)
    assert len({e.sequence for e in driver.journal}) == len(driver.journal)
    _check_rules(shape, driver.journal, 0)
    assert _fold(plan, driver.journal).snapshot(0.0) == state.snapshot(0.0)

    if state.status is ES.COMPLETED:
        return
    completed = {s.step_id for s in state.steps if s.status is SS.COMPLETED}
    done_items = {
        (s.step_id, t.index) for s in state.steps for t in s.items if t.status is SS.COMPLETED
    }
    if data.draw(st.booleans()):
        _check_rollback(shape, driver, completed, done_items)
        return
    before = len(driver.journal)
    driver.send(Retry(0))
    driver.run(may_cancel=False)

    assert all(s.status in SETTLED for s in machine.state.steps)
    rerun = {
        e.step_id
        for e in driver.journal[before:]
        if e.type is EventType.STEP_STATUS_CHANGED and e.step_status is SS.RUNNING
    }
    assert not rerun & completed  # what completed never runs again
    _check_rules(shape, driver.journal, before)
    assert _fold(plan, driver.journal).snapshot(0.0) == machine.state.snapshot(0.0)


def test_a_sibling_that_ignores_its_cancellation_gives_its_slot_back() -> None:
    """continue_on_failure: an element fails its step; a sibling that never stops is
    recorded CANCELLED after the stop grace, and the step after it can take the slot."""
    ids = [str(uuid.UUID(int=i + 1)) for i in range(3)]
    source = ActionStep(
        id=ids[0], name="s0", tool_execution=ToolExecution(tool_name="echo", arguments={})
    )
    each = ActionStep(
        id=ids[1],
        name="s1",
        dependencies=(ids[0],),
        tool_execution=ToolExecution(tool_name="echo", arguments={"x": "${item}"}),
        for_each=ForEach(items="${steps.s0.output.items}"),
        retry_policy=RetryPolicy(max_attempts=1),
    )
    other = ActionStep(id=ids[2], name="s2", tool_execution=ToolExecution(tool_name="echo"))
    plan = ActionPlan(id=str(uuid.UUID(int=999)), steps=(source, each, other))
    options = ExecutionOptions(continue_on_failure=True, max_concurrent_steps=2)
    machine = Machine(
        validate_plan(plan, options, REGISTRY), ExecutionState(plan, 0.0), clock=lambda: 0.0
    )
    started = [e for e in machine.handle(Start()).effects if isinstance(e, StartAttempt)]
    assert [(e.step, e.item) for e in started] == [(0, -1), (2, -1)]
    out = machine.handle(AttemptEnded(0, 1, False, output={"items": [0, 1]}))
    assert [(e.step, e.item) for e in out.effects if isinstance(e, StartAttempt)] == [(1, 0)]
    machine.handle(AttemptEnded(2, 1, False, output={}))  # s2 done: both elements run
    assert set(machine.running) == {(1, 0), (1, 1)}
    error = ExecutionError(ExecutionErrorType.TOOL_FAILED, "no")
    out = machine.handle(AttemptEnded(1, 1, False, error=error, item=1))
    assert CancelAttempt(1, 1, False, 0) in out.effects
    assert any(
        isinstance(e, ArmTimer) and e.timer.kind is TimerKind.STOP_GRACE for e in out.effects
    )
    assert machine.state.steps[1].status is SS.FAILED
    assert set(machine.running) == {(1, 0)}  # element 0 still holds its slot

    machine.handle(TimerFired(Timer(TimerKind.STOP_GRACE)))

    assert not machine.running
    assert machine.phase is Phase.ENDED
    assert [t.status for t in machine.state.steps[1].items] == [SS.CANCELLED, SS.FAILED]
    assert machine.state.status is ES.FAILED
