"""`command.run`: runs one executable (argv, no shell) in the execution's workspace.

Off unless the operator enables it (`--enable-command-run`), optionally only for the
executables on an allow-list (`--command-allow`). It is not a sandbox: a command may do
whatever the server's user may. What it gets:

- Its own session and process group (`start_new_session`). On timeout or cancel the whole
  group gets SIGTERM, then SIGKILL after a grace period; when the command ends by itself,
  whatever it left running in its group is killed too. The leader is always reaped. A
  process that starts a new session of its own escapes the group: only a cgroup could
  hold it, which is beyond this tool.
- Resource limits from the plan, applied before the program starts: `max_memory_mb` as
  RLIMIT_AS, `max_cpu_cores` as a CPU affinity mask, and the plan's remaining
  `max_disk_space_mb` as RLIMIT_FSIZE (a cap per file, not a total). They are set by a
  tiny Python trampoline that execs the program (`python -I -S -c ... argv`), not by a
  `preexec_fn`: running Python code between fork and exec is unsafe in a process with
  other threads (gRPC has several), while the trampoline is an ordinary exec. It costs an
  interpreter start (~15 ms), so it is used only when the plan sets a limit.
- An environment built from scratch: only the variables on the operator's pass-through
  list (`--command-env`, default PATH, LANG, LC_ALL, TZ) come from the server's own
  environment, plus TRACEPARENT (and TRACESTATE) when tracing is on, plus those the
  step's `env` sets explicitly.
- Exact CPU time and peak memory: the tool reaps the child itself with `wait4`, whose
  rusage covers the command and its reaped descendants, and reports them to the budget.
  The exit is awaited through a pidfd on the event loop, so no thread waits per command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import IO, Any

from executor_server.domain.models import JsonObject
from executor_server.tools._workspace import Workspace, refuse, split
from executor_server.tools.protocol import ToolContext, ToolSpec
from executor_server.tools.settings import CommandSettings, ToolDisabled, ToolSettings

__all__ = ["CommandRun"]

_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
_MiB = 1024 * 1024
#: How long output pipes may stay open after the process group is gone (a process that
#: left the group may hold them).
_PIPE_GRACE = 1.0

# Runs between the server and the program: applies the limits, then execs the program
# (same pid, same process group). argv: memory-bytes cores file-size-bytes path argv...
_TRAMPOLINE = """\
import os, resource, sys
memory, cores, fsize = (int(v) for v in sys.argv[1:4])
def limit(which, value):
    hard = resource.getrlimit(which)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(which, (value, value))
if memory >= 0:
    limit(resource.RLIMIT_AS, memory)
if fsize >= 0:
    limit(resource.RLIMIT_FSIZE, fsize)
if cores > 0:
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
try:
    os.execv(sys.argv[4], sys.argv[5:])
except OSError as exc:
    sys.stderr.write(f"cannot run {sys.argv[4]}: {exc.strerror}\\n")
    os._exit(127)
"""


class CommandRun:
    spec = ToolSpec(
        name="command.run",
        title="Run a command",
        description=(
            "Runs an executable with the given argv (no shell) in the execution's "
            "workspace, or a directory of it (`cwd`), with optional stdin and environment "
            "variables; returns the exit code and stdout/stderr (each cut at "
            "`max_output_bytes`). A non-zero exit fails the step unless `check` is false. "
            "On timeout or cancel the command's whole process group is terminated. The "
            "plan's max_memory_mb and max_cpu_cores limit the command. Only offered when "
            "the operator enables it, possibly for some executables only."
        ),
        input_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "argv": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "prefixItems": [{"type": "string", "minLength": 1}],
                    "description": "The executable (a name looked up on PATH, or a path) "
                    "and its arguments.",
                },
                "stdin": {"type": "string", "description": "Text fed to standard input."},
                "env": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "additionalProperties": {"type": "string"},
                    "description": "Variables set for the command, on top of the few the "
                    "operator passes through from the server.",
                },
                "cwd": {
                    "type": "string",
                    "default": ".",
                    "description": "The working directory, relative to the workspace "
                    "(created if missing).",
                },
                "max_output_bytes": {"type": "integer", "minimum": 0},
                "check": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail the step when the exit code is not 0.",
                },
            },
            "required": ["argv"],
            "additionalProperties": False,
        },
        output_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "exit_code": {
                    "type": "integer",
                    "description": "The exit status; -N when killed by signal N.",
                },
                "stdout": {"type": "string"},
                "stderr": {"type": "string"},
                "stdout_truncated": {"type": "boolean"},
                "stderr_truncated": {"type": "boolean"},
                "duration_ms": {"type": "number", "minimum": 0},
                "cpu_time_ms": {"type": "number", "minimum": 0},
                "max_rss_mb": {"type": "number", "minimum": 0},
            },
            "required": [
                "exit_code",
                "stdout",
                "stderr",
                "stdout_truncated",
                "stderr_truncated",
                "duration_ms",
                "cpu_time_ms",
                "max_rss_mb",
            ],
            "additionalProperties": False,
        },
        destructive=True,
        idempotent=False,
        open_world=True,
        default_timeout=timedelta(minutes=5),
    )

    def __init__(self, settings: CommandSettings | None = None) -> None:
        self.settings = settings or CommandSettings()

    def configure(self, settings: ToolSettings) -> None:
        """Raises ToolDisabled unless the operator enabled the tool."""
        self.settings = settings.command
        if not self.settings.enabled:
            raise ToolDisabled("disabled; start the server with --enable-command-run")

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        """Raises ToolError: TOOL_FAILED (not retryable) when disabled, for an executable
        that is missing or not allowed, a refused `cwd`, or a non-zero exit with `check`."""
        if not self.settings.enabled:
            raise refuse("command.run is disabled on this server (--enable-command-run)")
        argv = [str(a) for a in arguments["argv"]]
        cwd_parts = split(str(arguments.get("cwd", ".")), allow_root=True)
        env = {k: os.environ[k] for k in self.settings.env_passthrough if k in os.environ}
        # TRACEPARENT (and TRACESTATE): the attempt's trace, for a traced program to continue.
        env.update((k.upper(), v) for k, v in context.trace_context.items())
        env.update({str(k): str(v) for k, v in (arguments.get("env") or {}).items()})
        stdin = arguments.get("stdin")
        cap = min(
            int(arguments.get("max_output_bytes", self.settings.max_output_bytes)),
            self.settings.max_output_bytes,
        )

        def prepare() -> tuple[str, str]:
            with (
                Workspace(context.workspace, create=True) as ws,
                ws.directory(cwd_parts, create=True),
            ):
                pass
            cwd = os.path.join(context.workspace, *cwd_parts)
            return self._executable(argv[0], cwd, env), cwd

        executable, cwd = await asyncio.to_thread(prepare)
        limits = context.limits
        memory = limits.max_memory_mb * _MiB if limits.max_memory_mb else -1
        disk_left = context.disk_bytes_left()
        fsize = disk_left if disk_left is not None else -1
        if memory >= 0 or fsize >= 0 or limits.max_cpu_cores:
            args = [sys.executable, "-I", "-S", "-c", _TRAMPOLINE]
            args += [str(memory), str(limits.max_cpu_cores), str(fsize), executable, *argv]
            program = sys.executable
        else:
            args, program = argv, executable

        started = time.monotonic()
        run = _Run(self.settings.kill_grace_seconds)
        await run.spawn(
            lambda: subprocess.Popen(
                args,
                executable=program,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        )
        context.report_progress(0.0, f"started {argv[0]} as pid {run.pid}")
        exit_code, out, err, rusage = await run.communicate(
            stdin.encode() if stdin is not None else None, cap
        )
        cpu_ms = (rusage.ru_utime + rusage.ru_stime) * 1000.0
        max_rss_mb = rusage.ru_maxrss / 1024.0  # KiB on Linux
        context.add_cpu_time(cpu_ms)
        context.record_memory_peak(max_rss_mb)
        result = {
            "exit_code": exit_code,
            "stdout": out[0].decode("utf-8", errors="replace"),
            "stderr": err[0].decode("utf-8", errors="replace"),
            "stdout_truncated": out[1],
            "stderr_truncated": err[1],
            "duration_ms": round((time.monotonic() - started) * 1000.0, 3),
            "cpu_time_ms": round(cpu_ms, 3),
            "max_rss_mb": round(max_rss_mb, 3),
        }
        context.report_progress(1.0, f"exited with {exit_code}")
        if exit_code != 0 and arguments.get("check", True):
            raise refuse(_failure(argv[0], exit_code, result["stderr"], limits.max_memory_mb))
        return result

    def _executable(self, name: str, cwd: str, env: dict[str, str]) -> str:
        """The absolute path to run for argv[0], checked against the allow-list (blocks).

        Raises ToolError (TOOL_FAILED, not retryable) when missing or not allowed.
        """
        if "/" in name:
            path = os.path.join(cwd, name)  # an absolute name stays as it is
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                raise refuse(f"{name!r} is not an executable file")
        else:
            found = shutil.which(name, path=env.get("PATH", os.defpath))
            if found is None:
                raise refuse(f"executable {name!r} not found on PATH {env.get('PATH', '')!r}")
            path = os.path.abspath(found)
        allow = self.settings.allow
        if allow is not None:
            real = os.path.realpath(path)
            by_name = "/" not in name and name in allow
            by_path = any("/" in a and os.path.realpath(a) == real for a in allow)
            if not (by_name or by_path):
                raise refuse(
                    f"executable {name!r} ({real}) is not on this server's allow-list "
                    "(--command-allow)"
                )
        return path


def _failure(name: str, exit_code: int, stderr: str, memory_mb: int) -> str:
    if exit_code < 0:
        try:
            what = f"was killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            what = f"was killed by signal {-exit_code}"
    else:
        what = f"exited with {exit_code}"
    message = f"command {name!r} {what}"
    if memory_mb:
        message += f" (its memory was limited to {memory_mb} MB)"
    tail = stderr.strip()[-500:]
    return f"{message}: {tail}" if tail else message


class _Run:
    """One child process: spawned in a worker thread, awaited through a pidfd, reaped with
    wait4, and never left behind (see `communicate`)."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.proc: subprocess.Popen[bytes] | None = None
        self._loop = asyncio.get_running_loop()
        # An Event, not a future: cancelling a task cancels the future it awaits.
        self._exited = asyncio.Event()
        self._pidfd = -1
        self._reaped: tuple[int, Any] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def spawn(self, start: Callable[[], subprocess.Popen[bytes]]) -> None:
        """Start the process (fork/exec off the loop). A cancel while it starts still
        waits for it, then stops it, so no process escapes.

        Raises ToolError (TOOL_FAILED, not retryable) when it cannot start.
        """
        starting = asyncio.ensure_future(asyncio.to_thread(start))
        try:
            self.proc = await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                self.proc = await starting
                self._watch()
                try:
                    await self._stop()
                finally:
                    self._close_pipes()
            raise
        except OSError as exc:
            raise refuse(f"cannot start the command: {exc.strerror}") from None
        self._watch()

    def _watch(self) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            # No pidfds (an old kernel): a worker thread waits for the exit instead.
            waiting = self._loop.run_in_executor(None, self._wait_blocking)
            waiting.add_done_callback(lambda _: self._on_exit())
            return
        self._loop.add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        # A pidfd stays readable: stop watching at once, or the loop would spin.
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        self._exited.set()

    def _wait_blocking(self) -> None:
        # Waits without reaping (WNOWAIT): the reaper collects the rusage.
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)

    def _reap_blocking(self) -> tuple[int, Any]:
        """Reap the leader (waits for it), once; returns its exit code and rusage."""
        assert self.proc is not None
        if self._reaped is None:
            _, status, rusage = os.wait4(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            # Popen must neither wait for nor warn about a child it no longer owns.
            self.proc.returncode = code
            self._reaped = (code, rusage)
        return self._reaped

    def _signal_group(self, sig: signal.Signals) -> None:
        # The group id is the leader's pid (a new session); ESRCH: nothing left in it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def _stop(self) -> None:
        """SIGTERM the group, SIGKILL it after the grace period, reap the leader."""
        try:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.grace):
                    await self._exited.wait()
        finally:
            # SIGKILL also reaches what the leader started, whether or not it has exited.
            self._signal_group(signal.SIGKILL)
            # The exit is imminent; shielded so that a second cancel cannot leave a zombie:
            # the worker thread reaps it even if this task stops waiting.
            await asyncio.shield(self._loop.run_in_executor(None, self._reap_blocking))

    def _close_pipes(self) -> None:
        assert self.proc is not None
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    async def communicate(
        self, stdin: bytes | None, cap: int
    ) -> tuple[int, tuple[bytes, bool], tuple[bytes, bool], Any]:
        """Feed stdin, collect capped stdout/stderr, wait for the exit; returns the exit
        code, (stdout, truncated), (stderr, truncated) and the rusage. The group is
        stopped before CancelledError (or any error) propagates."""
        proc = self.proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        transports: list[asyncio.BaseTransport] = []
        tasks: list[asyncio.Future[Any]] = []
        try:
            out = asyncio.ensure_future(self._drain(proc.stdout, cap, transports))
            err = asyncio.ensure_future(self._drain(proc.stderr, cap, transports))
            tasks += [out, err]
            if stdin is not None and proc.stdin is not None:
                tasks.append(asyncio.ensure_future(self._feed(proc.stdin, stdin, transports)))
            await self._exited.wait()
            # Exited already: wait4 returns at once.
            code, rusage = self._reap_blocking()
            # Whatever the command left running in its group goes with it.
            self._signal_group(signal.SIGKILL)
            await asyncio.wait(tasks, timeout=_PIPE_GRACE)
            return code, _result_of(out), _result_of(err), rusage
        finally:
            for task in tasks:
                task.cancel()
            for transport in transports:
                transport.close()
            self._close_pipes()
            if self._reaped is None:
                await self._stop()
            if tasks:
                await asyncio.wait(tasks)
                for task in tasks:  # retrieved, so none is logged as never retrieved
                    if not task.cancelled():
                        task.exception()

    async def _drain(
        self, pipe: IO[bytes], cap: int, transports: list[asyncio.BaseTransport]
    ) -> tuple[bytes, bool]:
        reader = asyncio.StreamReader()
        transport, _ = await self._loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        transports.append(transport)
        kept = bytearray()
        total = 0
        # Keep reading past the cap: a child blocked on a full pipe would never exit.
        while chunk := await reader.read(64 * 1024):
            total += len(chunk)
            if len(kept) < cap:
                kept += chunk[: cap - len(kept)]
        return bytes(kept), total > cap

    async def _feed(
        self, pipe: IO[bytes], data: bytes, transports: list[asyncio.BaseTransport]
    ) -> None:
        transport, protocol = await self._loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), pipe
        )
        transports.append(transport)
        writer = asyncio.StreamWriter(transport, protocol, None, self._loop)
        # A command that exits without reading all its input is not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            writer.write(data)
            await writer.drain()
        writer.close()


def _result_of(task: asyncio.Future[tuple[bytes, bool]]) -> tuple[bytes, bool]:
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    return b"", True
