"""`--profile`: pyinstrument profiles of the engine on the layered 10,000-step plan, written
to bench/profiles/ as text (a call tree, then the top functions by self time)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

from bench import remote
from bench.engine import CONCURRENCY, executor
from bench.shapes import Shape, to_domain
from executor_server.domain.models import ExecutionOptions

PROFILES = Path(__file__).parent / "profiles"


def _top(flat_text: str, lines: int = 40) -> str:
    """The first `lines` entries of a flat profile, without pyinstrument's banner."""
    entries = [line for line in flat_text.splitlines() if re.match(r"^\d+\.\d+ ", line)]
    return "\n".join(entries[:lines])


async def _profiled_run(shape: Shape, journal: str, profiler: Profiler) -> float:
    plan = to_domain(shape)
    async with executor(journal) as engine:
        started = time.perf_counter()
        profiler.start()  # only execute_plan: building the plan is the client's cost
        await engine.execute_plan(plan, ExecutionOptions(max_concurrent_steps=CONCURRENCY))
        profiler.stop()
        return time.perf_counter() - started


def profile_engine(shape: Shape, journal: str, out: Path = PROFILES) -> Path:
    # async_mode="disabled": sample the one thread as it is, event loop frames included,
    # so time spent scheduling shows up next to time spent in steps. The SQLite writer
    # thread is not sampled; its cost shows as waits in Journal.durable.
    profiler = Profiler(interval=0.001, async_mode="disabled")
    elapsed = asyncio.run(_profiled_run(shape, journal, profiler))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"engine_{shape.name.replace(' ', '_')}_journal_{journal}.txt"
    header = (
        f"# pyinstrument: Executor.execute_plan, {shape.name} ({shape.size:,} echo steps), "
        f"max_concurrent_steps={CONCURRENCY}, journal {journal}\n"
        f"# {elapsed:.2f} s under the profiler ({shape.size / elapsed:,.0f} steps/s)\n"
    )
    tree = profiler.output_text(unicode=False, color=False, show_all=False)
    flat = profiler.output_text(unicode=False, color=False, flat=True)
    top = _top(flat)
    path.write_text(f"{header}\n## call tree\n{tree}\n## top functions by self time\n{top}\n")
    return path


async def _drive_server(kind: str, argv: list[str], port: int, log: Path, shape: Shape) -> None:
    async with remote.spawn(argv, port, log) as server:
        if kind == "1step":
            call = remote.execute_plan(server.channel)
            await remote.throughput(call, remote.OneStepPlans(), seconds=5.0)
        else:
            outcome = await remote.big_plan(server, shape, deadline=300.0)
            if "error" in outcome:
                raise RuntimeError(f"profiled plan failed: {outcome['error']}")
    # Leaving spawn() sent SIGTERM: the server shuts down and pyinstrument writes out.


def profile_server(kind: str, shape: Shape, journal: str, out: Path = PROFILES) -> Path:
    """Profile the real server subprocess under pyinstrument's CLI while this process
    drives it: `1step` is 1-step plans with 64 in flight for 5 s, `big` one `shape`."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"server_{'1step_plans' if kind == '1step' else shape.name.replace(' ', '_')}"
    path = out / f"{name}_journal_{journal}.txt"
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        session = Path(tmp) / "server.pyisession"
        port = remote.free_port()
        serve = remote.executor_argv(port, journal, Path(tmp))
        argv = [
            sys.executable, "-m", "pyinstrument", "--interval=0.001",
            "-r", "pyisession", "-o", str(session),
            "-m", "executor_server.cli", *serve[1:],
        ]  # fmt: skip
        asyncio.run(_drive_server(kind, argv, port, Path(tmp) / "server.log", shape))
        render = [sys.executable, "-m", "pyinstrument", f"--load={session}", "--no-color"]
        tree = subprocess.run([*render, "--no-unicode"], capture_output=True, text=True, check=True)
        flat = subprocess.run(
            [*render, "-p", "flat=true"], capture_output=True, text=True, check=True
        )
    top = _top(flat.stdout)
    header = (
        f"# pyinstrument: the executor server process (journal {journal}) serving "
        + ("1-step echo plans, 64 in flight, for 5 s" if kind == "1step" else
           f"one blocking ExecutePlan of {shape.name} ({shape.size:,} echo steps)")
        + "\n# idle time shows as the event loop's select()\n"
    )  # fmt: skip
    path.write_text(
        f"{header}\n## call tree\n{tree.stdout}\n## top functions by self time\n{top}\n"
    )
    return path
