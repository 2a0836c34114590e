"""One contract, every store: what the engine relies on from persistence."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    ApprovalGate,
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
)
from executor_server.store.memory import MemoryStore
from executor_server.store.postgres import PostgresStore
from executor_server.store.protocol import (
    DuplicateExecution,
    ExecutionQuery,
    ExecutionRecord,
    Store,
)
from executor_server.store.sqlite import SQLiteStore, StoreError

PLAN_ID = "00000000-0000-4000-8000-000000000001"
STEP_ID = "00000000-0000-4000-8000-0000000000a1"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened: Store
    if request.param == "memory":
        opened = MemoryStore()
    elif request.param == "sqlite":
        opened = await SQLiteStore.open(tmp_path / "x.db")
    else:
        url = request.getfixturevalue("pg_url")
        opened = await PostgresStore.open(url, replica_id="contract")
    yield opened
    await opened.close()


def record(plan_id: str = PLAN_ID, create_time: float = 1.0) -> ExecutionRecord:
    plan = ActionPlan(
        id=plan_id,
        name="contract",
        steps=(
            ActionStep(
                id=STEP_ID,
                name="a",
                tool_execution=ToolExecution(tool_name="echo", arguments={"n": 1, "l": [1, "x"]}),
                timeout=timedelta(seconds=2.5),
                retry_policy=RetryPolicy(
                    max_attempts=3,
                    non_retryable_error_types=frozenset({ExecutionErrorType.VALIDATION}),
                ),
                approval=ApprovalGate(
                    prompt="ok ${steps.x.output}?",
                    timeout=timedelta(hours=1),
                    on_timeout=ApprovalDecision.APPROVE,
                    allow_edit=True,
                ),
            ),
            ActionStep(
                id="7d1f2c3a-0000-4000-8000-00000000000b",
                wait_for_signal=WaitForSignal(
                    name="paid", timeout=timedelta(minutes=5), payload_schema={"type": "object"}
                ),
            ),
            ActionStep(
                id="7d1f2c3a-0000-4000-8000-00000000000c",
                sleep=Sleep(until=1_900_000_000.5),
            ),
            ActionStep(
                id="7d1f2c3a-0000-4000-8000-00000000000d",
                sleep=Sleep(duration=timedelta(seconds=90)),
            ),
        ),
        metadata={"k": {"nested": True}},
    )
    return ExecutionRecord(plan, ExecutionOptions(max_concurrent_steps=2), create_time)


def event(sequence: int, **fields: object) -> Event:
    base: dict[str, object] = {
        "sequence": sequence,
        "plan_id": PLAN_ID,
        "time": 100.0 + sequence,
        "type": EventType.STEP_STATUS_CHANGED,
        "status": ExecutionStatus.RUNNING,
    }
    base.update(fields)
    return Event(**base)  # type: ignore[arg-type]


async def test_a_record_round_trips(store: Store) -> None:
    await store.create_execution(record())
    loaded = await store.get_execution(PLAN_ID)
    assert loaded is not None
    assert loaded.plan == record().plan
    assert loaded.options == record().options
    assert loaded.submitted_as(record().plan, record().options)
    assert not loaded.submitted_as(record().plan, ExecutionOptions())
    assert (loaded.create_time, loaded.status) == (
        1.0,
        ExecutionStatus.PENDING,
    )
    assert await store.get_execution("00000000-0000-4000-8000-00000000ffff") is None


async def test_a_second_record_with_the_same_id_is_refused(store: Store) -> None:
    await store.create_execution(record())
    with pytest.raises(DuplicateExecution) as caught:
        await store.create_execution(record(create_time=2.0))
    assert caught.value.existing.create_time == 1.0


async def test_a_record_and_its_first_events_are_created_together(store: Store) -> None:
    first = [
        event(1, type=EventType.EXECUTION_STATUS_CHANGED, status=ExecutionStatus.PENDING),
        event(2, type=EventType.EXECUTION_STATUS_CHANGED, status=ExecutionStatus.RUNNING),
        event(3, step_id=STEP_ID, step_name="a", step_status=StepStatus.RUNNING, attempt=1),
    ]
    await store.create_execution(record(), first)
    assert await store.read_events(PLAN_ID) == first
    loaded = await store.get_execution(PLAN_ID)
    assert loaded is not None and loaded.status is ExecutionStatus.RUNNING
    await store.append_events(
        PLAN_ID, [event(4, step_id=STEP_ID, step_status=StepStatus.COMPLETED)]
    )
    assert [e.sequence for e in await store.read_events(PLAN_ID)] == [1, 2, 3, 4]
    # A refused duplicate stores none of its events.
    with pytest.raises(DuplicateExecution):
        await store.create_execution(record(create_time=2.0), first)
    assert len(await store.read_events(PLAN_ID)) == 4


async def test_events_round_trip_with_every_field(store: Store) -> None:
    await store.create_execution(record())
    full = event(
        1,
        step_id=STEP_ID,
        step_name="a",
        step_status=StepStatus.FAILED,
        attempt=2,
        message="boom",
        error=ExecutionError(ExecutionErrorType.NETWORK, "boom", True, STEP_ID),
        output={"list": [1, 2.5, None, "s"], "ok": False},
        usage=ResourceUsage(1.5, 2.0, 3, 4, 5, 6),
        retry_delay=0.25,
        progress=0.5,
    )
    bare = event(2, type=EventType.EXECUTION_STATUS_CHANGED, status=ExecutionStatus.FAILED)
    waiting = event(
        3,
        step_id=STEP_ID,
        step_name="a",
        step_status=StepStatus.WAITING,
        signal="paid",
        wait_deadline=1234.5,
    )
    decided = event(
        4,
        type=EventType.APPROVAL_DECIDED,
        step_id=STEP_ID,
        step_name="a",
        decision=ApprovalDecision.REJECT,
        message="no",
        actor="amy",
        output={"edited": True},
    )
    await store.append_events(PLAN_ID, [full, bare, waiting, decided])
    assert await store.read_events(PLAN_ID) == [full, bare, waiting, decided]


async def test_reads_page_by_sequence(store: Store) -> None:
    await store.create_execution(record())
    events = [event(i) for i in range(1, 11)]
    await store.append_events(PLAN_ID, events[:4])
    await store.append_events(PLAN_ID, events[4:])
    assert await store.read_events(PLAN_ID, 3, 4) == events[3:7]
    assert await store.read_events(PLAN_ID, 10) == []
    assert await store.read_events(PLAN_ID, 0, 2) == events[:2]


async def test_the_journal_refuses_gaps_and_duplicates(store: Store) -> None:
    await store.create_execution(record())
    await store.append_events(PLAN_ID, [event(1), event(2)])
    with pytest.raises(ValueError):
        await store.append_events(PLAN_ID, [event(4)])
    with pytest.raises((ValueError, sqlite3.IntegrityError)):
        await store.append_events(PLAN_ID, [event(2)])
    assert [e.sequence for e in await store.read_events(PLAN_ID)] == [1, 2]


async def test_status_follows_execution_events_and_unfinished_lists_the_rest(store: Store) -> None:
    first, second = record(create_time=1.0), record("00000000-0000-4000-8000-000000000002", 2.0)
    await store.create_execution(second)
    await store.create_execution(first)
    await store.append_events(
        PLAN_ID,
        [
            event(1, type=EventType.EXECUTION_STATUS_CHANGED, status=ExecutionStatus.RUNNING),
            event(2, type=EventType.EXECUTION_STATUS_CHANGED, status=ExecutionStatus.PAUSED),
            event(3),  # a step event does not change the execution's status
        ],
    )
    paused = await store.get_execution(PLAN_ID)
    assert paused is not None and paused.status is ExecutionStatus.PAUSED
    assert [r.plan_id for r in await store.unfinished_executions()] == [
        PLAN_ID,
        second.plan_id,
    ]
    await store.append_events(
        PLAN_ID,
        [event(4, type=EventType.EXECUTION_STATUS_CHANGED, status=ExecutionStatus.COMPLETED)],
    )
    assert [r.plan_id for r in await store.unfinished_executions()] == [second.plan_id]


async def test_concurrent_appends_to_many_journals_all_land(store: Store) -> None:
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(20)]
    for plan_id in ids:
        await store.create_execution(record(plan_id))

    async def fill(plan_id: str) -> None:
        for sequence in range(1, 26):
            await store.append_events(plan_id, [event(sequence, plan_id=plan_id)])

    await asyncio.gather(*(fill(plan_id) for plan_id in ids))
    for plan_id in ids:
        assert [e.sequence for e in await store.read_events(plan_id)] == list(range(1, 26))


async def test_sqlite_keeps_everything_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = await SQLiteStore.open(path)
    await store.create_execution(record())
    await store.append_events(PLAN_ID, [event(1), event(2)])
    await store.close()
    reopened = await SQLiteStore.open(path)
    try:
        assert [e.sequence for e in await reopened.read_events(PLAN_ID)] == [1, 2]
        assert (await reopened.get_execution(PLAN_ID)) is not None
    finally:
        await reopened.close()


async def test_sqlite_refuses_a_corrupt_file_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"corrupt\.db"):
        await SQLiteStore.open(path)
    assert path.read_bytes().startswith(b"this is not a database")  # nothing overwritten


async def test_sqlite_refuses_an_unwritable_location(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(StoreError, match="cannot"):
        await SQLiteStore.open(blocker / "sub" / "x.db")


async def _finish(store: Store, plan_id: str, status: ExecutionStatus, at: float) -> None:
    await store.append_events(
        plan_id,
        [
            Event(
                sequence=1,
                plan_id=plan_id,
                time=at,
                type=EventType.EXECUTION_STATUS_CHANGED,
                status=status,
            )
        ],
    )


async def test_listing_filters_and_pages_newest_first(store: Store) -> None:
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(6)]
    for i, plan_id in enumerate(ids):
        await store.create_execution(record(plan_id, create_time=10.0 + i))
    await _finish(store, ids[1], ExecutionStatus.COMPLETED, 50.0)
    await _finish(store, ids[2], ExecutionStatus.FAILED, 51.0)

    everything = await store.list_executions(ExecutionQuery(limit=10))
    assert [s.plan_id for s in everything] == ids[::-1]
    assert everything[-1].total_steps == 4 and everything[-1].plan_name == "contract"
    assert everything[-2].end_time == 50.0 and everything[0].end_time is None

    first = await store.list_executions(ExecutionQuery(limit=2))
    after = (first[-1].create_time, first[-1].plan_id)
    second = await store.list_executions(ExecutionQuery(limit=2, after=after))
    assert [s.plan_id for s in first + second] == ids[::-1][:4]

    done = ExecutionQuery(statuses=frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED}))
    assert [s.plan_id for s in await store.list_executions(done)] == [ids[2], ids[1]]
    window = ExecutionQuery(created_after=11.0, created_before=13.0)
    assert [s.plan_id for s in await store.list_executions(window)] == [ids[2], ids[1]]
    assert await store.list_executions(ExecutionQuery(plan_name="other")) == []


async def test_finished_executions_can_be_found_by_age_and_deleted(store: Store) -> None:
    old, recent, running = (f"00000000-0000-4000-8000-{i:012d}" for i in range(3))
    for plan_id in (old, recent, running):
        await store.create_execution(record(plan_id))
    await _finish(store, old, ExecutionStatus.COMPLETED, 100.0)
    await _finish(store, recent, ExecutionStatus.CANCELLED, 200.0)
    assert await store.finished_before(150.0, 10) == [old]
    assert sorted(await store.finished_before(1e9, 10)) == sorted([old, recent])

    await store.delete_execution(old)
    assert await store.get_execution(old) is None
    assert await store.read_events(old) == []
    assert await store.finished_before(1e9, 10) == [recent]
    await store.delete_execution(old)  # forgetting twice is fine
