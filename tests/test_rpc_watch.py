"""WatchExecution: numbering, batching, replay, resumption, concurrent watchers."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from tests.support.events import (
    assert_gap_free,
    assert_well_formed,
    both_stores,
    collect,
    collect_batches,
    raw_watch,
    statuses,
)
from tests.support.tools import Gate

from executor_client import (
    AsyncExecutorClient,
    executor_pb2,
    plan,
    retry_policy,
    status_name,
    step,
)

pb = executor_pb2


def _busy_plan(width: int = 30) -> pb.ActionPlan:
    roots = [step("echo", {"i": i}, name=f"s{i}") for i in range(width)]
    sink = step("echo", {}, name="sink", depends_on=roots)
    return plan(*roots, sink)


@both_stores
async def test_events_are_numbered_from_one_and_the_stream_ends_after_the_terminal_one(
    client: AsyncExecutorClient, port: int
) -> None:
    flaky = step(
        "fail", {"succeed_on_attempt": 2}, name="flaky", retry=retry_policy(2, initial_backoff=0.01)
    )
    p = plan(step("echo", {}, name="a"), flaky)
    await client.execute_plan(p)

    # Raw, as the server sends it (the client would hide duplicates).
    batches = await raw_watch(port, p.id)
    events = [e for batch in batches for e in batch]
    assert_well_formed(events)
    assert statuses(events) == ["PENDING", "RUNNING", "COMPLETED"]
    assert all(e.plan_id == p.id for e in events)
    assert all(e.HasField("event_time") for e in events)
    times = [e.event_time.ToNanoseconds() for e in events]
    assert times == sorted(times)
    status = await client.get_execution_status(p.id)
    assert status.last_sequence == len(events)


@both_stores
async def test_a_busy_plan_sends_many_events_per_message(
    client: AsyncExecutorClient, port: int, gate: Gate
) -> None:
    # Hold the plan at its start so the live watcher is attached before the burst.
    hold = step("gate", {"key": "go"}, name="hold")
    roots = [step("echo", {"i": i}, name=f"s{i}", depends_on=[hold]) for i in range(30)]
    p = plan(hold, *roots)
    await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=30), detach=True)
    await gate.started("go")

    live = asyncio.create_task(raw_watch(port, p.id))
    gate.open("go")
    batches = await live
    events = [e for b in batches for e in b]
    assert_well_formed(events)
    assert max(len(b) for b in batches) > 1
    assert len(batches) < len(events)

    # Replaying the finished execution needs far fewer messages than events, too.
    replay = await collect_batches(client, p.id)
    assert [e.sequence for b in replay for e in b] == [e.sequence for e in events]
    assert len(replay) < len(events)


async def test_after_sequence_resumes_exactly_after_it(
    client: AsyncExecutorClient, port: int
) -> None:
    p = _busy_plan(5)
    await client.execute_plan(p)
    everything = await collect(client, p.id)
    total = len(everything)
    assert_well_formed(everything)

    for k in (1, 2, total // 2, total - 1, total):
        batches = await raw_watch(port, p.id, after=k)
        tail = [e for b in batches for e in b]
        assert [e.sequence for e in tail] == list(range(k + 1, total + 1))
        assert [e.SerializeToString() for e in tail] == [
            e.SerializeToString() for e in everything[k:]
        ]


async def test_resuming_a_live_execution_after_the_current_sequence(
    client: AsyncExecutorClient, gate: Gate
) -> None:
    held = step("gate", {"key": "h"}, name="held")
    p = plan(held, step("echo", {}, name="then", depends_on=[held]))
    await client.execute_plan(p, detach=True)
    await gate.started("h")
    k = (await client.get_execution_status(p.id)).last_sequence

    rest = asyncio.create_task(collect(client, p.id, after=k))
    gate.open("h")
    tail = await rest
    assert_gap_free(tail, first=k + 1)
    assert statuses(tail) == ["COMPLETED"]
    assert len(await collect(client, p.id)) == k + len(tail)


async def test_concurrent_watchers_see_the_same_events(
    client: AsyncExecutorClient, port: int, gate: Gate
) -> None:
    hold = step("gate", {"key": "go"}, name="hold")
    fan = [step("echo", {"i": i}, name=f"f{i}", depends_on=[hold]) for i in range(10)]
    p = plan(hold, *fan)
    await client.execute_plan(p, detach=True)
    await gate.started("go")

    watchers = [asyncio.create_task(raw_watch(port, p.id)) for _ in range(2)]
    watchers.append(asyncio.create_task(collect_batches(client, p.id)))
    gate.open("go")
    seen = [[e.SerializeToString() for b in await w for e in b] for w in watchers]
    assert seen[0] == seen[1] == seen[2]
    assert len(seen[0]) == len(await collect(client, p.id))


@both_stores
async def test_a_watcher_that_reconnects_with_its_last_sequence_sees_every_event_once(
    client: AsyncExecutorClient, port: int, gate: Gate
) -> None:
    first = step("gate", {"key": "one"}, name="first")
    second = step("gate", {"key": "two"}, name="second", depends_on=[first])
    third = step("echo", {}, name="third", depends_on=[second])
    p = plan(first, second, third)
    await client.execute_plan(p, detach=True)

    seen: list[pb.ExecutionEvent] = []
    async with asyncio.timeout(10), aclosing(client.watch(p.id, reconnect=False)) as stream:
        async for event in stream:
            seen.append(event)
            if event.step_id == first.id:
                break  # the watcher goes away mid-way
    last = seen[-1].sequence
    gate.open("one")
    await gate.started("two")
    gate.open("two")
    await client.wait(p.id, timeout=20)

    # Reconnecting after the execution moved on: raw, so duplicates would show.
    rest = [e for b in await raw_watch(port, p.id, after=last) for e in b]
    combined = seen + rest
    assert_well_formed(combined)
    assert [e.SerializeToString() for e in combined] == [
        e.SerializeToString() for e in await collect(client, p.id)
    ]


async def test_watching_a_finished_execution_replays_everything(
    client: AsyncExecutorClient,
) -> None:
    p = _busy_plan(3)
    result = await client.execute_plan(p)
    assert status_name(result.status) == "COMPLETED"
    first = await collect(client, p.id)
    second = await collect(client, p.id)
    assert_well_formed(first)
    assert [e.SerializeToString() for e in first] == [e.SerializeToString() for e in second]


async def test_progress_reporting_publishes_step_progress(client: AsyncExecutorClient) -> None:
    p = plan(step("sleep", {"seconds": 1}, name="nap"))
    await client.execute_plan(p, pb.ExecutionOptions(progress_reporting=True))
    events = await collect(client, p.id)
    assert_well_formed(events)
    progress = [e for e in events if e.type == pb.EXECUTION_EVENT_TYPE_STEP_PROGRESS]
    assert [round(e.progress, 2) for e in progress] == [round(0.1 * i, 2) for i in range(1, 11)]
    assert all(e.step_name == "nap" and e.attempt == 1 for e in progress)

    quiet = plan(step("sleep", {"seconds": 1}, name="nap"))
    await client.execute_plan(quiet)  # progress_reporting off: no progress events
    assert not [
        e
        for e in await collect(client, quiet.id)
        if e.type == pb.EXECUTION_EVENT_TYPE_STEP_PROGRESS
    ]
