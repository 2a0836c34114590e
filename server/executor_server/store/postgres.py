"""The PostgreSQL store: several replicas share one database (`--db postgresql://…`).

Ownership. Each replica registers under its id and heartbeats (one UPDATE per replica every
`lease_seconds / 4`, never one per execution). An execution is owned by one replica at a
time: `executions.owner` with a fencing `epoch` that grows by one at every change of
owner. The lease of an execution lives as long as its owner's heartbeat is fresh, judged
by the database's clock, so replicas' clocks never matter. Every journal write carries the
epoch the writer holds and lands only if the row still has it, in the same statement, so a
replica that lost its lease (paused, partitioned, slow) can never write for that execution
again: it gets LeaseLost. Idle replicas `claim` unowned or expired work with
`FOR UPDATE SKIP LOCKED`, so two claimers never wait on each other or take the same row.

Writing. As with SQLite, a commit costs more than a row, so one writer task gathers every
append waiting into one statement: the fenced UPDATE of each execution's head, the INSERT
of the events of those that passed, and one NOTIFY per execution with its new last
sequence (a number, never the events: a listener reads what it misses from the table).
Parameters go in binary: psycopg's text form escapes arrays element by element in Python,
four times the CPU per event (bench/pg_drivers.py).

The schema is versioned (`executor_schema`); `open` creates or migrates it under an
advisory lock, and refuses a database written by a newer server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from executor_server.domain.errors import Unavailable
from executor_server.domain.models import ActionPlan, Event
from executor_server.domain.status import EventType, ExecutionStatus, StepStatus
from executor_server.store.codec import (
    decode_event,
    decode_options,
    decode_plan,
    encode_event,
    encode_options,
    encode_plan,
)
from executor_server.store.protocol import (
    Appended,
    CommandAnswered,
    CommandSent,
    DuplicateExecution,
    ExecutionQuery,
    ExecutionRecord,
    ExecutionSummary,
    GatePage,
    Lease,
    LeaseLost,
    Notification,
    OpenGate,
    SentCommand,
    StoreError,
    WorkOffered,
)

__all__ = [
    "CHANNEL",
    "SCHEMA_VERSION",
    "PostgresStore",
    "check_url",
    "is_postgres_url",
    "redact",
]

log = logging.getLogger(__name__)

#: The NOTIFY channel of appends; payload "<plan_id> <last_sequence>".
CHANNEL = "executor_events"
#: Work to claim (an execution queued or handed over); no payload.
WORK_CHANNEL = "executor_work"
#: A command waits for a replica; payload its replica id.
COMMAND_CHANNEL = "executor_commands"
#: A command has its answer; payload the command's id.
ANSWER_CHANNEL = "executor_answers"
#: Serialises schema changes between replicas starting at once.
_MIGRATION_LOCK = 0x45584543  # "EXEC"

# MIGRATIONS[i] takes the schema from version i to i + 1; append, never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE executions (
        plan_id       text PRIMARY KEY,
        plan_name     text NOT NULL,
        create_time   double precision NOT NULL,
        status        smallint NOT NULL,
        end_time      double precision,
        step_count    integer NOT NULL,
        plan          text NOT NULL,
        options       text NOT NULL,
        last_sequence bigint NOT NULL DEFAULT 0,
        owner         text,
        epoch         bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX executions_by_time ON executions (create_time, plan_id);
    CREATE INDEX executions_by_status ON executions (status, create_time);
    CREATE INDEX executions_by_end ON executions (end_time) WHERE end_time IS NOT NULL;
    CREATE INDEX executions_unfinished ON executions (create_time) WHERE end_time IS NULL;
    CREATE TABLE events (
        plan_id  text NOT NULL,
        sequence bigint NOT NULL,
        data     text NOT NULL,
        epoch    bigint NOT NULL,  -- the writer's: the journal shows who wrote what
        PRIMARY KEY (plan_id, sequence)
    );
    CREATE TABLE replicas (
        replica_id    text PRIMARY KEY,
        host          text NOT NULL,
        pid           integer NOT NULL,
        lease_seconds double precision NOT NULL,
        started       timestamptz NOT NULL DEFAULT now(),
        heartbeat     timestamptz NOT NULL DEFAULT now()
    );
    """,
    # Control requests on their way to the replica that owns the execution; a row lives
    # from the request until its sender has read the answer.
    """
    CREATE TABLE commands (
        command_id bigserial PRIMARY KEY,
        plan_id    text NOT NULL,
        target     text NOT NULL,
        operation  text NOT NULL,
        arguments  text NOT NULL,
        taken      boolean NOT NULL DEFAULT false,
        answer     text,
        created    timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX commands_waiting ON commands (target) WHERE NOT taken;
    """,
    # The approvals inbox of every replica: the gates waiting for a decision, kept by the
    # statements that write the events opening and closing them (`gate_changes`). Filled
    # from the journals of unfinished executions when an older database migrates
    # (`_backfill_gates`).
    """
    CREATE TABLE open_gates (
        plan_id  text NOT NULL,
        position integer NOT NULL,  -- the step's, in the plan
        since    double precision NOT NULL,  -- when it began waiting
        PRIMARY KEY (plan_id, position)
    );
    CREATE INDEX open_gates_by_age ON open_gates (since, plan_id, position);
    """,
)
#: The schema version from which `open_gates` exists.
_GATES_SINCE = 3
SCHEMA_VERSION = len(MIGRATIONS)

_TERMINAL = [int(s) for s in ExecutionStatus if s.is_terminal]
_RECORD = "e.plan, e.options, e.create_time, e.status, e.end_time"

# A lease is live while its owner's heartbeat is younger than the owner's own lease length.
_LIVE_OWNER = (
    "EXISTS (SELECT 1 FROM replicas r WHERE r.replica_id = x.owner "
    "AND r.heartbeat >= now() - make_interval(secs => r.lease_seconds))"
)
# Claims test owners against the live replicas as one array, computed once per statement.
# Not a join or an EXISTS (which the planner turns into one): when a concurrent claim has
# just taken a row, PostgreSQL re-checks the row's new version, but with the joined rows of
# the old one, so a row whose old owner was dead still looked free and both claims won.
_LIVE_REPLICAS = (
    "ARRAY(SELECT replica_id FROM replicas "
    "WHERE heartbeat >= now() - make_interval(secs => lease_seconds))"
)

_APPEND = """
WITH head AS (
    SELECT * FROM unnest(%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::smallint[],
                         %b::float8[])
        AS h(plan_id, epoch, first, last, status, end_time)
), moved AS (
    UPDATE executions e SET
        last_sequence = head.last,
        status = COALESCE(head.status, e.status),
        end_time = CASE WHEN head.status IS NULL THEN e.end_time ELSE head.end_time END
    FROM head
    WHERE e.plan_id = head.plan_id AND e.owner = %b AND e.epoch = head.epoch
      AND e.last_sequence = head.first - 1
    RETURNING e.plan_id, e.epoch, head.last
), written AS (
    INSERT INTO events (plan_id, sequence, data, epoch)
    SELECT v.plan_id, v.sequence, v.data, moved.epoch
    FROM unnest(%b::text[], %b::bigint[], %b::text[]) AS v(plan_id, sequence, data)
    JOIN moved USING (plan_id)
),
-- The inbox's projection, in the same statement as the events (`gate_changes`); a close
-- at position -1 closes every gate of the execution. Statements of one WITH see one
-- snapshot, so a gate both closed and opened in a batch is only opened.
opening AS (
    SELECT * FROM unnest(%b::text[], %b::integer[], %b::float8[]) AS o(plan_id, position, since)
), closing AS (
    SELECT * FROM unnest(%b::text[], %b::integer[]) AS c(plan_id, position)
), closed AS (
    DELETE FROM open_gates g USING closing c, moved m
    WHERE g.plan_id = c.plan_id AND m.plan_id = c.plan_id
      AND (c.position < 0 OR g.position = c.position)
      AND NOT EXISTS (
          SELECT 1 FROM opening o WHERE o.plan_id = g.plan_id AND o.position = g.position
      )
), opened AS (
    INSERT INTO open_gates (plan_id, position, since)
    SELECT o.plan_id, o.position, o.since FROM opening o JOIN moved USING (plan_id)
    ON CONFLICT (plan_id, position) DO UPDATE SET since = EXCLUDED.since
)
SELECT moved.plan_id, pg_notify(%b, moved.plan_id || ' ' || moved.last) FROM moved
"""


# A new execution: its row, its first events and the notifications, in one statement; no
# row comes back when the plan id is taken (then nothing is written).
_CREATE = """
WITH created AS (
    INSERT INTO executions (plan_id, plan_name, create_time, status, end_time, step_count,
                            plan, options, owner, epoch, last_sequence)
    VALUES (%b, %b, %b, %b, %b, %b, %b, %b, %b, %b, %b)
    ON CONFLICT (plan_id) DO NOTHING
    RETURNING plan_id
), written AS (
    INSERT INTO events (plan_id, sequence, data, epoch)
    SELECT created.plan_id, v.sequence, v.data, %b
    FROM created, unnest(%b::bigint[], %b::text[]) AS v(sequence, data)
), gates AS (
    INSERT INTO open_gates (plan_id, position, since)
    SELECT created.plan_id, g.position, g.since
    FROM created, unnest(%b::integer[], %b::float8[]) AS g(position, since)
)
SELECT CASE WHEN %b::bigint > 0 THEN pg_notify(%b, created.plan_id || ' ' || %b::bigint) END,
       CASE WHEN %b THEN pg_notify(%b, '') END
FROM created
"""


def is_postgres_url(value: str) -> bool:
    """Whether `--db` names PostgreSQL (anything else is a SQLite path)."""
    return value.startswith(("postgresql://", "postgres://"))


def check_url(url: str) -> None:
    """Raises ValueError, never showing the password, unless `url` is a PostgreSQL URL
    that names a database."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ValueError(f"not a PostgreSQL URL: {redact(url)}") from None
    if not parts.get("dbname"):
        raise ValueError("the URL names no database (postgresql://USER@HOST:PORT/DBNAME)")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://…"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


@dataclass(slots=True)
class GateChanges:
    """What a run of events does to an execution's open gates: `opened` (position: since)
    and `closed` positions; `all_closed` when the execution ended (every gate closes, and
    `opened` holds only what opened after)."""

    opened: dict[int, float] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    all_closed: bool = False


def gated_steps(plan: ActionPlan) -> Mapping[str, int]:
    """The positions of the steps that have an approval gate, by step id."""
    return {s.id: i for i, s in enumerate(plan.steps) if s.approval is not None} or _NO_GATES


_NO_GATES: Mapping[str, int] = {}


def gate_changes(gated: Mapping[str, int], events: Iterable[Event]) -> GateChanges:
    """The open gates as the journal says, folded from typed fields only (the step's
    status and the plan's gates, never a message), as ExecutionState folds them: a gated
    step's WAITING opens its gate; its decision, or any later status of the step, closes
    it; a terminal execution status closes them all."""
    changes = GateChanges()
    for event in events:
        if event.is_terminal:
            changes = GateChanges(all_closed=True)
            continue
        position = gated.get(event.step_id) if event.step_id else None
        if position is None or event.item_index is not None:  # an element's: not the step's
            continue
        if event.type is EventType.STEP_STATUS_CHANGED and event.step_status is StepStatus.WAITING:
            changes.opened[position] = event.time
            changes.closed.discard(position)
        elif event.type in (EventType.APPROVAL_DECIDED, EventType.STEP_STATUS_CHANGED):
            changes.opened.pop(position, None)
            changes.closed.add(position)
    return changes


@dataclass(slots=True)
class _Append:
    plan_id: str
    epoch: int
    first: int
    last: int
    data: list[str]  # the events, encoded by the caller (so a bad one fails only its append)
    latest: Event | None  # the last execution event, for the status projection
    gates: GateChanges  # for the inbox's projection
    future: asyncio.Future[None]


class PostgresStore:
    persistent = True

    def __init__(self, url: str, *, replica_id: str, lease_seconds: float) -> None:
        self.url = url
        self.replica_id = replica_id
        self.lease_seconds = lease_seconds
        self._host = socket.gethostname()
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
            url, min_size=1, max_size=8, open=False, kwargs={"autocommit": True}
        )
        self._held: dict[str, int] = {}
        # The gated steps of each held execution, for the inbox's projection.
        self._gated: dict[str, Mapping[str, int]] = {}
        self._heartbeat_sent = time.monotonic()  # of the last heartbeat that landed
        self._appends: asyncio.Queue[_Append | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, url: str, *, replica_id: str, lease_seconds: float = 10.0) -> PostgresStore:
        """Connect, create or migrate the schema, register this replica and start its
        heartbeat.

        Raises StoreError when the database cannot be reached or used, comes from a newer
        server, or a live replica already has `replica_id`.
        """
        store = cls(url, replica_id=replica_id, lease_seconds=lease_seconds)
        where = redact(url)
        # One plain connection first: it fails at once with the real reason, where the
        # pool would retry quietly until its timeout.
        try:
            connection = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {where}: {exc}") from exc
        try:
            async with connection:
                await store._migrate(connection, where)
                await store._register(connection)
            await store._pool.open(wait=True, timeout=15)
        except PoolTimeout as exc:
            await store._pool.close()
            raise StoreError(f"cannot connect to {where}: {exc}") from exc
        except psycopg.Error as exc:
            await store._pool.close()
            raise StoreError(f"cannot use database {where}: {exc}") from exc
        except BaseException:
            await store._pool.close()
            raise
        store._tasks = [
            asyncio.create_task(store._write_loop(), name="postgres-writer"),
            asyncio.create_task(store._heartbeat_loop(), name="postgres-heartbeat"),
        ]
        return store

    async def _migrate(self, connection: psycopg.AsyncConnection[TupleRow], where: str) -> None:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS executor_schema (version integer NOT NULL)"
            )
            row = await (await connection.execute("SELECT version FROM executor_schema")).fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {where} has schema version {version}; this server knows up to "
                    f"{SCHEMA_VERSION}: upgrade the server"
                )
            for step in MIGRATIONS[version:]:
                await connection.execute(step)
            if version < _GATES_SINCE:
                await _backfill_gates(connection)
            if row is None:
                await connection.execute(
                    "INSERT INTO executor_schema VALUES (%s)", (SCHEMA_VERSION,)
                )
            elif version < SCHEMA_VERSION:
                await connection.execute(
                    "UPDATE executor_schema SET version = %s", (SCHEMA_VERSION,)
                )
            if version < SCHEMA_VERSION:
                log.info(
                    "database schema migrated",
                    extra={"database": where, "from": version, "to": SCHEMA_VERSION},
                )

    async def _register(self, connection: psycopg.AsyncConnection[TupleRow]) -> None:
        """Refuses an id a live replica has: two processes under one id would each think
        they own its executions (a restart of a dead one on this host is fine)."""
        async with connection.transaction():
            cursor = await connection.execute(
                "SELECT host, pid, extract(epoch FROM now() - heartbeat), lease_seconds "
                "FROM replicas WHERE replica_id = %s FOR UPDATE",
                (self.replica_id,),
            )
            row = await cursor.fetchone()
            if row is not None:
                host, pid, age, lease = row[0], int(row[1]), float(row[2]), float(row[3])
                dead_here = host == self._host and not _alive(pid)
                if age < lease and not dead_here:
                    raise StoreError(
                        f"replica id {self.replica_id!r} is in use by a live replica (process "
                        f"{pid} on {host}, heartbeat {age:.1f} s ago): give this server another "
                        "--replica-id, or wait for that lease to expire"
                    )
            self._heartbeat_sent = time.monotonic()
            await connection.execute(
                "INSERT INTO replicas (replica_id, host, pid, lease_seconds) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (replica_id) DO UPDATE SET "
                "host = EXCLUDED.host, pid = EXCLUDED.pid, lease_seconds = "
                "EXCLUDED.lease_seconds, started = now(), heartbeat = now()",
                (self.replica_id, self._host, os.getpid(), self.lease_seconds),
            )

    async def close(self) -> None:
        """Write what is waiting, hand every held execution over (another replica may claim
        it at once, without waiting for the lease to expire) and deregister."""
        if self._tasks:
            writer, heartbeat = self._tasks
            self._appends.put_nowait(None)
            await writer
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._tasks = []
            with contextlib.suppress(psycopg.Error, PoolTimeout):
                await self.release()
                async with self._pool.connection() as connection:
                    await connection.execute(
                        "DELETE FROM replicas WHERE replica_id = %s AND pid = %s",
                        (self.replica_id, os.getpid()),
                    )
        await self._pool.close()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 4)
            try:
                await self.heartbeat()
            except (psycopg.Error, PoolTimeout) as exc:
                # Leases lapse if this goes on; fencing keeps that safe.
                log.warning("heartbeat failed", extra={"error": str(exc)})

    async def heartbeat(self) -> list[str]:
        """Prove this replica alive, and learn which held executions another replica took
        meanwhile (this one was paused or cut off past its lease): they are dropped from
        `held` and returned, so the caller stops running them before it tries to write."""
        sent = time.monotonic()
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "UPDATE replicas SET heartbeat = now() WHERE replica_id = %s AND pid = %s",
                (self.replica_id, os.getpid()),
            )
            if cursor.rowcount == 0:
                log.error(
                    "this replica's registration was taken over; its leases are lost",
                    extra={"replica_id": self.replica_id},
                )
            else:
                self._heartbeat_sent = sent
            if not self._held:
                return []
            held = dict(self._held)
            cursor = await connection.execute(
                # A held execution without a row is one being created (or a finished one
                # deleted): not lost.
                "SELECT h.plan_id FROM unnest(%s::text[], %s::bigint[]) AS h(plan_id, epoch) "
                "JOIN executions e ON e.plan_id = h.plan_id "
                "WHERE e.owner IS DISTINCT FROM %s OR e.epoch <> h.epoch",
                (list(held), list(held.values()), self.replica_id),
            )
            lost = [plan_id for (plan_id,) in await cursor.fetchall()]
        for plan_id in lost:
            if self._held.get(plan_id) == held[plan_id]:
                self.forget([plan_id])
        if lost:
            log.warning("leases lost", extra={"replica_id": self.replica_id, "plan_ids": lost})
        return lost

    # ------------------------------------------------------------------ creating, owning

    async def create_execution(self, record: ExecutionRecord, events: Sequence[Event] = ()) -> None:
        # Held before the row exists: a claim of this replica's meanwhile must not take it.
        self._held[record.plan_id] = 1
        self._gated[record.plan_id] = gated_steps(record.plan)
        try:
            await self._insert(record, owner=self.replica_id, events=events)
        except BaseException:
            if self._held.get(record.plan_id) == 1:
                self.forget([record.plan_id])
            raise

    async def enqueue_execution(
        self, record: ExecutionRecord, events: Sequence[Event] = ()
    ) -> None:
        await self._insert(record, owner=None, events=events)

    async def _insert(
        self, record: ExecutionRecord, owner: str | None, events: Sequence[Event] = ()
    ) -> None:
        """The record and its first events in one statement (so one commit), which also
        tells listeners of the first events and, for a queued one, of work to claim."""
        status, end_time = record.status, record.end_time
        latest = next(
            (e for e in reversed(events) if e.type is EventType.EXECUTION_STATUS_CHANGED), None
        )
        if latest is not None:
            status = latest.status
            end_time = latest.time if latest.status.is_terminal else None
        epoch = 0 if owner is None else 1
        opened = gate_changes(gated_steps(record.plan), events).opened
        row = (
            record.plan_id,
            record.plan.name,
            record.create_time,
            int(status),
            end_time,
            len(record.plan.steps),
            encode_plan(record.plan),
            encode_options(record.options),
            owner,
            epoch,
            len(events),
        )
        if events and events[0].sequence != 1:
            raise ValueError(f"journal of {record.plan_id} starts at 1, got {events[0].sequence}")
        params = (
            *row,
            epoch,
            [e.sequence for e in events],
            [encode_event(e) for e in events],
            list(opened),
            list(opened.values()),
            len(events),
            CHANNEL,
            len(events),
            owner is None,
            WORK_CHANNEL,
        )
        while True:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(_CREATE, params, prepare=True)
                if await cursor.fetchone() is not None:
                    return
            existing = await self.get_execution(record.plan_id)
            if existing is not None:
                raise DuplicateExecution(existing)
            # Deleted between the two statements (a purge): the id is free again.

    async def claim(self, limit: int) -> list[ExecutionRecord]:
        return await self._claim(limit)

    async def unfinished_executions(self) -> list[ExecutionRecord]:
        """The unfinished executions this replica owns, oldest first: those it holds, and
        every one it can claim now (nobody live owns it, or this replica's id held it
        before a restart), each claimed under a new epoch."""
        held = await self._read(
            f"SELECT {_RECORD} FROM executions e WHERE plan_id = ANY(%s::text[]) "
            "AND status <> ALL(%s::smallint[])",
            (list(self._held), _TERMINAL),
        )
        claimed = await self._claim(None)
        records = claimed + [_record(row) for row in held]
        return sorted(records, key=lambda r: (r.create_time, r.plan_id))

    async def acquire(self, plan_id: str) -> ExecutionRecord | None:
        if plan_id in self._held:
            return await self.get_execution(plan_id)
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                f"""
                UPDATE executions e SET owner = %(me)s, epoch = e.epoch + 1
                FROM (
                    SELECT x.plan_id FROM executions x
                    WHERE x.plan_id = %(plan_id)s
                      AND (x.owner IS NULL OR x.owner <> ALL({_LIVE_REPLICAS})
                           OR x.owner = %(me)s)
                    FOR UPDATE OF x SKIP LOCKED
                ) claimed
                WHERE e.plan_id = claimed.plan_id
                RETURNING e.plan_id, e.epoch, {_RECORD}
                """,
                {"me": self.replica_id, "plan_id": plan_id},
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        record = _record(row[2:])
        self._held[plan_id] = int(row[1])
        self._gated[plan_id] = gated_steps(record.plan)
        return record

    async def _claim(self, limit: int | None) -> list[ExecutionRecord]:
        # Rows owned under this replica's id that it does not hold are its own to take
        # back: left by an earlier process under the same id, or dropped by this one.
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                f"""
                UPDATE executions e SET owner = %(me)s, epoch = e.epoch + 1
                FROM (
                    SELECT x.plan_id FROM executions x
                    WHERE x.status <> ALL(%(terminal)s::smallint[])
                      AND (x.owner IS NULL OR x.owner <> ALL({_LIVE_REPLICAS})
                           OR x.owner = %(me)s)
                      AND NOT x.plan_id = ANY(%(held)s::text[])
                    ORDER BY x.create_time, x.plan_id
                    LIMIT %(limit)s
                    FOR UPDATE OF x SKIP LOCKED
                ) claimed
                WHERE e.plan_id = claimed.plan_id
                RETURNING e.plan_id, e.epoch, {_RECORD}
                """,
                {
                    "me": self.replica_id,
                    "terminal": _TERMINAL,
                    "held": list(self._held),
                    "limit": limit,
                },
            )
            rows = await cursor.fetchall()
        rows.sort(key=lambda row: (row[4], row[0]))  # RETURNING has no order
        records = [_record(row[2:]) for row in rows]
        for row, record in zip(rows, records, strict=True):
            self._held[row[0]] = int(row[1])
            self._gated[row[0]] = gated_steps(record.plan)
        if rows:
            log.info(
                "executions claimed",
                extra={"replica_id": self.replica_id, "plan_ids": [row[0] for row in rows]},
            )
        return records

    async def release(self, plan_ids: Sequence[str] | None = None) -> None:
        chosen = list(self._held) if plan_ids is None else [p for p in plan_ids if p in self._held]
        if not chosen:
            return
        epochs = [self._held[p] for p in chosen]
        self.forget(chosen)  # not run here any more, whether or not the release lands
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute(
                "UPDATE executions e SET owner = NULL FROM unnest(%s::text[], %s::bigint[]) "
                "AS h(plan_id, epoch) WHERE e.plan_id = h.plan_id AND e.owner = %s "
                "AND e.epoch = h.epoch",
                (chosen, epochs, self.replica_id),
            )
            await connection.execute("SELECT pg_notify(%s, '')", (WORK_CHANNEL,))

    def forget(self, plan_ids: Sequence[str]) -> None:
        for plan_id in plan_ids:
            self._held.pop(plan_id, None)
            self._gated.pop(plan_id, None)

    @property
    def leases_sure_until(self) -> float:
        return self._heartbeat_sent + self.lease_seconds

    async def lease(self, plan_id: str) -> Lease | None:
        rows = await self._read(
            f"SELECT x.owner, x.epoch, {_LIVE_OWNER} FROM executions x WHERE x.plan_id = %s",
            (plan_id,),
        )
        if not rows:
            return None
        owner, epoch, live = rows[0]
        return Lease(plan_id, owner, int(epoch), bool(live))

    def held(self) -> dict[str, int]:
        return dict(self._held)

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[Notification]]:
        """A connection of its own (LISTEN holds it), closed with the context. If that
        connection breaks, iteration raises psycopg.OperationalError: notifications sent
        meanwhile are lost, so a listener reads the journals it follows again after
        listening anew."""
        connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        try:
            for channel in (CHANNEL, WORK_CHANNEL, COMMAND_CHANNEL, ANSWER_CHANNEL):
                await connection.execute(f"LISTEN {channel}")

            async def notifications() -> AsyncIterator[Notification]:
                async for notify in connection.notifies():
                    if notify.channel == CHANNEL:
                        plan_id, _, last = notify.payload.partition(" ")
                        yield Appended(plan_id, int(last))
                    elif notify.channel == WORK_CHANNEL:
                        yield WorkOffered()
                    elif notify.channel == COMMAND_CHANNEL:
                        yield CommandSent(notify.payload)
                    elif notify.channel == ANSWER_CHANNEL:
                        yield CommandAnswered(int(notify.payload))

            yield notifications()
        finally:
            await connection.close()

    # ------------------------------------------------------------------ commands

    async def send_command(self, plan_id: str, target: str, operation: str, arguments: str) -> int:
        async with self._pool.connection() as connection, connection.transaction():
            cursor = await connection.execute(
                "INSERT INTO commands (plan_id, target, operation, arguments) "
                "VALUES (%s, %s, %s, %s) RETURNING command_id",
                (plan_id, target, operation, arguments),
            )
            row = await cursor.fetchone()
            assert row is not None  # INSERT … RETURNING gives its row
            await connection.execute("SELECT pg_notify(%s, %s)", (COMMAND_CHANNEL, target))
        return int(row[0])

    async def take_commands(self) -> list[SentCommand]:
        # Rows whose sender went away before it read the answer would stay forever.
        await self._read(
            "DELETE FROM commands WHERE created < now() - interval '1 day' RETURNING 1", ()
        )
        rows = await self._read(
            "UPDATE commands SET taken = true WHERE target = %s AND NOT taken "
            "RETURNING command_id, plan_id, operation, arguments",
            (self.replica_id,),
        )
        return [SentCommand(int(i), p, o, a) for i, p, o, a in sorted(rows)]

    async def answer_command(self, command_id: int, answer: str) -> None:
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute(
                "UPDATE commands SET answer = %s WHERE command_id = %s", (answer, command_id)
            )
            await connection.execute("SELECT pg_notify(%s, %s)", (ANSWER_CHANNEL, str(command_id)))

    async def command_answer(self, command_id: int) -> str | None:
        rows = await self._read(
            "DELETE FROM commands WHERE command_id = %s AND answer IS NOT NULL RETURNING answer",
            (command_id,),
        )
        return str(rows[0][0]) if rows else None

    async def withdraw_command(self, command_id: int) -> bool:
        rows = await self._read(
            "DELETE FROM commands WHERE command_id = %s AND NOT taken RETURNING 1", (command_id,)
        )
        return bool(rows)

    # ------------------------------------------------------------------ writing

    async def append_events(self, plan_id: str, events: Sequence[Event]) -> None:
        """Raises LeaseLost when this replica does not hold the execution at the epoch the
        database has, ValueError when the events do not continue its journal."""
        epoch = self._held.get(plan_id)
        if epoch is None:
            lease = await self.lease(plan_id)
            raise LeaseLost(
                plan_id, None, lease.owner if lease else None, lease.epoch if lease else 0
            )
        if not events:
            return
        data = [encode_event(e) for e in events]
        latest = next(
            (e for e in reversed(events) if e.type is EventType.EXECUTION_STATUS_CHANGED), None
        )
        first, last = events[0].sequence, events[-1].sequence
        if last - first + 1 != len(events):
            raise ValueError(f"events for {plan_id} are not consecutive: {first}..{last}")
        gated = self._gated.get(plan_id)
        if gated is None:  # held since before this process knew its plan: read it once
            record = await self.get_execution(plan_id)
            gated = self._gated[plan_id] = gated_steps(record.plan) if record else _NO_GATES
        gates = gate_changes(gated, events) if gated else GateChanges()
        future = asyncio.get_running_loop().create_future()
        self._appends.put_nowait(_Append(plan_id, epoch, first, last, data, latest, gates, future))
        await future

    async def _write_loop(self) -> None:
        carry: _Append | None = None
        while True:
            first = carry or await self._appends.get()
            carry = None
            if first is None:
                return
            batch = {first.plan_id: first}
            stop = False
            while not self._appends.empty():  # everything already waiting joins this commit
                more = self._appends.get_nowait()
                if more is None:
                    stop = True
                    break
                if more.plan_id in batch:  # one append per journal per statement
                    carry = more
                    break
                batch[more.plan_id] = more
            await self._commit(list(batch.values()))
            if stop:
                return

    async def _commit(self, batch: list[_Append]) -> None:
        heads: tuple[list[Any], ...] = ([], [], [], [], [], [])
        rows: tuple[list[Any], ...] = ([], [], [])
        opening: tuple[list[Any], ...] = ([], [], [])
        closing: tuple[list[Any], ...] = ([], [])
        for item in batch:
            gates = item.gates
            for position, since in gates.opened.items():
                opening[0].append(item.plan_id)
                opening[1].append(position)
                opening[2].append(since)
            for position in [-1] if gates.all_closed else gates.closed:
                closing[0].append(item.plan_id)
                closing[1].append(position)
            latest = item.latest
            for column, value in zip(
                heads,
                (
                    item.plan_id,
                    item.epoch,
                    item.first,
                    item.last,
                    None if latest is None else int(latest.status),
                    latest.time if latest is not None and latest.status.is_terminal else None,
                ),
                strict=True,
            ):
                column.append(value)
            rows[0].extend([item.plan_id] * len(item.data))
            rows[1].extend(range(item.first, item.last + 1))
            rows[2].extend(item.data)
        try:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(
                    _APPEND,
                    (*heads, self.replica_id, *rows, *opening, *closing, CHANNEL),
                    prepare=True,
                )
                passed = {row[0] for row in await cursor.fetchall()}
        except Exception as exc:  # the database failed the whole statement
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        refused = [item for item in batch if item.plan_id not in passed]
        reasons = await self._why_refused(refused) if refused else {}
        for item in batch:
            if item.future.done():  # the caller gave up (cancelled); the write happened anyway
                continue
            error = reasons.get(item.plan_id)
            if error is None:
                item.future.set_result(None)
            else:
                item.future.set_exception(error)

    async def _why_refused(self, refused: list[_Append]) -> dict[str, Exception]:
        try:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(
                    "SELECT plan_id, owner, epoch, last_sequence FROM executions "
                    "WHERE plan_id = ANY(%s::text[])",
                    ([item.plan_id for item in refused],),
                )
                found = {row[0]: row[1:] for row in await cursor.fetchall()}
        except Exception as exc:
            return {item.plan_id: exc for item in refused}
        reasons: dict[str, Exception] = {}
        for item in refused:
            row = found.get(item.plan_id)
            if row is None:
                reasons[item.plan_id] = ValueError(f"no execution {item.plan_id} to append to")
                continue
            owner, epoch, last = row
            if owner != self.replica_id or epoch != item.epoch:
                if self._held.get(item.plan_id) == item.epoch:
                    self.forget([item.plan_id])
                reasons[item.plan_id] = LeaseLost(item.plan_id, item.epoch, owner, int(epoch))
            else:
                reasons[item.plan_id] = ValueError(
                    f"journal of {item.plan_id} expects {last + 1}, got {item.first}"
                )
        return reasons

    # ------------------------------------------------------------------ reading

    async def get_execution(self, plan_id: str) -> ExecutionRecord | None:
        rows = await self._read(
            f"SELECT {_RECORD} FROM executions e WHERE plan_id = %s", (plan_id,)
        )
        return _record(rows[0]) if rows else None

    async def read_events(
        self, plan_id: str, after_sequence: int = 0, limit: int | None = None
    ) -> list[Event]:
        rows = await self._read(
            "SELECT sequence, data FROM events WHERE plan_id = %s AND sequence > %s "
            "ORDER BY sequence LIMIT %s",
            (plan_id, after_sequence, limit),
        )
        return [decode_event(plan_id, sequence, data) for sequence, data in rows]

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        where: list[str] = []
        params: list[object] = []
        if query.statuses:
            where.append("status = ANY(%s::smallint[])")
            params.append([int(s) for s in query.statuses])
        if query.created_after is not None:
            where.append("create_time >= %s")
            params.append(query.created_after)
        if query.created_before is not None:
            where.append("create_time < %s")
            params.append(query.created_before)
        if query.plan_name:
            where.append("plan_name = %s")
            params.append(query.plan_name)
        if query.after is not None:
            where.append("(create_time, plan_id) < (%s, %s)")
            params.extend(query.after)
        rows = await self._read(
            "SELECT plan_id, plan_name, status, create_time, end_time, step_count "
            f"FROM executions {'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY create_time DESC, plan_id DESC LIMIT %s",
            (*params, query.limit),
        )
        return [
            ExecutionSummary(plan_id, name, ExecutionStatus(status), created, ended, steps)
            for plan_id, name, status, created, ended, steps in rows
        ]

    async def delete_execution(self, plan_id: str) -> None:
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute("DELETE FROM events WHERE plan_id = %s", (plan_id,))
            await connection.execute("DELETE FROM open_gates WHERE plan_id = %s", (plan_id,))
            await connection.execute("DELETE FROM executions WHERE plan_id = %s", (plan_id,))
        self.forget([plan_id])

    async def finished_before(self, end_time: float, limit: int) -> list[str]:
        rows = await self._read(
            "SELECT plan_id FROM executions WHERE end_time IS NOT NULL AND end_time < %s LIMIT %s",
            (end_time, limit),
        )
        return [plan_id for (plan_id,) in rows]

    async def open_gates(
        self,
        plan_id: str = "",
        after: tuple[float, str, int] | None = None,
        limit: int = 50,
        *,
        journals_except: Collection[str] = (),
    ) -> GatePage:
        where = ["(%(plan_id)s = '' OR plan_id = %(plan_id)s)"]
        if after is not None:
            where.append("(since, plan_id, position) > (%(since)s, %(after_id)s, %(position)s)")
        since, after_id, position = after if after is not None else (0.0, "", 0)
        params = {
            "plan_id": plan_id,
            "since": since,
            "after_id": after_id,
            "position": position,
            "limit": limit + 1,
        }
        try:
            async with self._pool.connection() as connection, connection.transaction():
                # One snapshot for the gates and the journals they are built from.
                await connection.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                )
                cursor = await connection.execute(
                    "SELECT plan_id, position, since FROM open_gates "
                    f"WHERE {' AND '.join(where)} "
                    "ORDER BY since, plan_id, position LIMIT %(limit)s",
                    params,
                )
                found = [OpenGate(p, int(i), float(t)) for p, i, t in await cursor.fetchall()]
                gates, more = found[:limit], len(found) > limit
                wanted = sorted({g.plan_id for g in gates} - set(journals_except))
                journals: dict[str, tuple[ExecutionRecord, list[Event]]] = {}
                if wanted:
                    cursor = await connection.execute(
                        f"SELECT e.plan_id, {_RECORD} FROM executions e "
                        "WHERE e.plan_id = ANY(%s::text[])",
                        (wanted,),
                    )
                    for row in await cursor.fetchall():
                        journals[row[0]] = (_record(row[1:]), [])
                    cursor = await connection.execute(
                        "SELECT plan_id, sequence, data FROM events "
                        "WHERE plan_id = ANY(%s::text[]) ORDER BY plan_id, sequence",
                        (wanted,),
                    )
                    for owner, sequence, data in await cursor.fetchall():
                        journals[owner][1].append(decode_event(owner, sequence, data))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise Unavailable(f"the database is unreachable: {exc}") from exc
        return GatePage(gates, more, journals)

    async def _read(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """Raises Unavailable when the database cannot be reached: the caller may try
        again (a restart or failover of PostgreSQL), unlike for a bug of ours."""
        try:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(sql, params)
                return await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise Unavailable(f"the database is unreachable: {exc}") from exc


def _record(row: Sequence[Any]) -> ExecutionRecord:
    plan, options, create_time, status, end_time = row
    return ExecutionRecord(
        plan=decode_plan(plan),
        options=decode_options(options),
        create_time=create_time,
        status=ExecutionStatus(status),
        end_time=end_time,
    )


async def _backfill_gates(connection: psycopg.AsyncConnection[TupleRow]) -> None:
    """Fill `open_gates` from the journals of the unfinished executions with gates, for a
    database written before the table existed (inside the migration's transaction)."""
    cursor = await connection.execute("SELECT plan_id, plan FROM executions WHERE end_time IS NULL")
    for plan_id, plan in await cursor.fetchall():
        gated = gated_steps(decode_plan(plan))
        if not gated:
            continue
        events = await connection.execute(
            "SELECT sequence, data FROM events WHERE plan_id = %s ORDER BY sequence", (plan_id,)
        )
        journal = [decode_event(plan_id, seq, data) for seq, data in await events.fetchall()]
        opened = gate_changes(gated, journal).opened
        for position, since in opened.items():
            await connection.execute(
                "INSERT INTO open_gates (plan_id, position, since) VALUES (%s, %s, %s)",
                (plan_id, position, since),
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
