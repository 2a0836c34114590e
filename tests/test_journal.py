"""The journal: events are stored in order before anyone reads them, and a reader behind the
in-memory tail reads from the store instead, seeing the same events."""

from __future__ import annotations

import pytest

from executor_server.domain.models import ActionPlan, Event, ExecutionOptions
from executor_server.domain.status import EventType, ExecutionStatus
from executor_server.engine import journal
from executor_server.engine.journal import Journal
from executor_server.store.memory import MemoryStore
from executor_server.store.protocol import ExecutionRecord

PLAN_ID = "00000000-0000-4000-8000-000000000001"


def _event(sequence: int) -> Event:
    return Event(
        sequence=sequence,
        plan_id=PLAN_ID,
        time=float(sequence),
        type=EventType.STEP_PROGRESS,
        status=ExecutionStatus.RUNNING,
        step_id="s",
    )


async def test_reads_are_whole_and_in_order_from_the_tail_or_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(journal, "TAIL_EVENTS", 4)
    store = MemoryStore()
    await store.create_execution(ExecutionRecord(ActionPlan(id=PLAN_ID), ExecutionOptions(), 0))
    log = Journal(store, PLAN_ID)
    for sequence in range(1, 31):
        log.append([_event(sequence)])
        if sequence % 4 == 0:
            await log.flush()
    # 29 and 30 are not stored yet: nobody sees them
    assert [e.sequence for e in await log.read(20, 100)] == list(range(21, 29))
    await log.flush()
    assert log.durable_sequence == 30

    for after in range(31):
        for limit in (1, 2, 5, 100):
            got = await log.read(after, limit)
            assert [e.sequence for e in got] == list(range(after + 1, min(after + limit, 30) + 1))


async def test_a_closed_journal_wakes_its_waiters() -> None:
    store = MemoryStore()
    await store.create_execution(ExecutionRecord(ActionPlan(id=PLAN_ID), ExecutionOptions(), 0))
    log = Journal(store, PLAN_ID)
    log.close()
    await log.published_after(5)  # returns instead of waiting forever
