"""The embedded default store: SQLite in WAL mode, written through one group-committing thread.

A commit costs far more than a row (tens of microseconds at synchronous=NORMAL, over a
hundred at FULL), so every write waiting when the writer thread wakes goes into one
transaction, and each caller's future resolves once that transaction is on disk. Reads run
on worker threads with a connection each; WAL lets them proceed while the writer writes.
The event loop never touches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from executor_server.domain.models import Event
from executor_server.domain.status import EventType, ExecutionStatus
from executor_server.store.codec import (
    decode_event,
    decode_options,
    decode_plan,
    encode_event,
    encode_options,
    encode_plan,
)
from executor_server.store.protocol import (
    DuplicateExecution,
    ExecutionQuery,
    ExecutionRecord,
    ExecutionSummary,
    StoreError,
)

__all__ = ["OwnerLock", "SQLiteStore", "StoreError"]

SCHEMA_VERSION = 1
_TERMINAL = tuple(int(s) for s in ExecutionStatus if s.is_terminal)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    plan_id     TEXT PRIMARY KEY,
    plan_name   TEXT NOT NULL,
    create_time REAL NOT NULL,
    status      INTEGER NOT NULL,
    end_time    REAL,
    step_count  INTEGER NOT NULL,
    plan        TEXT NOT NULL,
    options     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_time ON executions (create_time, plan_id);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, create_time);
CREATE INDEX IF NOT EXISTS executions_by_end ON executions (end_time) WHERE end_time IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    plan_id  TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    data     TEXT NOT NULL,
    PRIMARY KEY (plan_id, sequence)
) WITHOUT ROWID;
"""

Write = Callable[[sqlite3.Connection], None]


class OwnerLock:
    """One server per database file: an exclusive `flock` on `<db>.lock`, held while the
    store is open and released by the kernel when the process dies, however it dies.

    The file holds the owner's pid, so a second server can say who is in the way. The lock
    file itself is never deleted: removing it would let two servers lock two different
    files of the same name.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self._fd: int | None = None

    def acquire(self) -> None:
        """Raises StoreError naming the database and the process holding it, OSError when
        the lock file cannot be made."""
        real = self.database.resolve()  # a symlink to the database takes the same lock
        path = real.with_name(real.name + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise StoreError(
                f"database {self.database} is in use by another server ({who}, lock "
                f"{path}): stop it, or give this server its own --db"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class SQLiteStore:
    persistent = True

    def __init__(self, path: Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        self.path = path
        self._synchronous = synchronous
        self._writes: queue.SimpleQueue[tuple[Write, asyncio.Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._writer: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._owner = OwnerLock(path)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls, path: Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL"
    ) -> SQLiteStore:
        """Open (creating if needed) and check the database. Raises StoreError.

        FULL syncs every commit to disk, so a transition survives even a power loss; NORMAL
        (WAL) survives a crash of the process, not of the machine, at a fraction of the cost.
        """
        store = cls(path, synchronous=synchronous)
        try:
            connection = await asyncio.to_thread(store._connect_writer)
        except BaseException:
            store._owner.release()
            raise
        store._writer = threading.Thread(
            target=store._write_loop, args=(connection,), name="sqlite-writer", daemon=True
        )
        store._writer.start()
        return store

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout = 5000")
        connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        return connection

    def _connect_writer(self) -> sqlite3.Connection:
        where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._owner.acquire()  # before anything reads or writes the file
            connection = self._connect()
            connection.execute("PRAGMA journal_mode = WAL")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {where} has schema version {version}; this server knows up to "
                    f"{SCHEMA_VERSION}: upgrade the server"
                )
            check = connection.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(f"database {where} is corrupt: {check}")
            with connection:
                connection.execute("BEGIN IMMEDIATE")  # proves we can write
                connection.executescript(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use database {where}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot create database {where}: {exc}") from exc
        return connection

    async def close(self) -> None:
        if self._writer is not None:
            self._writes.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        self._owner.release()

    # ------------------------------------------------------------------ writing

    def _write_loop(self, connection: sqlite3.Connection) -> None:
        try:
            while True:
                item = self._writes.get()
                if item is None:
                    return
                batch = [item]
                while True:  # everything already waiting joins this commit
                    try:
                        more = self._writes.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._commit(connection, batch)
                        return
                    batch.append(more)
                self._commit(connection, batch)
        finally:
            connection.close()

    def _commit(
        self, connection: sqlite3.Connection, batch: list[tuple[Write, asyncio.Future[None]]]
    ) -> None:
        try:
            connection.execute("BEGIN")
            for write, _ in batch:
                write(connection)
            connection.execute("COMMIT")
        except Exception:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            # One bad write must not fail its neighbours: retry them one by one.
            outcomes: list[tuple[asyncio.Future[None], BaseException | None]] = []
            for write, future in batch:
                try:
                    connection.execute("BEGIN")
                    write(connection)
                    connection.execute("COMMIT")
                except Exception as exc:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    outcomes.append((future, exc))
                else:
                    outcomes.append((future, None))
            _settle(outcomes)
            return
        _settle([(future, None) for _, future in batch])

    async def _write(self, write: Write) -> None:
        future = asyncio.get_running_loop().create_future()
        self._writes.put((write, future))
        await future

    # ------------------------------------------------------------------ Store protocol

    async def create_execution(self, record: ExecutionRecord, events: Sequence[Event] = ()) -> None:
        plan, options = encode_plan(record.plan), encode_options(record.options)
        rows = [(record.plan_id, e.sequence, encode_event(e)) for e in events]
        status, end_time = record.status, record.end_time
        latest = _latest_status(events)
        if latest is not None:
            status = latest.status
            end_time = latest.time if latest.status.is_terminal else None

        def insert(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO executions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.plan_id,
                    record.plan.name,
                    record.create_time,
                    int(status),
                    end_time,
                    len(record.plan.steps),
                    plan,
                    options,
                ),
            )
            if rows:
                if rows[0][1] != 1:
                    raise ValueError(f"journal of {record.plan_id} starts at 1, got {rows[0][1]}")
                connection.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)

        try:
            await self._write(insert)
        except sqlite3.IntegrityError:
            existing = await self.get_execution(record.plan_id)
            if existing is None:
                raise
            raise DuplicateExecution(existing) from None

    async def append_events(self, plan_id: str, events: Sequence[Event]) -> None:
        rows = [(plan_id, e.sequence, encode_event(e)) for e in events]
        latest = _latest_status(events)

        def insert(connection: sqlite3.Connection) -> None:
            last = connection.execute(
                "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE plan_id = ?", (plan_id,)
            ).fetchone()[0]
            if rows[0][1] != last + 1:
                raise ValueError(f"journal of {plan_id} expects {last + 1}, got {rows[0][1]}")
            connection.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
            if latest is not None:
                end_time = latest.time if latest.status.is_terminal else None
                connection.execute(
                    "UPDATE executions SET status = ?, end_time = ? WHERE plan_id = ?",
                    (int(latest.status), end_time, plan_id),
                )

        await self._write(insert)

    async def get_execution(self, plan_id: str) -> ExecutionRecord | None:
        records = await self._read_records(
            f"SELECT {_RECORD} FROM executions WHERE plan_id = ?", (plan_id,)
        )
        return records[0] if records else None

    async def read_events(
        self, plan_id: str, after_sequence: int = 0, limit: int | None = None
    ) -> list[Event]:
        rows = await self._read(
            "SELECT sequence, data FROM events WHERE plan_id = ? AND sequence > ? "
            "ORDER BY sequence LIMIT ?",
            (plan_id, after_sequence, -1 if limit is None else limit),
        )
        return [decode_event(plan_id, sequence, data) for sequence, data in rows]

    async def unfinished_executions(self) -> list[ExecutionRecord]:
        marks = ",".join("?" * len(_TERMINAL))
        return await self._read_records(
            f"SELECT {_RECORD} FROM executions WHERE status NOT IN ({marks}) ORDER BY create_time",
            _TERMINAL,
        )

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        where: list[str] = []
        params: list[object] = []
        if query.statuses:
            where.append(f"status IN ({','.join('?' * len(query.statuses))})")
            params.extend(int(s) for s in query.statuses)
        if query.created_after is not None:
            where.append("create_time >= ?")
            params.append(query.created_after)
        if query.created_before is not None:
            where.append("create_time < ?")
            params.append(query.created_before)
        if query.plan_name:
            where.append("plan_name = ?")
            params.append(query.plan_name)
        if query.after is not None:
            where.append("(create_time, plan_id) < (?, ?)")
            params.extend(query.after)
        rows = await self._read(
            "SELECT plan_id, plan_name, status, create_time, end_time, step_count "
            f"FROM executions {'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY create_time DESC, plan_id DESC LIMIT ?",
            (*params, query.limit),
        )
        return [
            ExecutionSummary(plan_id, name, ExecutionStatus(status), created, ended, steps)
            for plan_id, name, status, created, ended, steps in rows
        ]

    async def delete_execution(self, plan_id: str) -> None:
        def delete(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM events WHERE plan_id = ?", (plan_id,))
            connection.execute("DELETE FROM executions WHERE plan_id = ?", (plan_id,))

        await self._write(delete)

    async def finished_before(self, end_time: float, limit: int) -> list[str]:
        rows = await self._read(
            "SELECT plan_id FROM executions WHERE end_time IS NOT NULL AND end_time < ? LIMIT ?",
            (end_time, limit),
        )
        return [plan_id for (plan_id,) in rows]

    # ------------------------------------------------------------------ reading

    async def _read(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._read_sync, sql, params)

    async def _read_records(self, sql: str, params: Sequence[object]) -> list[ExecutionRecord]:
        """Records, decoded on the reading thread: a plan of many steps is not decoded on
        the event loop."""

        def read() -> list[ExecutionRecord]:
            return [_record(row) for row in self._read_sync(sql, params)]

        return await asyncio.to_thread(read)

    def _read_sync(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._readers_lock:
                self._readers.append(connection)
        return connection.execute(sql, params).fetchall()


_RECORD = "plan, options, create_time, status, end_time"


def _record(row: tuple[Any, ...]) -> ExecutionRecord:
    plan, options, create_time, status, end_time = row
    return ExecutionRecord(
        plan=decode_plan(plan),
        options=decode_options(options),
        create_time=create_time,
        status=ExecutionStatus(status),
        end_time=end_time,
    )


def _latest_status(events: Sequence[Event]) -> Event | None:
    return next((e for e in reversed(events) if e.type is EventType.EXECUTION_STATUS_CHANGED), None)


def _settle(outcomes: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    """Resolve callers' futures from the writer thread: one hop per loop, not per write."""
    by_loop: dict[
        asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]
    ] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
    for loop, group in by_loop.items():
        loop.call_soon_threadsafe(_resolve, group)


def _resolve(outcomes: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, error in outcomes:
        if future.done():  # the caller gave up (cancelled); the write happened anyway
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
