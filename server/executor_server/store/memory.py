"""A store that keeps everything in this process: for tests and embedding."""

from __future__ import annotations

from collections.abc import Sequence

from executor_server.domain.models import Event
from executor_server.domain.status import EventType
from executor_server.store.protocol import DuplicateExecution, ExecutionRecord


class MemoryStore:
    def __init__(self) -> None:
        self._records: dict[str, ExecutionRecord] = {}
        self._events: dict[str, list[Event]] = {}

    async def create_execution(self, record: ExecutionRecord) -> None:
        existing = self._records.get(record.plan_id)
        if existing is not None:
            raise DuplicateExecution(existing)
        self._records[record.plan_id] = record
        self._events[record.plan_id] = []

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
                self._records[plan_id].status = event.status
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

    async def close(self) -> None:
        return None
