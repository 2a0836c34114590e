"""The PostgreSQL store beyond the common contract: its schema version, and the ownership
primitives replicas build on — heartbeats, leases with a fencing epoch, claims with
SKIP LOCKED, and NOTIFY of appends — with two store instances as two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from tests.test_store_contract import event, record

from executor_server.domain.status import EventType, ExecutionStatus
from executor_server.store.postgres import SCHEMA_VERSION, PostgresStore
from executor_server.store.protocol import (
    Appended,
    LeaseLost,
    SharedStore,
    StoreError,
    WorkOffered,
)

PLAN_ID = "00000000-0000-4000-8000-000000000001"
LONG_LEASE = 60.0  # longer than any test: only the test ages a heartbeat


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    a = await PostgresStore.open(pg_url, replica_id="a", lease_seconds=LONG_LEASE)
    b = await PostgresStore.open(pg_url, replica_id="b", lease_seconds=LONG_LEASE)
    _: tuple[SharedStore, SharedStore] = (a, b)  # mypy: the protocol the engine will use
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _sql(url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute(query, params)
        return await cursor.fetchall() if cursor.description else []


async def _as_if_paused(url: str, replica_id: str) -> None:
    """As if the replica stopped heartbeating an hour ago (SIGSTOP, a partition)."""
    await _sql(
        url,
        "UPDATE replicas SET heartbeat = now() - interval '1 hour' WHERE replica_id = %s",
        replica_id,
    )


async def _journal(url: str, plan_id: str) -> list[tuple[int, int]]:
    """(sequence, epoch of its writer) of every stored event."""
    rows = await _sql(
        url, "SELECT sequence, epoch FROM events WHERE plan_id = %s ORDER BY sequence", plan_id
    )
    return [(int(s), int(e)) for s, e in rows]  # type: ignore[call-overload]


# ------------------------------------------------------------------ schema


async def test_a_new_database_gets_the_schema_and_a_second_open_keeps_it(pg_url: str) -> None:
    first = await PostgresStore.open(pg_url, replica_id="one")
    await first.create_execution(record())
    await first.close()
    second = await PostgresStore.open(pg_url, replica_id="one")
    try:
        assert await second.get_execution(PLAN_ID) is not None
    finally:
        await second.close()
    assert await _sql(pg_url, "SELECT version FROM executor_schema") == [(SCHEMA_VERSION,)]


async def test_a_database_from_a_newer_server_is_refused_and_left_alone(pg_url: str) -> None:
    store = await PostgresStore.open(pg_url, replica_id="two")
    await store.close()
    await _sql(pg_url, "UPDATE executor_schema SET version = %s", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open(pg_url, replica_id="three")
    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "upgrade the server" in message
    assert pg_url.rsplit("/", 1)[1] in message
    assert await _sql(pg_url, "SELECT version FROM executor_schema") == [(SCHEMA_VERSION + 1,)]


async def test_an_unreachable_database_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to postgresql://u@127\.0\.0\.1:1/d") as e:
        await PostgresStore.open("postgresql://u:hunter2@127.0.0.1:1/d", replica_id="x")
    assert "hunter2" not in str(e.value)


# ------------------------------------------------------------------ ownership


async def test_a_live_replica_id_cannot_be_taken_twice(pg_url: str) -> None:
    first = await PostgresStore.open(pg_url, replica_id="same", lease_seconds=LONG_LEASE)
    try:
        # This process is alive, so even on this host the id is in use.
        with pytest.raises(StoreError, match="replica id 'same' is in use by a live replica"):
            await PostgresStore.open(pg_url, replica_id="same")
    finally:
        await first.close()
    again = await PostgresStore.open(pg_url, replica_id="same")  # free once closed
    await again.close()


async def test_a_replica_that_lost_its_lease_can_never_write_again(
    pg_url: str, replicas: tuple[PostgresStore, PostgresStore]
) -> None:
    a, b = replicas
    await a.create_execution(record())
    await a.append_events(PLAN_ID, [event(1), event(2)])
    assert await b.claim(10) == []  # a is alive: nothing to take
    assert (await b.lease(PLAN_ID)) == (await a.lease(PLAN_ID))
    lease = await a.lease(PLAN_ID)
    assert lease is not None and (lease.owner, lease.epoch, lease.live) == ("a", 1, True)

    await _as_if_paused(pg_url, "a")
    claimed = await b.claim(10)
    assert [r.plan_id for r in claimed] == [PLAN_ID]
    assert b.held() == {PLAN_ID: 2} and a.held() == {PLAN_ID: 1}  # a does not know yet
    await b.append_events(PLAN_ID, [event(3)])

    # a wakes up and writes what it had pending: refused as a whole, nothing lands.
    with pytest.raises(LeaseLost) as caught:
        await a.append_events(PLAN_ID, [event(3), event(4)])
    assert (caught.value.owner, caught.value.epoch, caught.value.current) == ("b", 1, 2)
    assert a.held() == {}
    assert await a.heartbeat() == []  # a heartbeat does not give the execution back
    with pytest.raises(LeaseLost):
        await a.append_events(PLAN_ID, [event(4)])
    await b.append_events(PLAN_ID, [event(4)])

    assert await _journal(pg_url, PLAN_ID) == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert [e.sequence for e in await a.read_events(PLAN_ID)] == [1, 2, 3, 4]


async def test_a_replica_back_from_a_pause_learns_what_it_lost_at_its_next_heartbeat(
    pg_url: str, replicas: tuple[PostgresStore, PostgresStore]
) -> None:
    a, b = replicas
    kept, lost = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    await a.create_execution(record(kept, create_time=2.0))
    await a.create_execution(record(lost, create_time=1.0))
    await _as_if_paused(pg_url, "a")
    assert [r.plan_id for r in await b.claim(1)] == [lost]  # the older one
    assert await a.heartbeat() == [lost]  # before a writes anything
    assert a.held() == {kept: 1}
    assert await b.claim(10) == []  # the heartbeat made a live again: kept stays a's
    await a.append_events(kept, [event(1, plan_id=kept)])


async def test_a_fenced_append_does_not_hold_back_the_others_in_its_commit(
    pg_url: str, replicas: tuple[PostgresStore, PostgresStore]
) -> None:
    a, b = replicas
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 6)]
    for plan_id in ids:
        await a.create_execution(record(plan_id))
    await _as_if_paused(pg_url, "a")
    taken = [r.plan_id for r in await b.claim(2)]
    assert taken == ids[:2]  # oldest first, up to the limit

    async def write(plan_id: str) -> str:
        try:
            await a.append_events(plan_id, [event(1, plan_id=plan_id)])
        except LeaseLost:
            return "refused"
        return "written"

    outcomes = await asyncio.gather(*(write(p) for p in ids))  # one group commit
    assert outcomes == ["refused", "refused", "written", "written", "written"]
    for plan_id in ids:
        assert len(await _journal(pg_url, plan_id)) == (0 if plan_id in taken else 1)


async def test_concurrent_claims_take_each_execution_once(
    pg_url: str, replicas: tuple[PostgresStore, PostgresStore]
) -> None:
    a, b = replicas
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 61)]
    for plan_id in ids:
        await a.enqueue_execution(record(plan_id, create_time=float(len(ids) - int(plan_id[-3:]))))
    lease = await a.lease(ids[0])
    assert lease is not None and (lease.owner, lease.epoch, lease.live) == (None, 0, False)

    async def claim_all(store: PostgresStore) -> list[str]:
        mine: list[str] = []
        while batch := await store.claim(3):
            mine += [r.plan_id for r in batch]
        return mine

    got_a, got_b = await asyncio.gather(claim_all(a), claim_all(b))
    assert sorted(got_a + got_b) == sorted(ids)
    assert not set(got_a) & set(got_b)
    assert set(a.held()) == set(got_a) and set(b.held()) == set(got_b)
    assert set(a.held().values()) | set(b.held().values()) == {1}


async def test_closing_hands_executions_over_at_once(
    pg_url: str, replicas: tuple[PostgresStore, PostgresStore]
) -> None:
    _, b = replicas
    leaving = await PostgresStore.open(pg_url, replica_id="leaving", lease_seconds=LONG_LEASE)
    await leaving.create_execution(record())
    await leaving.append_events(PLAN_ID, [event(1)])
    await leaving.close()  # as on SIGTERM: no lease to wait out
    assert [r.plan_id for r in await b.claim(10)] == [PLAN_ID]
    await b.append_events(PLAN_ID, [event(2)])
    assert await _journal(pg_url, PLAN_ID) == [(1, 1), (2, 2)]
    assert await _sql(pg_url, "SELECT replica_id FROM replicas ORDER BY 1") == [("a",), ("b",)]


async def test_a_restarted_replica_takes_its_own_executions_back(pg_url: str) -> None:
    crashed = await PostgresStore.open(pg_url, replica_id="r", lease_seconds=LONG_LEASE)
    await crashed.create_execution(record())
    await crashed.append_events(PLAN_ID, [event(1)])
    # A crash: nothing is handed over, the lease is still fresh; the same id restarts on
    # this host once the old process is gone (here: as if its pid were dead).
    await _sql(pg_url, "UPDATE replicas SET pid = 2147483646 WHERE replica_id = 'r'")
    restarted = await PostgresStore.open(pg_url, replica_id="r", lease_seconds=LONG_LEASE)
    try:
        assert [r.plan_id for r in await restarted.unfinished_executions()] == [PLAN_ID]
        assert restarted.held() == {PLAN_ID: 2}
        await restarted.append_events(PLAN_ID, [event(2)])
        with pytest.raises(LeaseLost):  # the old incarnation is fenced
            await crashed.append_events(PLAN_ID, [event(3)])
    finally:
        await restarted.close()
        await crashed.close()


async def test_finished_executions_are_never_claimed(
    pg_url: str, replicas: tuple[PostgresStore, PostgresStore]
) -> None:
    a, b = replicas
    await a.create_execution(record())
    done = event(1, type=EventType.EXECUTION_STATUS_CHANGED, status=ExecutionStatus.COMPLETED)
    await a.append_events(PLAN_ID, [done])
    await _as_if_paused(pg_url, "a")
    assert await b.claim(10) == []
    assert await b.unfinished_executions() == []


async def test_listeners_hear_every_append_as_a_sequence_number(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = replicas
    other = "00000000-0000-4000-8000-000000000002"
    created = "00000000-0000-4000-8000-000000000003"
    async with b.listen() as heard:
        await a.create_execution(record())
        await a.create_execution(record(other))
        await a.create_execution(record(created), [event(1, plan_id=created)])
        await a.enqueue_execution(record("00000000-0000-4000-8000-000000000004"))
        await a.append_events(PLAN_ID, [event(1), event(2)])
        await asyncio.gather(
            a.append_events(PLAN_ID, [event(3)]),
            a.append_events(other, [event(1, plan_id=other)]),
        )
        got: list[Appended] = []
        offered: list[WorkOffered] = []
        async with asyncio.timeout(10):
            async for notice in heard:
                if isinstance(notice, WorkOffered):
                    offered.append(notice)
                    continue
                assert isinstance(notice, Appended)
                got.append(notice)
                # Sent in the append's commit: what it announces is readable at once.
                stored = await b.read_events(notice.plan_id, notice.last_sequence - 1, 1)
                assert [e.sequence for e in stored] == [notice.last_sequence]
                if len(got) == 4:
                    break
    # A new execution's first events are announced too (not an empty journal's), and a
    # queued execution offers work to every replica.
    assert got[:2] == [Appended(created, 1), Appended(PLAN_ID, 2)]
    assert sorted(got[2:], key=lambda n: n.plan_id) == [Appended(PLAN_ID, 3), Appended(other, 1)]
    assert offered == [WorkOffered()]
