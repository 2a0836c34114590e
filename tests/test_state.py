"""Unit and property tests of the event fold (engine/state.py)."""

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    Event,
    ExecutionError,
    Progress,
    ResourceUsage,
    ToolExecution,
)
from executor_server.domain.status import (
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)
from executor_server.engine.state import ExecutionState

PLAN_ID = "11111111-2222-4333-8444-555555555555"
IDS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(1, 4)]
PLAN = ActionPlan(
    id=PLAN_ID,
    name="demo",
    metadata={"owner": "tests"},
    steps=tuple(
        ActionStep(id=IDS[i], name=name, tool_execution=ToolExecution(tool_name="echo"))
        for i, name in enumerate(["a", "b", ""])
    ),
)

ES = ExecutionStatus
SS = StepStatus


class Journal:
    """Builds numbered events the way the engine does, and folds them into a state."""

    def __init__(self, state: ExecutionState) -> None:
        self.state = state
        self.status = ES.PENDING

    def _emit(self, time: float, type: EventType, **kwargs: Any) -> Event:
        event = Event(
            sequence=self.state.last_sequence + 1,
            plan_id=PLAN_ID,
            time=time,
            type=type,
            status=kwargs.pop("status", self.status),
            **kwargs,
        )
        self.state.apply(event)
        return event

    def execution(self, time: float, status: ES, error: ExecutionError | None = None) -> Event:
        self.status = status
        return self._emit(time, EventType.EXECUTION_STATUS_CHANGED, status=status, error=error)

    def step(self, time: float, i: int, status: SS, attempt: int = 0, **kwargs: Any) -> Event:
        return self._emit(
            time,
            EventType.STEP_STATUS_CHANGED,
            step_id=IDS[i],
            step_name=PLAN.steps[i].name,
            step_status=status,
            attempt=attempt,
            **kwargs,
        )

    def retry(self, time: float, i: int, attempt: int, error: ExecutionError, **kw: Any) -> Event:
        return self._emit(
            time,
            EventType.STEP_RETRY_SCHEDULED,
            step_id=IDS[i],
            attempt=attempt,
            error=error,
            retry_delay=1.0,
            **kw,
        )

    def progress(self, time: float, i: int, fraction: float) -> Event:
        return self._emit(time, EventType.STEP_PROGRESS, step_id=IDS[i], progress=fraction)


def new_state() -> tuple[ExecutionState, Journal]:
    state = ExecutionState(PLAN, create_time=100.0)
    return state, Journal(state)


def progress(**nonzero: int) -> dict[str, int]:
    """Every count of a Progress for 3 steps: the given ones, 0 for the rest."""
    names = [f.name for f in dataclasses.fields(Progress)]
    unknown = set(nonzero) - {n.removesuffix("_steps") for n in names}
    assert not unknown, unknown
    counts = {n: nonzero.get(n.removesuffix("_steps"), 0) for n in names}
    counts["total_steps"] = 3
    return counts


def counts(p: Progress) -> dict[str, int]:
    return dataclasses.asdict(p)


def status_of(state: ExecutionState) -> ES:
    """The state's status, read through a call so type checkers do not pin it."""
    return state.status


SLOW = ExecutionError(ExecutionErrorType.TIMEOUT, "attempt timed out", True, IDS[1])
BOOM = ExecutionError(ExecutionErrorType.TOOL_FAILED, "boom", False, IDS[1])
UPSTREAM = ExecutionError(ExecutionErrorType.DEPENDENCY_FAILED, "dependency 'b' failed", False)


def test_initial_state() -> None:
    state, _ = new_state()
    assert status_of(state) is ES.PENDING
    assert state.last_sequence == 0
    assert counts(state.progress()) == progress(pending=3)
    assert [s.step_id for s in state.steps] == IDS
    assert [s.step_name for s in state.steps] == ["a", "b", ""]
    assert all(s.status is SS.PENDING and s.attempts == 0 for s in state.steps)
    assert state.execution_time(now=1e9) == 0.0
    snap = state.snapshot(now=1e9)
    assert (snap.start_time, snap.end_time, snap.create_time) == (None, None, 100.0)
    assert (snap.plan_id, snap.plan_name, snap.metadata) == (PLAN_ID, "demo", {"owner": "tests"})


def test_realistic_failed_run() -> None:
    state, j = new_state()
    j.execution(100.0, ES.PENDING)
    j.execution(101.0, ES.RUNNING)
    assert (status_of(state), state.start_time) == (ES.RUNNING, 101.0)

    j.step(102.0, 0, SS.RUNNING, attempt=1)
    assert counts(state.progress()) == progress(pending=2, running=1)
    j.step(
        104.0,
        0,
        SS.COMPLETED,
        attempt=1,
        output={"n": 1},
        usage=ResourceUsage(
            cpu_time_ms=10, memory_peak_mb=50, network_requests=2, tool_invocations=1
        ),
    )
    a = state.steps[0]
    assert (a.status, a.output, a.attempts, a.retry_count) == (SS.COMPLETED, {"n": 1}, 1, 0)
    assert (a.start_time, a.end_time, a.error, a.error_type) == (102.0, 104.0, "", None)
    assert a.execution_time == 2.0

    j.step(105.0, 1, SS.RUNNING, attempt=1)
    j.retry(
        106.0, 1, 1, SLOW, usage=ResourceUsage(cpu_time_ms=5, memory_peak_mb=80, tool_invocations=1)
    )
    b = state.steps[1]
    assert b.status is SS.RUNNING  # a scheduled retry does not change the step's status
    assert (b.error, b.error_type, b.end_time) == (
        "attempt timed out",
        ExecutionErrorType.TIMEOUT,
        None,
    )
    mid = state.snapshot(now=106.5)
    assert mid.execution_time == pytest.approx(5.5)

    j.execution(107.0, ES.PAUSED)
    assert status_of(state) is ES.PAUSED
    assert state.execution_time(now=112.0) == pytest.approx(6.0)  # paused time does not count
    assert state.execution_time(now=116.0) == pytest.approx(6.0)
    j.progress(110.0, 1, 0.5)  # progress events change nothing but the sequence
    assert state.last_sequence == 8
    j.execution(117.0, ES.RUNNING)
    assert state.start_time == 101.0  # resuming is not starting
    assert state.execution_time(now=119.0) == pytest.approx(8.0)

    j.step(118.0, 1, SS.RUNNING, attempt=2)
    assert (b.attempts, b.retry_count, b.start_time) == (2, 1, 105.0)
    assert counts(state.progress()) == progress(pending=1, running=1, completed=1)
    j.step(
        120.0,
        1,
        SS.FAILED,
        attempt=2,
        error=BOOM,
        usage=ResourceUsage(cpu_time_ms=1, memory_peak_mb=20, tool_invocations=1),
    )
    assert (b.status, b.error, b.error_type) == (SS.FAILED, "boom", ExecutionErrorType.TOOL_FAILED)
    assert (b.end_time, b.output, b.attempts, b.retry_count) == (120.0, None, 2, 1)
    assert b.execution_time == 15.0

    j.step(120.5, 2, SS.SKIPPED, error=UPSTREAM)
    c = state.steps[2]
    assert (c.status, c.error_type, c.attempts, c.start_time) == (
        SS.SKIPPED,
        ExecutionErrorType.DEPENDENCY_FAILED,
        0,
        None,
    )
    assert c.end_time == 120.5

    j.execution(121.0, ES.FAILED, error=BOOM)
    assert status_of(state) is ES.FAILED
    assert state.error == BOOM
    assert (state.start_time, state.end_time) == (101.0, 121.0)
    assert state.last_sequence == 13
    # (107 - 101) running + (121 - 117) running; the 10 s pause is excluded, and the clock
    # stops at the terminal event.
    assert state.execution_time(now=500.0) == pytest.approx(10.0)
    assert counts(state.progress()) == progress(completed=1, failed=1, skipped=1)
    for status, n in [(SS.COMPLETED, 1), (SS.FAILED, 1), (SS.SKIPPED, 1), (SS.PENDING, 0)]:
        assert state.count(status) == n
    assert state.usage == ResourceUsage(
        cpu_time_ms=16, memory_peak_mb=80, network_requests=2, tool_invocations=3
    )

    final = state.snapshot(now=500.0)
    assert final.status is ES.FAILED
    assert final.execution_time == pytest.approx(10.0)
    assert final.error == BOOM
    assert final.last_sequence == 13
    assert counts(final.progress) == progress(completed=1, failed=1, skipped=1)
    assert [s.status for s in final.step_results] == [SS.COMPLETED, SS.FAILED, SS.SKIPPED]
    assert final.resource_usage == state.usage
    assert final.plan is PLAN

    # The snapshot taken mid-run did not follow the later events.
    assert mid.status is ES.RUNNING
    assert mid.last_sequence == 6
    assert mid.end_time is None
    assert counts(mid.progress) == progress(pending=1, running=1, completed=1)
    assert [s.status for s in mid.step_results] == [SS.COMPLETED, SS.RUNNING, SS.PENDING]
    assert mid.step_results[1].attempts == 1
    assert mid.step_results[1].end_time is None
    assert mid.resource_usage == ResourceUsage(
        cpu_time_ms=15, memory_peak_mb=80, network_requests=2, tool_invocations=2
    )


def test_snapshot_is_a_copy() -> None:
    state, j = new_state()
    j.execution(1.0, ES.RUNNING)
    j.step(2.0, 0, SS.RUNNING, attempt=1, usage=ResourceUsage(disk_reads=1))
    snap = state.snapshot(now=3.0)
    assert snap.step_results[0] is not state.steps[0]
    assert snap.resource_usage is not state.usage
    j.step(4.0, 0, SS.COMPLETED, attempt=1, output=[1], usage=ResourceUsage(disk_reads=2))
    assert snap.step_results[0].status is SS.RUNNING
    assert snap.step_results[0].output is None
    assert snap.resource_usage.disk_reads == 1
    assert state.usage.disk_reads == 3
    assert snap.execution_time == 2.0


def test_retry_then_success_clears_the_error() -> None:
    state, j = new_state()
    j.execution(10.0, ES.RUNNING)
    j.step(11.0, 0, SS.RUNNING, attempt=1)
    j.retry(12.0, 0, 1, SLOW)
    j.step(13.0, 0, SS.RUNNING, attempt=2)
    a = state.steps[0]
    assert (a.error, a.attempts) == ("attempt timed out", 2)  # kept while the retry runs
    j.step(14.0, 0, SS.COMPLETED, attempt=2, output="ok")
    assert (a.status, a.output, a.error, a.error_type) == (SS.COMPLETED, "ok", "", None)
    assert (a.attempts, a.retry_count, a.start_time, a.end_time) == (2, 1, 11.0, 14.0)
    for i in (1, 2):
        j.step(15.0, i, SS.RUNNING, attempt=1)
        j.step(16.0, i, SS.COMPLETED, attempt=1, output=i)
    j.execution(20.0, ES.COMPLETED)
    assert status_of(state) is ES.COMPLETED
    assert state.error is None
    assert state.end_time == 20.0
    assert state.execution_time(now=99.0) == 10.0
    assert counts(state.progress()) == progress(completed=3)


def test_cancelled_while_paused_counts_no_paused_time() -> None:
    state, j = new_state()
    j.execution(0.0, ES.PENDING)
    j.execution(5.0, ES.RUNNING)
    j.execution(8.0, ES.PAUSED)
    for i in range(3):
        j.step(30.0, i, SS.CANCELLED, error=UPSTREAM)
    cancelled = ExecutionError(ExecutionErrorType.CANCELLED, "cancelled by request")
    j.execution(30.0, ES.CANCELLED, error=cancelled)
    assert state.execution_time(now=100.0) == 3.0
    assert (state.start_time, state.end_time, state.error) == (5.0, 30.0, cancelled)
    assert counts(state.progress()) == progress(cancelled=3)


def test_never_started_execution_has_no_start_time() -> None:
    state, j = new_state()
    j.execution(1.0, ES.PENDING)
    j.execution(2.0, ES.CANCELLED)
    assert (state.start_time, state.end_time) == (None, 2.0)
    assert state.execution_time(now=10.0) == 0.0


def test_rollback_time_counts_as_running() -> None:
    state, j = new_state()
    j.execution(0.0, ES.RUNNING)
    j.execution(4.0, ES.FAILED, error=BOOM)
    j.execution(10.0, ES.ROLLING_BACK)
    assert state.execution_time(now=12.0) == 6.0
    j.execution(13.0, ES.ROLLED_BACK)
    assert state.execution_time(now=50.0) == 7.0
    assert (state.start_time, state.end_time) == (0.0, 13.0)


# ------------------------------------------------------------------ properties


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([ES.RUNNING, ES.PAUSED, ES.ROLLING_BACK, ES.FAILED]),
            st.integers(min_value=0, max_value=1000),
        ),
        max_size=20,
    ),
    st.integers(min_value=0, max_value=1000),
)
def test_execution_time_is_time_spent_active(changes: list[tuple[ES, int]], after: int) -> None:
    state, j = new_state()
    now = 0.0
    active_since: float | None = None
    total = 0.0
    for status, gap in changes:
        now += gap
        j.execution(now, status)
        if status in (ES.RUNNING, ES.ROLLING_BACK):
            if active_since is None:
                active_since = now
        elif active_since is not None:
            total += now - active_since
            active_since = None
    now += after
    expected = total + (now - active_since if active_since is not None else 0.0)
    assert state.execution_time(now) == pytest.approx(expected)
    assert state.last_sequence == len(changes)
    firsts = [i for i, (s, _) in enumerate(changes) if s in (ES.RUNNING, ES.ROLLING_BACK)]
    assert (state.start_time is None) == (not firsts)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=2), st.sampled_from(list(SS))), max_size=30
    )
)
def test_progress_counts_always_match_step_statuses(changes: list[tuple[int, SS]]) -> None:
    state, j = new_state()
    j.execution(0.0, ES.RUNNING)
    for t, (i, status) in enumerate(changes, start=1):
        j.step(float(t), i, status, attempt=1)
    p = state.progress()
    statuses = [s.status for s in state.steps]
    assert p.total_steps == 3
    assert p.pending_steps == statuses.count(SS.PENDING)
    assert p.running_steps == statuses.count(SS.RUNNING)
    assert p.completed_steps == statuses.count(SS.COMPLETED)
    assert p.failed_steps == statuses.count(SS.FAILED)
    assert p.skipped_steps == statuses.count(SS.SKIPPED)
    assert p.cancelled_steps == statuses.count(SS.CANCELLED)
    assert sum(state.count(s) for s in SS) == 3
    assert state.last_sequence == len(changes) + 1
