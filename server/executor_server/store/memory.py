"""A store that keeps everything in this process: for tests and embedding."""

from __future__ import annotations

from collections.abc import Sequence

from executor_server.domain.models import Event
from executor_server.domain.status import EventType
from executor_server.store.protocol import (
    DuplicateExecution,
    ExecutionQuery,
    ExecutionRecord,
    ExecutionSummary,
)


class MemoryStore:
    persistent = False

    def __init__(self) -> None:
        self._records: dict[str, ExecutionRecord] = {}
        self._events: dict[str, list[Event]] = {}

    async def create_execution(self, record: ExecutionRecord, events: Sequence[Event] = ()) -> None:
        existing = self._records.get(record.plan_id)
        if existing is not None:
            raise DuplicateExecution(existing)
        self._records[record.plan_id] = record
        self._events[record.plan_id] = []
        if events:
            await self.append_events(record.plan_id, events)

    async def get_execution(self, plan_id: str) -> ExecutionRecord | None:
        return self._records.get(plan_id)

    async def append_events(self, plan_id: str, events: Sequence[Event]) -> None:
        journal = self._events[plan_id]
        expected = len(journal) + 1
        for offset, event in enumerate(events):
            if event.sequence != expected + offset:
                raise ValueError(
                    f"journal of {plan_id} expects sequence {expected + offset}, "
                    f"got {event.sequence}"
                )
        journal.extend(events)
        for event in reversed(events):
            if event.type is EventType.EXECUTION_STATUS_CHANGED:
                record = self._records[plan_id]
                record.status = event.status
                record.end_time = event.time if event.status.is_terminal else None
                break

    async def read_events(
        self, plan_id: str, after_sequence: int = 0, limit: int | None = None
    ) -> list[Event]:
        journal = self._events.get(plan_id, [])  # journal[i] has sequence i + 1
        end = None if limit is None else after_sequence + limit
        return journal[after_sequence:end]

    async def unfinished_executions(self) -> list[ExecutionRecord]:
        return sorted(
            (r for r in self._records.values() if not r.status.is_terminal),
            key=lambda r: r.create_time,
        )

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        summaries = (_summary(r) for r in self._records.values())
        chosen = sorted(
            (s for s in summaries if query.matches(s)),
            key=lambda s: (s.create_time, s.plan_id),
            reverse=True,
        )
        return chosen[: query.limit]

    async def delete_execution(self, plan_id: str) -> None:
        self._records.pop(plan_id, None)
        self._events.pop(plan_id, None)

    async def finished_before(self, end_time: float, limit: int) -> list[str]:
        ended = [
            r.plan_id
            for r in self._records.values()
            if r.status.is_terminal and r.end_time is not None and r.end_time < end_time
        ]
        return ended[:limit]

    async def close(self) -> None:
        return None


def _summary(record: ExecutionRecord) -> ExecutionSummary:
    return ExecutionSummary(
        plan_id=record.plan_id,
        plan_name=record.plan.name,
        status=record.status,
        create_time=record.create_time,
        end_time=record.end_time,
        total_steps=len(record.plan.steps),
    )
