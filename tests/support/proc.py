"""The real server as a child process (`executor serve`), and a tool plugin installed the way
users install one: a distribution on the path whose entry points name its tools."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
EXECUTOR = ROOT / ".venv" / "bin" / "executor"

PLUGIN_SOURCE = '''
"""Tools for the crash tests: `mark` writes "<plan_id> <step_id> <attempt>" to a file, then
sleeps (cancellably) for `seconds`, or not at all from attempt `fast_from_attempt` on."""

import asyncio
from dataclasses import replace

from executor_server.tools.protocol import ToolSpec


def _append(path, line):
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\\n")


class Mark:
    spec = ToolSpec(
        name="mark",
        description="Appends the call to a file, then sleeps.",
        input_schema={
            "type": "object",
            "properties": {
                "file": {"type": "string"},
                "seconds": {"type": "number", "minimum": 0},
                "fast_from_attempt": {"type": "integer", "minimum": 1},
            },
            "required": ["file"],
        },
        idempotent=False,
    )

    async def invoke(self, arguments, context):
        line = f"{context.plan_id} {context.step_id} {context.attempt}"
        await asyncio.to_thread(_append, arguments["file"], line)
        if context.attempt < arguments.get("fast_from_attempt", 1_000_000):
            await asyncio.sleep(float(arguments.get("seconds", 0)))
        return {"attempt": context.attempt}


class MarkIdempotent(Mark):
    spec = replace(Mark.spec, name="mark_idempotent", idempotent=True)
'''


def write_plugin(directory: Path) -> Path:
    """Writes the `crashtools` distribution into `directory`; put it on PYTHONPATH."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "crashtools.py").write_text(textwrap.dedent(PLUGIN_SOURCE), encoding="utf-8")
    info = directory / "crashtools-0.0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: crashtools\nVersion: 0.0.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[executor.tools]\n"
        "mark = crashtools:Mark\n"
        "mark_idempotent = crashtools:MarkIdempotent\n"
        "broken = crashtools:DoesNotExist\n",
        encoding="utf-8",
    )
    return directory


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """`executor serve` in a child process; always `kill()` it in a finally block."""

    def __init__(
        self,
        *,
        port: int,
        data_dir: Path,
        log: Path,
        pythonpath: Path | None = None,
        extra: tuple[str, ...] = (),
        bind: str = "127.0.0.1",
    ) -> None:
        self.port = port
        self.bind = bind
        self.data_dir = data_dir
        self.log = log
        self.pythonpath = pythonpath
        self.extra = extra
        self.process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = dict(os.environ)
        if self.pythonpath is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.pythonpath), env.get("PYTHONPATH", "")) if p
            )
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(EXECUTOR),
                "serve",
                "--address",
                f"{self.bind}:{self.port}",
                "--data-dir",
                str(self.data_dir),
                "--log-format",
                "json",
                *self.extra,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )

    async def wait_serving(self, within: float = 30.0) -> None:
        """Until health says SERVING; fails early if the process exits."""
        async with asyncio.timeout(within), grpc.aio.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"server exited with {self.process.returncode}:\n{self.log_text()}"
                    )
                with contextlib.suppress(grpc.aio.AioRpcError):
                    response = await stub.Check(
                        health_pb2.HealthCheckRequest(service="executor.v1.ExecutorService"),
                        timeout=1,
                    )
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
            await process.wait()

    async def wait_exit(self, within: float) -> int:
        assert self.process is not None
        async with asyncio.timeout(within):
            return await self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (other output, e.g. a traceback, is skipped)."""
        records = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records


async def wait_until(
    condition: Callable[[], bool], within: float = 20.0, interval: float = 0.02
) -> None:
    """Polls `condition` (for state in another process, where no event can be awaited)."""
    async with asyncio.timeout(within):
        while not await asyncio.to_thread(condition):  # noqa: ASYNC110 (no cross-process event)
            await asyncio.sleep(interval)


def read_marks(path: Path) -> list[tuple[str, str, int]]:
    """The (plan_id, step_id, attempt) lines the `mark` tools wrote."""
    if not path.exists():
        return []
    marks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        plan_id, step_id, attempt = line.split()
        marks.append((plan_id, step_id, int(attempt)))
    return marks


__all__ = [
    "EXECUTOR",
    "ServerProcess",
    "free_port",
    "read_marks",
    "wait_until",
    "write_plugin",
]
