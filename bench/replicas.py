"""Replicas on PostgreSQL: one replica against three behind nginx, and takeover time.

- Layouts, each on a fresh database: one replica called directly, one replica behind nginx
  (what the balancer costs), three replicas behind nginx (what two more replicas cost on
  the same cores). Figures: 1-step plan latency, 1-step plans/s with 64 in flight, the
  layered plan's steps/s, and the CPU the replicas spent per 1-step plan.
- Idle cost: CPU a replica spends doing nothing but heartbeating and polling for work.
- Takeover: a replica running a plan is killed with SIGKILL; the figure is the time from
  the moment its lease expired (its last heartbeat plus `--lease-seconds`, both on the
  database's clock) to the first step started by the replica that took over (the time of
  that event, journaled under the new epoch).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc.aio
import psycopg
from tests.support.cluster import balancer
from tests.support.postgres import Cluster

from bench import remote
from bench.report import Row
from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_server.domain.status import EventType, StepStatus
from executor_server.store.codec import decode_event

TAKEOVER_LEASE = 2.0
TAKEOVERS = 3
IDLE_SECONDS = 5.0


@contextlib.asynccontextmanager
async def _replicas(
    count: int, url: str, tmp: Path, name: str, *flags: str
) -> AsyncIterator[list[tuple[remote.Server, str]]]:
    """`count` replicas on the database at `url`, with their addresses."""
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for i in range(count):
            port = remote.free_port()
            argv = [
                *remote.executor_argv(port, "postgres", tmp / f"{name}-r{i}", url),
                f"--replica-id={name}-r{i}",
                *flags,
            ]
            log = tmp / f"{name}-r{i}.log"
            server = await stack.enter_async_context(remote.spawn(argv, port, log))
            servers.append((server, f"127.0.0.1:{port}"))
        yield servers


def _cpu(servers: list[remote.Server]) -> float:
    return sum(s.cpu_seconds() for s in servers)


async def _layout(
    servers: list[remote.Server], channel: grpc.aio.Channel, sizes: Any
) -> dict[str, Any]:
    requests = remote.OneStepPlans()
    call = remote.execute_plan(channel)
    lat = await remote.latency(call, requests, sizes.latency_calls)
    cpu_before = _cpu(servers)
    thr = await remote.throughput(call, requests, sizes.throughput_seconds)
    cpu_per_plan = (_cpu(servers) - cpu_before) / max(thr["calls"], 1)
    target = remote.Server(servers[0].process, channel, servers[0].log)
    big = await remote.big_plan(target, sizes.big, deadline=sizes.huge_deadline)
    return {
        "p50_ms": lat["p50_ms"],
        "p99_ms": lat["p99_ms"],
        "per_s": thr["per_s"],
        "errors": thr["errors"],
        "error": thr["error"],
        "cpu_ms_per_plan": cpu_per_plan * 1000,
        "big_steps_per_s": big["steps"] / big["wall_s"] if "wall_s" in big else None,
        "big": big,
    }


async def _idle_cpu(url: str, tmp: Path) -> float:
    """CPU seconds per second of one idle replica."""
    async with _replicas(1, url, tmp, "idle") as replicas:
        servers = [server for server, _ in replicas]
        await asyncio.sleep(1.0)  # past start-up
        before, started = _cpu(servers), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        return (_cpu(servers) - before) / (time.perf_counter() - started)


def _sleep_plan() -> bytes:
    """One long step (the takeover interrupts it), then a quick one."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    steps = [
        pb.ActionStep(
            id=first,
            name="long",
            tool_execution=pb.ToolExecution(tool_name="sleep"),
        ),
        pb.ActionStep(
            id=second,
            name="after",
            dependencies=[first],
            tool_execution=pb.ToolExecution(tool_name="echo"),
        ),
    ]
    steps[0].tool_execution.arguments.update({"seconds": 30})
    plan = pb.ActionPlan(id=str(uuid.uuid4()), name="takeover", steps=steps)
    return pb.ExecutePlanRequest(plan=plan, detach=True).SerializeToString()


async def _takeover(url: str, tmp: Path, n: int) -> dict[str, float]:
    lease = f"--lease-seconds={TAKEOVER_LEASE:g}"
    async with _replicas(2, url, tmp, f"takeover{n}", lease) as ((doomed, _), _survivor):
        request = _sleep_plan()
        plan_id = pb.ExecutePlanRequest.FromString(request).plan.id
        await remote.execute_plan(doomed.channel)(request, timeout=30)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
            await asyncio.sleep(0.5)  # the long step is under way
            killed = time.time()
            doomed.process.send_signal(signal.SIGKILL)
            started = None
            deadline = time.monotonic() + 60
            while started is None:
                cursor = await db.execute(
                    "SELECT sequence, data FROM events WHERE plan_id = %s AND epoch > 1 "
                    "ORDER BY sequence",
                    (plan_id,),
                )
                for sequence, data in await cursor.fetchall():
                    event = decode_event(plan_id, int(sequence), data)
                    running = event.step_status is StepStatus.RUNNING
                    if event.type is EventType.STEP_STATUS_CHANGED and running:
                        started = event.time
                        break
                if started is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("no replica took over in 60 s")
                    await asyncio.sleep(0.02)
            cursor = await db.execute(
                "SELECT extract(epoch FROM heartbeat) + lease_seconds FROM replicas "
                "WHERE replica_id = %s",
                (f"takeover{n}-r0",),
            )
            expiry = await cursor.fetchone()
        assert expiry is not None
        return {
            "expiry_to_started_s": started - float(expiry[0]),
            "kill_to_started_s": started - killed,
        }


async def replica_rows(
    sizes: Any, tmp: Path, postgres: Cluster
) -> tuple[list[Row], dict[str, Any]]:
    """The figures above, with a SQLite server first: each layout against the one before
    it (the ratio column says what PostgreSQL, the balancer, then two more replicas cost)."""
    raw: dict[str, Any] = {"postgres_version": postgres.version}
    port = remote.free_port()
    sqlite = remote.executor_argv(port, "on", tmp / "sqlite")
    async with remote.spawn(sqlite, port, tmp / "sqlite.log") as server:
        raw["SQLite"] = await _layout([server], server.channel, sizes)
    layouts = [("SQLite", 1, False), ("1 replica, direct", 1, False)]
    layouts += [("1 replica, nginx", 1, True), ("3 replicas, nginx", 3, True)]
    for n, (label, count, balanced) in enumerate(layouts):
        if label == "SQLite":
            continue
        url = postgres.create_database(f"replicas_layout_{n}")
        async with _replicas(count, url, tmp, f"layout{n}") as replicas:
            servers = [server for server, _ in replicas]
            if not balanced:
                raw[label] = await _layout(servers, servers[0].channel, sizes)
                continue
            listen = f"127.0.0.1:{remote.free_port()}"
            with balancer(listen, [address for _, address in replicas]):
                channel = grpc.aio.insecure_channel(listen, options=remote.CLIENT_OPTIONS)
                try:
                    raw[label] = await _layout(servers, channel, sizes)
                finally:
                    await channel.close()
    rows: list[Row] = []
    figures = [
        ("p50_ms", "1-step plan latency p50", "ms"),
        ("p99_ms", "1-step plan latency p99", "ms"),
        ("per_s", f"1-step plans/s, {remote.CONCURRENCY} in flight", "calls/s"),
        ("cpu_ms_per_plan", "replicas' CPU per 1-step plan", "ms"),
        ("big_steps_per_s", f"{sizes.big.name} steps/s", "steps/s"),
    ]
    for key, figure, unit in figures:
        for n, (label, _, _) in enumerate(layouts):
            before = layouts[n - 1][0] if n else ""
            measured = raw[label]
            note = ""
            if key == "per_s" and measured["errors"]:
                note = f"{measured['errors']} calls failed: {measured['error']}"
            if key == "big_steps_per_s":
                note = measured["big"].get("error", "")
            rows.append(
                Row(
                    "replicas",
                    f"{figure}: {label}",
                    unit,
                    measured[key],
                    raw[before][key] if before else None,
                    before,
                    note=note,
                )
            )
    idle = await _idle_cpu(postgres.create_database("replicas_idle"), tmp)
    raw["idle_cpu_per_s"] = idle
    rows.append(Row("replicas", "idle replica CPU", "% core", idle * 100))
    takeovers = []
    for n in range(TAKEOVERS):
        url = postgres.create_database(f"replicas_takeover_{n}")
        takeovers.append(await _takeover(url, tmp, n))
    raw["takeover"] = takeovers
    worst = max(t["expiry_to_started_s"] for t in takeovers)
    rows.append(
        Row(
            "replicas",
            f"takeover: lease expiry to first step elsewhere, worst of {TAKEOVERS}",
            "s",
            worst,
            note=f"--lease-seconds {TAKEOVER_LEASE:g}; SIGKILL to first step "
            + ", ".join(f"{t['kill_to_started_s']:.2f}" for t in takeovers)
            + " s",
        )
    )
    return rows, raw


__all__ = ["replica_rows"]
