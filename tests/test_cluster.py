"""Three replicas behind nginx (`grpc_pass`), clients talking only to the balancer: 100
executions of several steps in flight, one replica killed with SIGKILL. Every execution
ends as it would have on one server; the marks the steps' tool writes prove that no step
whose completion was journaled ran again and no compensation ran twice; every journal is
1..N; watchers connected through the balancer reconnect by themselves and see every
event exactly once (the replica killed is one that was serving some of them)."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from tests.support.cluster import balancer, find_nginx, nginx_config
from tests.support.events import assert_well_formed
from tests.support.proc import ROOT, ServerProcess, free_port, read_marks, write_plugin

from executor_client import (
    AsyncExecutorClient,
    compensation,
    executor_pb2,
    plan,
    retry_policy,
    status_name,
    step,
    step_status_name,
)

pb = executor_pb2
PLANS = 100
FAILING = 20  # of which the last step fails, and the saga rolls back
WATCHED = 12
LEASE = "1"
STEP_CHANGED = pb.EXECUTION_EVENT_TYPE_STEP_STATUS_CHANGED


@pytest.fixture
def nginx() -> None:
    """Skips (fails in CI) when nginx is not installed; `make nginx` installs it."""
    if find_nginx() is None:
        if os.environ.get("CI"):
            raise AssertionError("nginx is not installed: `make nginx` should have")
        pytest.skip("nginx is not installed: run `make nginx` (Debian's package)")


def _plan(n: int, marks: Path, undone: Path) -> pb.ActionPlan:
    """Four steps, two of them undoable. The tool is not idempotent: it runs only once its
    start is journaled, so the journal knows every attempt that ran; the retry policy lets
    an attempt the kill interrupted run again."""
    again = retry_policy(3, initial_backoff=0.05)

    def mark(file: Path, seconds: float, **more: object) -> pb.ActionStep:
        return step("mark", {"file": str(file), "seconds": seconds}, retry=again, **more)  # type: ignore[arg-type]

    def undo() -> pb.Compensation:
        return compensation("mark", {"file": str(undone), "seconds": 0.1}, retry=again)

    first = mark(marks, 0.3, name="first", compensation=undo())
    left = mark(marks, 0.3, name="left", depends_on=[first], compensation=undo())
    right = mark(marks, 0.2, name="right", depends_on=[first])
    if n < FAILING:
        last = step("fail", {"retryable": False}, name="last", depends_on=[left, right])
    else:
        last = mark(marks, 0.0, name="last", depends_on=[left, right])
    return plan(first, left, right, last, name=f"cluster-{n}")


async def _watchers(metrics_port: int) -> float:
    """WatchExecution streams a replica has open (its executor_watchers gauge)."""

    def read() -> str:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    for line in (await asyncio.to_thread(read)).splitlines():
        if line.startswith("executor_watchers "):
            return float(line.split()[1])
    return 0.0


async def _journals(url: str) -> dict[str, list[int]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute("SELECT plan_id, sequence FROM events ORDER BY 1, 2")
        journals: dict[str, list[int]] = defaultdict(list)
        for plan_id, sequence in await cursor.fetchall():
            journals[plan_id].append(int(sequence))
        return journals


def _ran_once_after_completion(
    events: list[pb.ExecutionEvent], marks: list[tuple[str, str, int]], compensating: bool
) -> None:
    """Per step: the tool saw each attempt at most once, the last being the one whose
    completion the journal holds: nothing ran again once it was done. (An attempt that the
    kill interrupted may have been journaled as started before its tool got to run.)"""
    done = "COMPENSATED" if compensating else "COMPLETED"
    completed = {
        e.step_id: e.attempt
        for e in events
        if e.type == STEP_CHANGED and step_status_name(e.step_status) == done
    }
    seen: dict[str, list[int]] = defaultdict(list)
    for _, step_id, attempt in marks:
        seen[step_id].append(attempt)
    for step_id, attempts in seen.items():
        assert step_id in completed, (step_id, attempts)
        assert len(set(attempts)) == len(attempts), (step_id, attempts)
        assert max(attempts) == completed[step_id], (step_id, attempts)


async def test_a_killed_replica_loses_no_work_behind_the_balancer(
    tmp_path: Path, pg_url: str, nginx: None
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    marks, undone = tmp_path / "marks.txt", tmp_path / "undone.txt"
    metrics_ports = [free_port() for _ in range(3)]
    replicas = [
        ServerProcess(
            port=free_port(),
            data_dir=tmp_path / name,
            log=tmp_path / f"{name}.log",
            pythonpath=plugin,
            extra=(
                *("--db", pg_url, "--replica-id", name, "--lease-seconds", LEASE),
                *("--metrics-address", f"127.0.0.1:{metrics}"),
            ),
        )
        for name, metrics in zip(("r1", "r2", "r3"), metrics_ports, strict=True)
    ]
    plans = [_plan(n, marks, undone) for n in range(PLANS)]
    try:
        for replica in replicas:
            await replica.start()
        for replica in replicas:
            await replica.wait_serving()
        with balancer(f"127.0.0.1:{free_port()}", [r.address for r in replicas]) as lb:
            async with AsyncExecutorClient(lb.address, timeout=60.0) as client:
                gate = asyncio.Semaphore(16)

                async def submit(n: int, p: pb.ActionPlan) -> None:
                    options = pb.ExecutionOptions(auto_rollback=n < FAILING)
                    async with gate:
                        await client.execute_plan(p, options, detach=True)

                await asyncio.gather(*(submit(n, p) for n, p in enumerate(plans)))
                watched: dict[str, list[pb.ExecutionEvent]] = {}

                async def watch(plan_id: str) -> None:
                    events = watched.setdefault(plan_id, [])
                    async for event in client.watch(plan_id, max_reconnect_delay=0.5):
                        events.append(event)

                watchers = [asyncio.create_task(watch(p.id)) for p in plans[-WATCHED:]]
                await asyncio.sleep(0.4)  # first steps under way everywhere
                # The balancer spread the watchers: kill a replica serving some of them.
                serving = [await _watchers(port) for port in metrics_ports]
                victim = serving.index(max(serving))
                assert serving[victim] > 0, serving
                await replicas[victim].kill()
                survivors = [r for i, r in enumerate(replicas) if i != victim]

                async def outcome(p: pb.ActionPlan) -> str:
                    result = await client.wait(p.id, timeout=60)
                    return status_name(result.status)

                outcomes = await asyncio.gather(*(outcome(p) for p in plans))
                async with asyncio.timeout(30):
                    await asyncio.gather(*watchers)
            journals = await _journals(pg_url)
            async with AsyncExecutorClient(survivors[0].address) as direct:
                logs = {p.id: [e async for e in direct.watch(p.id, reconnect=False)] for p in plans}
    finally:
        for replica in replicas:
            await replica.kill()

    expected = ["ROLLED_BACK"] * FAILING + ["COMPLETED"] * (PLANS - FAILING)
    assert outcomes == expected
    taken = [r for r in survivors if "execution resumed" in r.log_text()]
    assert taken, "no replica took over any execution of the killed one"
    for n, p in enumerate(plans):
        assert journals[p.id] == list(range(1, len(journals[p.id]) + 1))
        assert [e.sequence for e in logs[p.id]] == journals[p.id]
        assert_well_formed(logs[p.id], rollback=n < FAILING)
    by_plan: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for mark in read_marks(marks):
        by_plan[mark[0]].append(mark)
    undone_by_plan: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for mark in read_marks(undone):
        undone_by_plan[mark[0]].append(mark)
    for p in plans:
        _ran_once_after_completion(logs[p.id], by_plan[p.id], compensating=False)
        _ran_once_after_completion(logs[p.id], undone_by_plan[p.id], compensating=True)
    for plan_id, events in watched.items():  # each exactly once, across reconnections
        assert [e.sequence for e in events] == journals[plan_id], plan_id


def test_the_readme_shows_the_balancer_configuration_the_test_uses() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    upstreams = [f"127.0.0.1:{port}" for port in (50061, 50062, 50063)]
    assert f"```nginx\n{nginx_config('127.0.0.1:50051', upstreams)}```" in readme
