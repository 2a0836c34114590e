"""What the engine needs from persistence: execution records and their event journal.

The journal is the source of truth: an execution's state is the fold of its events
(engine/state.py), so a store only appends and reads them back. `ExecutionRecord.status` is
the store's own projection of the latest execution event, kept for listing and recovery.
Implementations: `memory` (tests, embedding); SQLite and PostgreSQL plug in here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from executor_server.domain.models import ActionPlan, Event, ExecutionOptions
from executor_server.domain.status import ExecutionStatus


@dataclass(slots=True)
class ExecutionRecord:
    plan: ActionPlan
    options: ExecutionOptions
    #: Digest of plan and options; a resubmission with the same digest attaches.
    fingerprint: str
    create_time: float
    status: ExecutionStatus = ExecutionStatus.PENDING

    @property
    def plan_id(self) -> str:
        return self.plan.id


class DuplicateExecution(Exception):
    """`create_execution` found the plan id taken; `existing` is the record holding it."""

    def __init__(self, existing: ExecutionRecord) -> None:
        super().__init__(existing.plan_id)
        self.existing = existing


class Store(Protocol):
    async def create_execution(self, record: ExecutionRecord) -> None:
        """Persist a new execution. Raises DuplicateExecution if the plan id exists."""
        ...

    async def get_execution(self, plan_id: str) -> ExecutionRecord | None: ...

    async def append_events(self, plan_id: str, events: Sequence[Event]) -> None:
        """Persist events (consecutive sequences, continuing the journal) atomically."""
        ...

    async def read_events(
        self, plan_id: str, after_sequence: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events with a sequence greater than `after_sequence`, in order."""
        ...

    async def unfinished_executions(self) -> list[ExecutionRecord]:
        """Executions whose journal has no terminal event, oldest first."""
        ...

    async def close(self) -> None: ...
