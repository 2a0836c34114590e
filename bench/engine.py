"""In-process engine figures: `Executor.execute_plan` with no gRPC, against the minimal
scheduler and Dask on the same shapes."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.baselines import run_dask, run_minimal
from bench.report import Row, median_of
from bench.shapes import Shape, independent, to_domain, to_pb
from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    ExecutionOptions,
    ExecutionResult,
    ForEach,
    ToolExecution,
)
from executor_server.domain.status import ExecutionStatus
from executor_server.engine.executor import Executor
from executor_server.rpc import convert
from executor_server.store.memory import MemoryStore
from executor_server.store.protocol import Store
from executor_server.store.sqlite import SQLiteStore
from executor_server.tools.builtins import Echo
from executor_server.tools.registry import ToolRegistry

CONCURRENCY = 64
JOURNALS = ("off", "on")  # off: MemoryStore; on: the SQLite journal


@asynccontextmanager
async def executor(journal: str) -> AsyncIterator[Executor]:
    """A fresh executor and store per run: no run pays for the executions of another."""
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        store: Store = (
            await SQLiteStore.open(Path(tmp) / "journal.db") if journal == "on" else MemoryStore()
        )
        engine = Executor(ToolRegistry([Echo()]), store, workspace_root=Path(tmp) / "workspaces")
        try:
            yield engine
        finally:
            await engine.close()
            await store.close()


async def time_engine(shape: Shape, journal: str) -> float:
    """Seconds for `execute_plan` end to end: validation, admission, the run, the result."""
    plan = to_domain(shape)  # outside the timing: a client hands the engine a built plan
    options = ExecutionOptions(max_concurrent_steps=CONCURRENCY)
    async with executor(journal) as engine:
        started = time.perf_counter()
        result = await engine.execute_plan(plan, options)
        elapsed = time.perf_counter() - started
    if result.status is not ExecutionStatus.COMPLETED:
        raise RuntimeError(f"{shape.name}: the engine ended {result.status.name}")
    return elapsed


def time_minimal(shape: Shape) -> float:
    async def timed() -> float:
        started = time.perf_counter()
        await run_minimal(shape, CONCURRENCY)
        return time.perf_counter() - started

    return asyncio.run(timed())


def time_dask(shape: Shape) -> float:
    started = time.perf_counter()
    run_dask(shape)
    return time.perf_counter() - started


def engine_rows(shapes: list[Shape], *, repeats: int, budget: float) -> tuple[list[Row], dict]:
    """Steps/s of the engine (journal off and on), the minimal scheduler and Dask.

    Baselines are cheap, so they get `repeats` runs; the engine repeats only while a run
    fits in `budget` seconds per figure."""
    rows: list[Row] = []
    raw: dict[str, dict] = {}
    for shape in shapes:
        minimal, minimal_runs = median_of(
            lambda s=shape: time_minimal(s), repeats=repeats, budget_seconds=budget
        )
        dask, dask_runs = median_of(
            lambda s=shape: time_dask(s), repeats=repeats, budget_seconds=budget
        )
        raw[shape.name] = {"minimal_s": minimal_runs, "dask_s": dask_runs}
        for journal in JOURNALS:
            ours, ours_runs = median_of(
                lambda s=shape, j=journal: asyncio.run(time_engine(s, j)),
                repeats=repeats,
                budget_seconds=budget,
            )
            raw[shape.name][f"engine_journal_{journal}_s"] = ours_runs
            rate = shape.size / ours
            section = f"engine, journal {journal}"
            figure = f"{shape.name} steps/s"
            layered = shape.name.startswith("layered")
            rows.append(
                Row(
                    section,
                    figure,
                    "steps/s",
                    rate,
                    shape.size / minimal,
                    "minimal",
                    ">=" if layered else "",
                    0.25 if layered else None,
                )
            )
            rows.append(Row(section, figure, "steps/s", rate, shape.size / dask, "dask", ">=", 1.0))
    return rows, raw


def _fan_out_plan(count: int) -> ActionPlan:
    """One step whose output is a list of `count`, and a for_each over it."""
    source = ActionStep(
        id=str(uuid.uuid4()),
        name="source",
        tool_execution=ToolExecution(tool_name="echo", arguments={"xs": list(range(count))}),
    )
    each = ActionStep(
        id=str(uuid.uuid4()),
        name="each",
        dependencies=(source.id,),
        tool_execution=ToolExecution(tool_name="echo", arguments={"x": "${item}"}),
        for_each=ForEach(items="${steps.source.output.xs}"),
    )
    return ActionPlan(id=str(uuid.uuid4()), steps=(source, each))


def _conditional_plan(count: int) -> ActionPlan:
    """One step, and `count` steps after it whose `when` reads its output (all true)."""
    source = ActionStep(
        id=str(uuid.uuid4()),
        name="source",
        tool_execution=ToolExecution(tool_name="echo", arguments={"n": 1}),
    )
    after = [
        ActionStep(
            id=str(uuid.uuid4()),
            dependencies=(source.id,),
            when="steps.source.output.n > 0",
            tool_execution=ToolExecution(tool_name="echo", arguments={"i": i}),
        )
        for i in range(count)
    ]
    return ActionPlan(id=str(uuid.uuid4()), steps=(source, *after))


async def _time_plan(plan: ActionPlan, journal: str) -> float:
    async with executor(journal) as engine:
        started = time.perf_counter()
        result = await engine.execute_plan(plan, ExecutionOptions(max_concurrent_steps=CONCURRENCY))
        elapsed = time.perf_counter() - started
    if result.status is not ExecutionStatus.COMPLETED:
        raise RuntimeError(f"the engine ended {result.status.name}: {result.error}")
    return elapsed


def branching_rows(count: int, *, repeats: int, budget: float) -> tuple[list[Row], dict]:
    """Elements/s of a for_each over `count`, and steps/s of `count` steps with a `when`,
    each against `count` independent plain steps (journal off): a fan-out should cost no
    more per element than a step, and a condition little per step."""
    plain, plain_runs = median_of(
        lambda: asyncio.run(time_engine(independent(count), "off")),
        repeats=repeats,
        budget_seconds=budget,
    )
    fan_out, fan_out_runs = median_of(
        lambda: asyncio.run(_time_plan(_fan_out_plan(count), "off")),
        repeats=repeats,
        budget_seconds=budget,
    )
    conditional, conditional_runs = median_of(
        lambda: asyncio.run(_time_plan(_conditional_plan(count), "off")),
        repeats=repeats,
        budget_seconds=budget,
    )
    section = "engine, branching (journal off)"
    baseline = f"{count:,} independent steps"
    rows = [
        Row(
            section,
            f"for_each over {count:,} elements/s",
            "elements/s",
            count / fan_out,
            count / plain,
            baseline,
            ">=",
            0.7,
        ),
        Row(
            section,
            f"{count:,} steps with a when, steps/s",
            "steps/s",
            count / conditional,
            count / plain,
            baseline,
            ">=",
            0.4,
        ),
    ]
    raw = {"plain_s": plain_runs, "for_each_s": fan_out_runs, "when_s": conditional_runs}
    return rows, raw


def conversion_rows(shape: Shape, *, repeats: int) -> tuple[list[Row], dict]:
    """The wire conversion of a big plan, against the engine's own run time on it (journal
    off): decoding the request bytes into the compiler's input, and the result into the
    response bytes. Each should cost less than running the plan."""
    request_bytes = pb.ExecutePlanRequest(
        plan=to_pb(shape), options=pb.ExecutionOptions(max_concurrent_steps=CONCURRENCY)
    ).SerializeToString()

    def decode() -> float:
        started = time.perf_counter()
        request = pb.ExecutePlanRequest.FromString(request_bytes)
        convert.plan(request.plan)
        convert.options(request.options)
        return time.perf_counter() - started

    async def run_once() -> tuple[float, ExecutionResult]:
        plan = to_domain(shape)
        async with executor("off") as engine:
            started = time.perf_counter()
            result = await engine.execute_plan(
                plan, ExecutionOptions(max_concurrent_steps=CONCURRENCY)
            )
            return time.perf_counter() - started, result

    runs = [asyncio.run(run_once()) for _ in range(repeats)]
    engine_s = statistics.median(r[0] for r in runs)
    result = runs[0][1]

    def encode() -> float:
        started = time.perf_counter()
        pb.ExecutePlanResponse(result=convert.result_to_pb(result)).SerializeToString()
        return time.perf_counter() - started

    decode_s = statistics.median(decode() for _ in range(repeats))
    encode_s = statistics.median(encode() for _ in range(repeats))
    section = "conversion"
    rows = [
        Row(section, f"{shape.name}: request in", "s", decode_s, engine_s, "engine run", "<=", 1.0),
        Row(section, f"{shape.name}: result out", "s", encode_s, engine_s, "engine run", "<=", 1.0),
    ]
    return rows, {"engine_s": engine_s, "decode_s": decode_s, "encode_s": encode_s}
