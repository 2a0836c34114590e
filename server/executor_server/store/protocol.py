"""What the engine needs from persistence: execution records and their event journal.

The journal is the source of truth: an execution's state is the fold of its events
(engine/state.py), so a store only appends and reads them back. `ExecutionRecord.status` is
the store's own projection of the latest execution event, kept for listing and recovery.
Implementations: `memory` (tests, embedding), `sqlite` (the embedded default, one server per
file) and `postgres` (several replicas on one database: `SharedStore` adds ownership).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from executor_server.domain.models import ActionPlan, Event, ExecutionOptions
from executor_server.domain.status import ExecutionStatus


@dataclass(slots=True)
class ExecutionRecord:
    plan: ActionPlan
    options: ExecutionOptions
    create_time: float
    status: ExecutionStatus = ExecutionStatus.PENDING
    #: Time of the latest terminal event; None while unfinished.
    end_time: float | None = None

    @property
    def plan_id(self) -> str:
        return self.plan.id

    def submitted_as(self, plan: ActionPlan, options: ExecutionOptions) -> bool:
        """Whether a new submission is this one again (it then attaches to it)."""
        return self.plan == plan and self.options == options


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """What listing shows of an execution, without loading its plan."""

    plan_id: str
    plan_name: str
    status: ExecutionStatus
    create_time: float
    end_time: float | None
    total_steps: int


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    """A filter over executions and one page of it, newest first.

    `after` is the (create_time, plan_id) of the last execution of the previous page.
    """

    statuses: frozenset[ExecutionStatus] = frozenset()
    created_after: float | None = None
    created_before: float | None = None
    plan_name: str = ""
    after: tuple[float, str] | None = None
    limit: int = 50

    def matches(self, summary: ExecutionSummary) -> bool:
        """The query's filter and position, for stores that filter in Python."""
        if self.statuses and summary.status not in self.statuses:
            return False
        if self.created_after is not None and summary.create_time < self.created_after:
            return False
        if self.created_before is not None and summary.create_time >= self.created_before:
            return False
        if self.plan_name and summary.plan_name != self.plan_name:
            return False
        return self.after is None or (summary.create_time, summary.plan_id) < self.after


class StoreError(Exception):
    """The database cannot be used: corrupt, unwritable, from a newer version, or owned by
    another server."""


class DuplicateExecution(Exception):
    """`create_execution` found the plan id taken; `existing` is the record holding it."""

    def __init__(self, existing: ExecutionRecord) -> None:
        super().__init__(existing.plan_id)
        self.existing = existing


class LeaseLost(Exception):
    """A write for an execution this replica does not own (any more): another replica holds
    it under a higher fencing epoch, or nobody does. Nothing of the write was stored."""

    def __init__(self, plan_id: str, epoch: int | None, owner: str | None, current: int) -> None:
        held = f"epoch {epoch}" if epoch is not None else "no lease"
        super().__init__(
            f"execution {plan_id}: this replica holds {held}, but "
            + (
                f"{owner} owns it at epoch {current}"
                if owner
                else f"nobody owns it (epoch {current})"
            )
        )
        self.plan_id = plan_id
        self.epoch = epoch
        self.owner = owner
        self.current = current


@dataclass(frozen=True, slots=True)
class Lease:
    """Who owns an execution: `owner` writes for it while `live` (its heartbeat is fresh);
    each new owner gets a higher `epoch`, which fences every write of the previous one."""

    plan_id: str
    owner: str | None
    epoch: int
    live: bool


@dataclass(frozen=True, slots=True)
class Appended:
    """A notification that `plan_id`'s journal now ends at `last_sequence`."""

    plan_id: str
    last_sequence: int


@dataclass(frozen=True, slots=True)
class WorkOffered:
    """A notification that there is work to claim: an execution was queued, or handed over
    by a replica that is leaving."""


@dataclass(frozen=True, slots=True)
class CommandSent:
    """A notification that a command waits for replica `target` (`take_commands`)."""

    target: str


@dataclass(frozen=True, slots=True)
class CommandAnswered:
    """A notification that command `command_id` has its answer (`command_answer`)."""

    command_id: int


Notification = Appended | WorkOffered | CommandSent | CommandAnswered


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A control request that travelled to the replica owning the execution: `operation`
    and `arguments` (JSON text) as the sender gave them."""

    command_id: int
    plan_id: str
    operation: str
    arguments: str


class Store(Protocol):
    #: Whether what is written survives the process. The engine waits for a write to
    #: land before it acts on it only when it does.
    persistent: bool

    async def create_execution(self, record: ExecutionRecord, events: Sequence[Event] = ()) -> None:
        """Persist a new execution and its first events (from sequence 1) atomically.

        Raises DuplicateExecution if the plan id exists (and then stores nothing).
        """
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

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        """Up to `query.limit` executions matching it, newest first (then by plan id)."""
        ...

    async def delete_execution(self, plan_id: str) -> None:
        """Forget an execution and its journal (no error if it is unknown)."""
        ...

    async def finished_before(self, end_time: float, limit: int) -> list[str]:
        """Plan ids of up to `limit` terminal executions that ended before `end_time`."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class SharedStore(Store, Protocol):
    """A store several replicas share. Each replica has an id and a heartbeat; each
    execution is owned by at most one replica through a lease with a fencing epoch, and
    `append_events` writes only under the epoch this replica holds, checked in the same
    transaction (else LeaseLost). `create_execution` makes this replica the owner.

    `held()` is what this replica runs: a replica holds an execution from the moment it
    creates or claims it until it releases or forgets it (or learns it lost it)."""

    replica_id: str
    lease_seconds: float

    async def enqueue_execution(
        self, record: ExecutionRecord, events: Sequence[Event] = ()
    ) -> None:
        """Persist a new execution (and its first events) owned by nobody yet, for any
        replica to `claim`; replicas hear WorkOffered. Raises DuplicateExecution if the
        plan id exists."""
        ...

    async def claim(self, limit: int) -> list[ExecutionRecord]:
        """Take over up to `limit` unfinished executions that nobody live owns (unowned,
        their owner's heartbeat expired, or owned by this replica's id but not held: a
        restart, or one it dropped), oldest first, skipping rows other replicas are
        claiming, each under a new epoch. The caller replays their journals and continues
        them."""
        ...

    async def acquire(self, plan_id: str) -> ExecutionRecord | None:
        """Claim this one execution, whatever its status (a finished one is revived to be
        rolled back), unless a live replica holds it; None then, or if it is unknown."""
        ...

    async def release(self, plan_ids: Sequence[str] | None = None) -> None:
        """Give up these leases (None: all held), so another replica may claim at once;
        replicas hear WorkOffered."""
        ...

    def forget(self, plan_ids: Sequence[str]) -> None:
        """Stop holding these without touching the database (they are not run here any
        more; `claim` may take them back)."""
        ...

    async def lease(self, plan_id: str) -> Lease | None:
        """The current owner of an execution (None if the execution is unknown)."""
        ...

    def held(self) -> dict[str, int]:
        """The executions this replica holds, with their epochs."""
        ...

    @property
    def leases_sure_until(self) -> float:
        """Until when (time.monotonic) this replica's leases are surely its own: a lease
        after the last heartbeat that landed, counted from when it was sent."""
        ...

    async def heartbeat(self) -> list[str]:
        """Prove this replica alive (the store also does it every lease/4 by itself);
        returns the held executions another replica took meanwhile, no longer held."""
        ...

    def listen(self) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Notification]]:
        """Notifications from every replica, from now on, while the context is open. They
        carry numbers and names, never events or answers: read those from the store.
        Iteration raises when the connection breaks; what was sent meanwhile is lost."""
        ...

    # Control requests for an execution that another replica runs travel through the
    # database: a row for the owner, a notification, the owner's answer in the row.

    async def send_command(self, plan_id: str, target: str, operation: str, arguments: str) -> int:
        """Queue a command for replica `target`; it hears CommandSent. Returns its id."""
        ...

    async def take_commands(self) -> list[SentCommand]:
        """The commands waiting for this replica, each taken once."""
        ...

    async def answer_command(self, command_id: int, answer: str) -> None:
        """Record the answer (JSON text); the sender hears CommandAnswered."""
        ...

    async def command_answer(self, command_id: int) -> str | None:
        """The answer, once there is one (it is then deleted)."""
        ...

    async def withdraw_command(self, command_id: int) -> bool:
        """Delete a command nobody has taken yet; False when its target took it."""
        ...
