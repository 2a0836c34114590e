"""command.run through a real server with real subprocesses: output, exit codes, stdin,
environment, limits, and that timeouts and cancels leave no process behind."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.support.events import error_type_name, wait_for_event
from tests.support.tools import make_registry

from executor_client import (
    AsyncExecutorClient,
    InvalidArgumentError,
    executor_pb2,
    output,
    plan,
    status_name,
    step,
)
from executor_server.tools.command import CommandRun
from executor_server.tools.registry import ToolRegistry
from executor_server.tools.settings import CommandSettings, ToolSettings

pb = executor_pb2
PY = sys.executable
ENABLED = CommandSettings(enabled=True, kill_grace_seconds=0.5)


@pytest.fixture
def tools(request: pytest.FixtureRequest) -> ToolRegistry:
    """command.run enabled, or with the test's settings; param None: not registered, as
    when the operator has not enabled it."""
    settings: CommandSettings | None = getattr(request, "param", ENABLED)
    return make_registry(CommandRun(settings)) if settings is not None else make_registry()


def with_command_settings(settings: CommandSettings) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("tools", [settings], indirect=True, ids=[""])


async def run(
    client: AsyncExecutorClient, *steps: pb.ActionStep, **options: Any
) -> pb.ExecutionResult:
    return await client.execute_plan(
        plan(*steps), pb.ExecutionOptions(**options) if options else None
    )


async def run_one(client: AsyncExecutorClient, arguments: dict[str, Any], **options: Any) -> Any:
    result = await run(client, step("command.run", arguments), **options)
    assert status_name(result.status) == "COMPLETED", result.error.message
    return output(result.step_results[0].output)


def python(code: str, *args: str) -> list[str]:
    return [PY, "-c", code, *args]


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie its new parent has yet to reap."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """Polls `condition` in a worker thread: SIGKILL is delivered asynchronously, and a
    process's death is a condition no event announces to a non-parent."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def assert_gone(*pids: int) -> None:
    for pid in pids:
        gone = await asyncio.to_thread(_eventually, functools.partial(_gone, pid))
        assert gone, f"process {pid} is still running"


async def test_runs_a_command_and_captures_its_output(client: AsyncExecutorClient) -> None:
    out = await run_one(client, {"argv": ["echo", "hello", "world"]})
    assert out["exit_code"] == 0
    assert out["stdout"] == "hello world\n"
    assert out["stderr"] == ""
    assert out["stdout_truncated"] is False
    assert out["duration_ms"] > 0


async def test_stdin_and_stderr(client: AsyncExecutorClient) -> None:
    code = (
        "import sys; data = sys.stdin.read(); print(data.upper()); print('warn', file=sys.stderr)"
    )
    out = await run_one(client, {"argv": python(code), "stdin": "abc"})
    assert out["stdout"] == "ABC\n"
    assert out["stderr"] == "warn\n"


async def test_exit_codes(client: AsyncExecutorClient) -> None:
    code = "import sys; print('bad input', file=sys.stderr); sys.exit(3)"
    out = await run_one(client, {"argv": python(code), "check": False})
    assert out["exit_code"] == 3
    result = await run(client, step("command.run", {"argv": python(code)}))
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert not result.error.retryable
    assert "exited with 3" in result.error.message and "bad input" in result.error.message


async def test_only_allowed_environment_passes_through(
    client: AsyncExecutorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXECUTOR_TEST_SECRET", "hunter2")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    out = await run_one(client, {"argv": python(code), "env": {"GREETING": "hi"}})
    env = json.loads(out["stdout"])
    assert "EXECUTOR_TEST_SECRET" not in env
    assert env["GREETING"] == "hi"
    assert env["PATH"] == os.environ["PATH"]
    assert set(env) <= {"GREETING", "PATH", "LANG", "LC_ALL", "TZ", "LC_CTYPE"}


async def test_working_directory_is_inside_the_workspace(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    write = step(
        "command.run",
        {"argv": python("open('made.txt', 'w').write('x')"), "cwd": "sub/dir"},
    )
    p = plan(write)
    result = await client.execute_plan(p)
    assert status_name(result.status) == "COMPLETED", result.error.message
    made = tmp_path / "workspaces" / p.id / "sub" / "dir" / "made.txt"
    assert await asyncio.to_thread(made.read_text) == "x"

    result = await run(client, step("command.run", {"argv": ["true"], "cwd": "../.."}))
    assert "escapes the workspace" in result.error.message


async def test_output_is_capped(client: AsyncExecutorClient) -> None:
    code = "import sys; sys.stdout.write('x' * 300000)"
    out = await run_one(client, {"argv": python(code), "max_output_bytes": 1000})
    assert out["stdout"] == "x" * 1000
    assert out["stdout_truncated"] is True


# A child that starts a grandchild, records both pids, then waits forever.
FAMILY = """
import os, signal, subprocess, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open("pids.tmp", "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
os.rename("pids.tmp", "pids")
time.sleep(60)
"""


async def read_pids(path: Path) -> list[int]:
    """The pids the family wrote, once the file appears."""
    assert await asyncio.to_thread(_eventually, path.exists), "the command never started"
    return [int(p) for p in (await asyncio.to_thread(path.read_text)).split()]


@pytest.mark.parametrize("mode", ["polite", "stubborn"])
async def test_timeout_kills_the_whole_process_group(
    client: AsyncExecutorClient, tmp_path: Path, mode: str
) -> None:
    timeout, grace = 1.0, ENABLED.kill_grace_seconds
    s = step("command.run", {"argv": python(FAMILY, mode)}, timeout=timeout)
    p = plan(s)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await client.execute_plan(p)
    elapsed = loop.time() - started
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TIMEOUT"
    leader, grandchild = await read_pids(tmp_path / "workspaces" / p.id / "pids")
    # The leader is reaped by the tool itself: not even a zombie is left.
    assert not await asyncio.to_thread(psutil.pid_exists, leader)
    await assert_gone(grandchild)
    if mode == "polite":
        assert elapsed < timeout + grace  # SIGTERM was enough
    else:
        assert timeout + grace <= elapsed < timeout + grace + 1.0  # SIGKILL after the grace


async def test_cancel_kills_the_whole_process_group_promptly(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    s = step("command.run", {"argv": python(FAMILY, "polite")})
    p = plan(s)
    await client.execute_plan(p, detach=True)
    leader, grandchild = await read_pids(tmp_path / "workspaces" / p.id / "pids")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.cancel_execution(p.id, "test")
    await wait_for_event(client, p.id, status="CANCELLED")
    assert loop.time() - started < 1.0
    assert not await asyncio.to_thread(psutil.pid_exists, leader)
    await assert_gone(grandchild)


async def test_what_a_finished_command_left_running_is_killed(
    client: AsyncExecutorClient,
) -> None:
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " stdout=subprocess.DEVNULL)\n"
        "print(p.pid)"
    )
    out = await run_one(client, {"argv": python(code)})
    await assert_gone(int(out["stdout"]))


async def test_memory_limit_is_enforced(client: AsyncExecutorClient) -> None:
    limits = pb.ResourceLimits(max_memory_mb=64)
    small = await run_one(
        client, {"argv": python("print(len(bytearray(1 << 20)))")}, resource_limits=limits
    )
    assert small["stdout"] == f"{1 << 20}\n"
    big = step("command.run", {"argv": python("x = bytearray(256 << 20)")})
    result = await run(client, big, resource_limits=limits)
    assert status_name(result.status) == "FAILED"
    assert "MemoryError" in result.error.message
    assert "limited to 64 MB" in result.error.message


async def test_cpu_cores_limit_and_usage_are_reported(client: AsyncExecutorClient) -> None:
    code = (
        "import os, time\n"
        "end = time.process_time() + 0.2\n"
        "while time.process_time() < end: pass\n"
        "print(len(os.sched_getaffinity(0)))"
    )
    limits = pb.ResourceLimits(max_cpu_cores=1)
    result = await run(client, step("command.run", {"argv": python(code)}), resource_limits=limits)
    assert status_name(result.status) == "COMPLETED", result.error.message
    out = output(result.step_results[0].output)
    assert out["stdout"] == "1\n"
    assert out["cpu_time_ms"] >= 150
    assert out["max_rss_mb"] > 1
    assert result.resource_usage.cpu_time_ms >= 150
    assert result.resource_usage.memory_peak_mb > 1


@with_command_settings(CommandSettings(enabled=True, allow=("echo", PY)))
async def test_allow_list_refuses_other_executables(client: AsyncExecutorClient) -> None:
    out = await run_one(client, {"argv": ["echo", "ok"]})
    assert out["stdout"] == "ok\n"
    out = await run_one(client, {"argv": python("print('py')")})
    assert out["stdout"] == "py\n"
    result = await run(client, step("command.run", {"argv": ["sh", "-c", "echo no"]}))
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert not result.error.retryable
    assert "not on this server's allow-list" in result.error.message
    # A bare-name entry allows that name only as written, not any file called `echo`.
    result = await run(client, step("command.run", {"argv": ["/usr/bin/echo", "x"]}))
    assert "not on this server's allow-list" in result.error.message


async def test_missing_executable_is_refused(client: AsyncExecutorClient) -> None:
    result = await run(client, step("command.run", {"argv": ["no-such-program-xyz"]}))
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert "not found" in result.error.message


@with_command_settings(CommandSettings())
async def test_an_unconfigured_instance_refuses_to_run(client: AsyncExecutorClient) -> None:
    result = await run(client, step("command.run", {"argv": ["echo", "x"]}))
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert "disabled" in result.error.message


def test_disabled_by_default_and_left_out_of_the_registry() -> None:
    registry = ToolRegistry.from_entry_points()
    assert "command.run" not in registry
    assert "--enable-command-run" in registry.disabled["command.run"]
    assert registry.load_errors == []
    enabled = ToolRegistry.from_entry_points(
        settings=ToolSettings(command=CommandSettings(enabled=True))
    )
    assert "command.run" in enabled


@pytest.mark.parametrize("tools", [None], indirect=True, ids=["not-registered"])
async def test_a_server_without_command_run_refuses_plans_using_it(
    client: AsyncExecutorClient,
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await run(client, step("command.run", {"argv": ["echo"]}))
    assert "command.run" in str(caught.value)


async def test_argv_must_not_be_empty(client: AsyncExecutorClient) -> None:
    with pytest.raises(InvalidArgumentError):
        await run(client, step("command.run", {"argv": []}))
