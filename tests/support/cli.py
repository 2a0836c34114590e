"""The `executor` command line as a user runs it: a child process against a real server
(itself `executor serve` in a child process)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tests.support.proc import EXECUTOR, ROOT, free_port

EXAMPLES = ROOT / "examples" / "plans"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def cli_env(server: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}
    if server is not None:
        env["EXECUTOR_SERVER"] = server
    env.update(extra)
    return env


def executor(
    *args: str | Path,
    server: str | None,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
    executable: Path = EXECUTOR,
    stdin: str | None = None,
) -> Result:
    """Runs `executor ARGS...` to its end, stdout a pipe (not a terminal), stdin `stdin`
    (else closed)."""
    done = subprocess.run(
        [str(executable), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        env=cli_env(server, **(env or {})),
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def wait_serving(
    address: str,
    process: subprocess.Popen[bytes],
    log: Path,
    within: float = 30,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    deadline = time.monotonic() + within
    with (
        grpc.insecure_channel(address)
        if credentials is None
        else grpc.secure_channel(address, credentials)
    ) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text(errors='replace')}")
            with contextlib.suppress(grpc.RpcError):
                request = health_pb2.HealthCheckRequest(service="executor.v1.ExecutorService")
                if stub.Check(request, timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            time.sleep(0.05)
    raise AssertionError(f"server not serving after {within}s: {log.read_text(errors='replace')}")


@contextlib.contextmanager
def serving(
    data_dir: Path,
    *flags: str,
    env: Mapping[str, str] | None = None,
    executable: Path = EXECUTOR,
    credentials: grpc.ChannelCredentials | None = None,
) -> Iterator[tuple[str, Path]]:
    """`executor serve` on a free loopback port; yields its address and its log file.
    `credentials`: what the readiness probe connects with, for a server that speaks TLS."""
    address = f"127.0.0.1:{free_port()}"
    log = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                str(executable),
                "serve",
                "--address",
                address,
                "--data-dir",
                str(data_dir),
                "--log-format",
                "json",
                "--drain-seconds",
                "0",
                *flags,
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=cli_env(None, **(env or {})),
        )
    try:
        wait_serving(address, process, log, credentials=credentials)
        yield address, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_records(log: Path) -> list[dict[str, Any]]:
    records = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def status_of(plan_id: str, server: str) -> dict[str, Any]:
    result = executor("status", plan_id, "-o", "json", server=server)
    assert result.code == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def wait_for_status(
    plan_id: str, server: str, wanted: Sequence[str], within: float = 20
) -> dict[str, Any]:
    """Polls `executor status` (another process's execution: no event to await here)."""
    deadline = time.monotonic() + within
    while True:
        status = status_of(plan_id, server)
        if status["status"].removeprefix("EXECUTION_STATUS_") in wanted:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"still {status['status']} after {within}s")
        time.sleep(0.1)


__all__ = [
    "EXAMPLES",
    "Result",
    "cli_env",
    "executor",
    "log_records",
    "serving",
    "status_of",
    "wait_for_status",
    "wait_serving",
]
