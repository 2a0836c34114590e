"""`executor`: every operation of the service, one command each.

Exit codes: 0 the command succeeded (for `run`/`watch`: the execution COMPLETED), 1 the
execution ended any other way, 2 the request was refused (invalid plan, bad usage,
authentication, not found, not allowed now) or the server could not be reached, 130 after
a Ctrl-C detach.

A new operation is one function here: a command that calls the client (see `pause`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from executor_client._common import DEFAULT_TARGET
from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_client.aio import AsyncExecutorClient
from executor_client.cli import render
from executor_client.cli.follow import EXIT_INTERRUPTED, Mode, follow
from executor_client.errors import ExecutorClientError
from executor_client.planfile import (
    MAX_FILE_BYTES,
    LoadedPlan,
    PlanFileError,
    Problem,
    load_plan,
    parse_duration,
    parse_plan,
)
from executor_client.plans import status_name, step_status_name

__all__ = ["cli", "main"]

EXIT_OK, EXIT_ENDED_OTHERWISE, EXIT_REFUSED = 0, 1, 2
SERVER_ENV, TOKEN_ENV = "EXECUTOR_SERVER", "EXECUTOR_TOKEN"
TLS_ENV, TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV, TLS_SERVER_NAME_ENV = (
    "EXECUTOR_TLS",
    "EXECUTOR_TLS_CA",
    "EXECUTOR_TLS_CERT",
    "EXECUTOR_TLS_KEY",
    "EXECUTOR_TLS_SERVER_NAME",
)

T = TypeVar("T")


@dataclass
class Settings:
    """The options every command takes, before or after the command's name."""

    server: str = DEFAULT_TARGET
    server_given: bool = False
    token: str | None = None
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_server_name: str | None = None
    output: str = "text"
    stdout: Console = field(default_factory=lambda: render.console(sys.stdout))
    stderr: Console = field(default_factory=render.stderr_console)

    @property
    def json(self) -> bool:
        return self.output == "json"

    @property
    def speaks_tls(self) -> bool:
        return self.tls or self.tls_ca is not None or self.tls_cert is not None

    def tls_material(self) -> dict[str, Any]:
        """The client's TLS arguments, the files read and checked: a usage error (exit 2)
        for a file that cannot be read or holds the wrong kind of PEM, or a certificate
        without its key."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise click.UsageError(
                f"--tls-cert and --tls-key go together (env {TLS_CERT_ENV}, {TLS_KEY_ENV}): "
                "the certificate and the key it was issued for"
            )
        return {
            "tls": self.tls,
            "tls_ca": _pem(self.tls_ca, b"CERTIFICATE", "--tls-ca", TLS_CA_ENV),
            "tls_cert": _pem(self.tls_cert, b"CERTIFICATE", "--tls-cert", TLS_CERT_ENV),
            "tls_key": _pem(self.tls_key, b"PRIVATE KEY", "--tls-key", TLS_KEY_ENV),
            "tls_server_name": self.tls_server_name,
        }

    def client(
        self, timeout: float | None = 30.0, tls: dict[str, Any] | None = None
    ) -> AsyncExecutorClient:
        return AsyncExecutorClient(
            self.server, timeout=timeout, token=self.token or None, **(tls or {})
        )


def _pem(path: str | None, kind: bytes, flag: str, env: str) -> bytes | None:
    if path is None:
        return None
    hint = f"{flag} (env {env})"
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}", param_hint=hint) from None
    if b"-----BEGIN " not in data or kind not in data:
        what = kind.decode().lower()
        raise click.BadParameter(f"{path} is not a PEM file holding a {what}", param_hint=hint)
    return data


def _set(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        settings = ctx.ensure_object(Settings)
        if value is None or value is False:  # --tls only turns TLS on
            return
        setattr(settings, name, value)
        if name == "server":
            source = ctx.get_parameter_source(param.name or "")
            settings.server_given = source not in (None, click.core.ParameterSource.DEFAULT)

    return callback


def connection_options(*, top: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """--server, --token, the --tls options and --output; on the group they read the
    environment too."""

    def decorate(f: Callable[..., T]) -> Callable[..., T]:
        options = [
            click.option(
                "--server",
                "-s",
                metavar="HOST:PORT",
                envvar=SERVER_ENV if top else None,
                default=DEFAULT_TARGET if top else None,
                show_default=top,
                expose_value=False,
                callback=_set("server"),
                help=f"the Executor server (env {SERVER_ENV})",
            ),
            click.option(
                "--token",
                metavar="TOKEN",
                envvar=TOKEN_ENV if top else None,
                expose_value=False,
                callback=_set("token"),
                help=f"bearer token, when the server requires one (env {TOKEN_ENV}: safer, "
                "as other users can read a command line)",
            ),
            click.option(
                "--tls",
                is_flag=True,
                default=None,
                envvar=TLS_ENV if top else None,
                expose_value=False,
                callback=_set("tls"),
                help=f"speak TLS, trusting the system's CAs (env {TLS_ENV}=1; "
                "implied by --tls-ca and --tls-cert)",
            ),
            click.option(
                "--tls-ca",
                metavar="PEM",
                envvar=TLS_CA_ENV if top else None,
                expose_value=False,
                callback=_set("tls_ca"),
                help=f"speak TLS, trusting the CA in this file (env {TLS_CA_ENV})",
            ),
            click.option(
                "--tls-cert",
                metavar="PEM",
                envvar=TLS_CERT_ENV if top else None,
                expose_value=False,
                callback=_set("tls_cert"),
                help=f"client certificate chain, for a server that asks for one (mutual TLS; "
                f"env {TLS_CERT_ENV})",
            ),
            click.option(
                "--tls-key",
                metavar="PEM",
                envvar=TLS_KEY_ENV if top else None,
                expose_value=False,
                callback=_set("tls_key"),
                help=f"the client certificate's private key (env {TLS_KEY_ENV})",
            ),
            click.option(
                "--tls-server-name",
                metavar="NAME",
                envvar=TLS_SERVER_NAME_ENV if top else None,
                expose_value=False,
                callback=_set("tls_server_name"),
                help="check the server's certificate against this name instead of the host "
                f"of --server (env {TLS_SERVER_NAME_ENV})",
            ),
            click.option(
                "--output",
                "-o",
                type=click.Choice(["text", "json"]),
                default="text" if top else None,
                expose_value=False,
                callback=_set("output"),
                help="text for people; json (proto JSON, one object per line) for scripts",
            ),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def _version() -> str:
    try:
        return version("executor-client")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="executor")
@connection_options(top=True)
def cli() -> None:
    """Run action plans on an Executor server, and control their executions."""


@cli.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args: tuple[str, ...]) -> None:
    """Run the server (`executor serve --help` for its flags)."""
    # The server's own parser owns every serve flag; a client-only install has none.
    try:
        from executor_server.cli import main as serve_main
    except ImportError:
        render.stderr_console().print(
            "error: `executor serve` comes with the server package (the `executor` wheel); "
            "this installation has only the client"
        )
        sys.exit(EXIT_REFUSED)
    sys.exit(serve_main(["serve", *args]))


# ------------------------------------------------------------------ helpers


def _settings() -> Settings:
    return click.get_current_context().ensure_object(Settings)


def _call(
    work: Callable[[AsyncExecutorClient], Awaitable[int]],
    plan: LoadedPlan | None = None,
    *,
    timeout: float | None = 30.0,
) -> NoReturn:
    """Runs one command against the server and exits with its code; a refused request is
    shown with the server's details (on stdout as JSON with --output json)."""
    settings = _settings()
    tls = settings.tls_material()

    async def session() -> int:
        async with settings.client(timeout, tls) as client:
            return await work(client)

    try:
        code = asyncio.run(session())
    except ExecutorClientError as error:
        _refused(settings, error, plan)
        code = EXIT_REFUSED
    except KeyboardInterrupt:  # outside a follow, which handles Ctrl-C itself
        code = EXIT_INTERRUPTED
    sys.exit(code)


def _refused(settings: Settings, error: ExecutorClientError, plan: LoadedPlan | None) -> None:
    if settings.json:
        violations = []
        for v in error.field_violations:
            item: dict[str, Any] = {"field": v.field, "description": v.description}
            if plan is not None and (line := plan.locate(v.field)):
                item["line"] = line
            violations.append(item)
        body: dict[str, Any] = {"code": error.code.name, "message": error.message}
        if error.reason:
            body |= {"reason": error.reason, "metadata": error.metadata}
        if violations:
            body["fieldViolations"] = violations
        _print_json({"error": body})
    render.print_client_error(settings.stderr, error, plan)
    if error.code.name == "UNAVAILABLE":
        settings.stderr.print(f"  ({_unreachable_hint(settings, error.message)})", highlight=False)


def _unreachable_hint(settings: Settings, message: str) -> str:
    """What to check when the server could not be reached, as far as gRPC's message tells:
    a handshake that failed, or a server that hung up at once (it speaks TLS and this
    client does not, or it wants a client certificate this client has not sent)."""
    server = settings.server
    if "CERTIFICATE_VERIFY_FAILED" in message:
        return (
            f"the certificate of {server} is not trusted: pass the CA that signed it with "
            f"--tls-ca (env {TLS_CA_ENV})"
        )
    if "Hostname Verification" in message or "not in peer certificate" in message:
        return (
            f"the certificate of {server} names another host: pass the name it was issued "
            f"for with --tls-server-name (env {TLS_SERVER_NAME_ENV})"
        )
    if "handshake failed" in message.lower():
        return f"the TLS handshake with {server} failed: does it speak TLS?"
    if "Socket closed" in message:
        if not settings.speaks_tls:
            return f"{server} hung up: if it speaks TLS, pass --tls-ca (env {TLS_CA_ENV}) or --tls"
        if settings.tls_cert is None:
            return (
                f"{server} hung up during the TLS handshake: if it asks for a client "
                f"certificate (mutual TLS), pass --tls-cert and --tls-key (env {TLS_CERT_ENV}, "
                f"{TLS_KEY_ENV})"
            )
        return f"{server} hung up during the TLS handshake: was the client certificate refused?"
    return f"is a server running at {server}? start one with `executor serve`, or pass --server"


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _read(path: str, plan_id: str | None = None) -> LoadedPlan:
    """The plan file at `path`, or on standard input for `-` (a planner's output, piped).

    Raises:
        PlanFileError: It cannot be read or is no valid plan.
    """
    if path != "-":
        return load_plan(path, plan_id=plan_id)
    text = sys.stdin.read(MAX_FILE_BYTES + 1)
    if len(text) > MAX_FILE_BYTES:
        raise PlanFileError("<stdin>", [Problem("", f"larger than {MAX_FILE_BYTES} bytes")])
    return parse_plan(text, source="<stdin>", plan_id=plan_id)


def _load(path: str, plan_id: str | None) -> LoadedPlan:
    """Like `_read`; a plan file that is no valid plan ends the command (exit code 2)."""
    settings = _settings()
    try:
        return _read(path, plan_id)
    except PlanFileError as error:
        _load_failed(settings, error)
        sys.exit(EXIT_REFUSED)


def _follow_mode(settings: Settings) -> Mode:
    if settings.json:
        return "json"
    return "live" if settings.stdout.is_terminal else "plain"


_plan_argument = click.argument(
    "plan_file", metavar="PLAN", type=click.Path(dir_okay=False, allow_dash=True)
)
_id_option = click.option(
    "--id",
    "plan_id",
    metavar="UUID",
    help="the plan id (default: the file's `id`, else a fresh one for each submission)",
)


# ------------------------------------------------------------------ plans


@cli.command()
@_plan_argument
@_id_option
@click.option("--detach", "-d", is_flag=True, help="print the plan id once it runs, and return")
@connection_options()
def run(plan_file: str, plan_id: str | None, detach: bool) -> None:
    """Submit PLAN (a YAML or JSON file, `-` for standard input) and follow it to its end.

    On a terminal it shows a live view; elsewhere one line per event. Ctrl-C asks whether
    to detach or cancel (not on a terminal: it detaches). Exits 0 when the execution
    COMPLETED, 1 when it ended otherwise.
    """
    settings = _settings()
    loaded = _load(plan_file, plan_id)

    async def work(client: AsyncExecutorClient) -> int:
        result = await client.execute_plan(loaded.plan, loaded.options, detach=True)
        if detach:
            _show_submitted(settings, result)
            return EXIT_OK
        return await follow(
            client,
            result.plan_id,
            console=settings.stdout,
            mode=_follow_mode(settings),
            interactive=settings.stdout.is_terminal and sys.stdin.isatty(),
        )

    _call(work, loaded)


@cli.command()
@_plan_argument
@_id_option
@connection_options()
def submit(plan_file: str, plan_id: str | None) -> None:
    """Submit PLAN and print its id once it runs (`run --detach`)."""
    settings = _settings()
    loaded = _load(plan_file, plan_id)

    async def work(client: AsyncExecutorClient) -> int:
        _show_submitted(
            settings, await client.execute_plan(loaded.plan, loaded.options, detach=True)
        )
        return EXIT_OK

    _call(work, loaded)


def _show_submitted(settings: Settings, result: pb.ExecutionResult) -> None:
    if settings.json:
        render.emit_json(settings.stdout, result)
    else:
        sys.stdout.write(result.plan_id + "\n")


@cli.command()
@click.argument(
    "plan_files",
    metavar="PLAN...",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
)
@connection_options()
def validate(plan_files: tuple[str, ...]) -> None:
    """Check each PLAN without running it.

    Offline: its fields, durations, step names, dependencies, cycles and references. With
    --server (or EXECUTOR_SERVER) also its tools and their arguments against that server's
    schemas. Exits 0 when every plan is valid, 2 otherwise.
    """
    from executor_client.cli.check import check_against_tools  # jsonschema: only here

    settings = _settings()
    loaded: list[LoadedPlan] = []
    failed = False
    for path in plan_files:
        try:
            loaded.append(_read(path))
        except PlanFileError as error:
            _load_failed(settings, error)
            failed = True
    if not settings.server_given:
        for plan in loaded:
            _valid(settings, plan, "offline")
        sys.exit(EXIT_REFUSED if failed else EXIT_OK)

    async def work(client: AsyncExecutorClient) -> int:
        tools = await client.list_tools()
        bad = failed
        for plan in loaded:
            if problems := check_against_tools(plan, tools):
                _load_failed(settings, PlanFileError(plan.source, problems))
                bad = True
            else:
                _valid(settings, plan, f"against {settings.server}")
        return EXIT_REFUSED if bad else EXIT_OK

    _call(work)


def _valid(settings: Settings, loaded: LoadedPlan, how: str) -> None:
    steps = len(loaded.plan.steps)
    if settings.json:
        _print_json({"file": loaded.source, "valid": True, "checked": how, "steps": steps})
    else:
        settings.stdout.print(f"{loaded.source}: valid ({steps} steps, checked {how})")


def _load_failed(settings: Settings, error: PlanFileError) -> None:
    if settings.json:
        _print_json(
            {
                "file": error.source,
                "error": {
                    "code": "INVALID_PLAN_FILE",
                    "problems": [
                        {"path": p.path, "message": p.message, "line": p.line}
                        for p in error.problems
                    ],
                },
            }
        )
    render.print_plan_error(settings.stderr, error)


# ------------------------------------------------------------------ executions


@cli.command()
@click.argument("plan_id", metavar="ID")
@connection_options()
def status(plan_id: str) -> None:
    """Status, progress, step results and usage of execution ID."""
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        response = await client.get_execution_status(plan_id)
        if settings.json:
            render.emit_json(settings.stdout, response)
        else:
            render.print_status(settings.stdout, response)
        return EXIT_OK

    _call(work)


@cli.command()
@click.argument("plan_id", metavar="ID")
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="only events after sequence N (resume where you left off)",
)
@connection_options()
def watch(plan_id: str, after: int) -> None:
    """Follow execution ID to its end (replaying what happened so far).

    Exits 0 when it COMPLETED, 1 when it ended otherwise.
    """
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        return await follow(
            client,
            plan_id,
            console=settings.stdout,
            mode=_follow_mode(settings),
            after_sequence=after,
            interactive=settings.stdout.is_terminal and sys.stdin.isatty(),
        )

    _call(work)


def _control(
    name: str, summary: str, operation: Callable[[AsyncExecutorClient, str], Awaitable[int]]
) -> None:
    """Registers `executor NAME ID`: one call, its new status printed."""

    @cli.command(name=name, help=f"{summary}\n\nPrints the execution's new status.")
    @click.argument("plan_id", metavar="ID")
    @connection_options()
    def command(plan_id: str) -> None:
        settings = _settings()

        async def work(client: AsyncExecutorClient) -> int:
            new_status = await operation(client, plan_id)
            _show_status(settings, plan_id, new_status)
            return EXIT_OK

        _call(work)


def _show_status(settings: Settings, plan_id: str, new_status: int) -> None:
    if settings.json:
        _print_json({"planId": plan_id, "status": f"EXECUTION_STATUS_{status_name(new_status)}"})
    else:
        settings.stdout.print(f"{plan_id}: {render.styled(status_name(new_status))}")


_control(
    "pause",
    "Pause execution ID: no new attempt starts; running ones finish.",
    lambda c, i: c.pause_execution(i),
)
_control(
    "resume", "Resume paused execution ID where it stopped.", lambda c, i: c.resume_execution(i)
)


@cli.command()
@click.argument("plan_id", metavar="ID")
@click.option("--reason", default="", help="recorded with the cancellation")
@connection_options()
def cancel(plan_id: str, reason: str) -> None:
    """Cancel execution ID: running attempts are cancelled, pending steps will not run."""
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        _show_status(settings, plan_id, await client.cancel_execution(plan_id, reason))
        return EXIT_OK

    _call(work)


@cli.command()
@click.argument("plan_id", metavar="ID")
@click.option("--detach", "-d", is_flag=True, help="return once the rollback has started")
@connection_options()
def rollback(plan_id: str, detach: bool) -> None:
    """Compensate the completed steps of FAILED or CANCELLED execution ID.

    Waits for the rollback to end unless --detach; exits 0 when ROLLED_BACK, 1 otherwise.
    """
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        new_status = await client.rollback_execution(plan_id, detach=detach)
        _show_status(settings, plan_id, new_status)
        if detach or new_status == pb.EXECUTION_STATUS_ROLLED_BACK:
            return EXIT_OK
        return EXIT_ENDED_OTHERWISE

    _call(work, timeout=30.0 if detach else None)  # a rollback may take long


@cli.command()
@click.argument("plan_id", metavar="ID")
@click.option("--detach", "-d", is_flag=True, help="return once it runs again")
@click.option(
    "--max-tool-invocations",
    type=click.IntRange(min=0),
    help="replace the resource limits: at most N tool calls in all (those made count)",
)
@click.option(
    "--max-network-requests",
    type=click.IntRange(min=0),
    help="replace the resource limits: at most N network requests in all",
)
@click.option(
    "--max-execution-time",
    metavar="DURATION",
    help="replace the resource limits: a new deadline (30s, 5m, 1h), from the retry on",
)
@connection_options()
def retry(
    plan_id: str,
    detach: bool,
    max_tool_invocations: int | None,
    max_network_requests: int | None,
    max_execution_time: str | None,
) -> None:
    """Run FAILED or CANCELLED execution ID again from where it stopped.

    Its failed, cancelled and skipped steps run again; completed ones keep their outputs.
    Any --max-* option replaces the execution's resource limits as a whole (unset ones
    become unlimited). Follows it like `run` unless --detach; exits 0 when it COMPLETED.
    """
    settings = _settings()
    limits = None
    if max_tool_invocations is not None or max_network_requests is not None or max_execution_time:
        limits = pb.ResourceLimits(
            max_tool_invocations=max_tool_invocations or 0,
            max_network_requests=max_network_requests or 0,
        )
        if max_execution_time:
            try:
                limits.max_execution_time.FromNanoseconds(parse_duration(max_execution_time))
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--max-execution-time") from None

    async def work(client: AsyncExecutorClient) -> int:
        before = await client.get_execution_status(plan_id)
        result = await client.retry_execution(plan_id, detach=True, resource_limits=limits)
        if detach:
            _show_status(settings, plan_id, result.status)
            return EXIT_OK
        return await follow(
            client,
            plan_id,
            console=settings.stdout,
            mode=_follow_mode(settings),
            after_sequence=before.last_sequence,
            interactive=settings.stdout.is_terminal and sys.stdin.isatty(),
        )

    _call(work)


@cli.command()
@click.argument("plan_id", metavar="ID")
@connection_options()
def delete(plan_id: str) -> None:
    """Forget finished execution ID: its journal, results and workspace."""
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        await client.delete_execution(plan_id)
        if settings.json:
            _print_json({"planId": plan_id, "deleted": True})
        else:
            settings.stdout.print(f"{plan_id}: deleted")
        return EXIT_OK

    _call(work)


_STATUSES = [
    v.name.removeprefix("EXECUTION_STATUS_") for v in pb.ExecutionStatus.DESCRIPTOR.values
][1:]


@cli.command(name="list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="STATUS",
    type=click.Choice(_STATUSES, case_sensitive=False),
    help=f"only these statuses (repeatable): {', '.join(_STATUSES)}",
)
@click.option("--name", default="", help="only plans with exactly this name")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="at most this many, newest first",
)
@connection_options()
def list_(statuses: Sequence[str], name: str, limit: int) -> None:
    """Executions the server knows, newest first."""
    settings = _settings()
    wanted = [f"EXECUTION_STATUS_{s.upper()}" for s in statuses]

    async def work(client: AsyncExecutorClient) -> int:
        found: list[pb.ExecutionSummary] = []
        token = ""
        while len(found) < limit:
            page = await client.list_executions_page(
                pb.ListExecutionsRequest(
                    page_size=min(limit - len(found), 1000),
                    page_token=token,
                    statuses=wanted,
                    plan_name=name,
                )
            )
            found.extend(page.executions)
            if not (token := page.next_page_token):
                break
        if settings.json:
            for summary in found[:limit]:
                render.emit_json(settings.stdout, summary)
        else:
            render.print_executions(settings.stdout, found[:limit])
        return EXIT_OK

    _call(work)


@cli.command()
@click.argument("name", required=False)
@connection_options()
def tools(name: str | None) -> None:
    """The server's tools; with NAME, that tool's description, hints and schemas."""
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        first = await client.list_tools_page()
        specs = list(first.tools) + await _rest_of_tools(client, first.next_page_token)
        if name is None:
            if settings.json:
                for spec in specs:
                    render.emit_json(settings.stdout, spec)
            else:
                render.print_tools(settings.stdout, specs)
            for error in first.load_errors:
                settings.stderr.print(
                    f"warning: plugin {error.entry_point} not loaded: {error.message}"
                )
            return EXIT_OK
        for spec in specs:
            if spec.name == name:
                if settings.json:
                    render.emit_json(settings.stdout, spec)
                else:
                    render.print_tool(settings.stdout, spec)
                return EXIT_OK
        settings.stderr.print(
            f"error: the server has no tool {name!r} (it has: {', '.join(s.name for s in specs)})"
        )
        return EXIT_REFUSED

    _call(work)


async def _rest_of_tools(client: AsyncExecutorClient, token: str) -> list[pb.ToolSpec]:
    specs: list[pb.ToolSpec] = []
    while token:
        page = await client.list_tools_page(page_token=token)
        specs.extend(page.tools)
        token = page.next_page_token
    return specs


# ------------------------------------------------------------------ approvals and signals


def _json_option(text: str | None, file: str | None, what: str) -> Any:
    """JSON given inline or in a file (`-` for stdin); None when neither is."""
    if text is not None and file is not None:
        raise click.UsageError(f"give the {what} inline or as a file, not both")
    if file is not None:
        text = click.open_file(file, encoding="utf-8").read()
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.UsageError(f"the {what} is not JSON: {exc}") from None


def _show_step(settings: Settings, plan_id: str, result: pb.StepResult) -> None:
    if settings.json:
        render.emit_json(settings.stdout, result)
        return
    label = result.step_name or result.step_id
    settings.stdout.print(
        f"{plan_id}: step {label} {render.decided(result.approval.decision)}, "
        f"now {render.styled(step_status_name(result.status))}"
    )


@cli.command()
@click.argument("plan_id", metavar="ID")
@click.argument("step")
@click.option("--comment", "-m", default="", help="recorded with the decision")
@click.option(
    "--arguments",
    "arguments_json",
    metavar="JSON",
    help="run the tool with these arguments instead (the gate must allow editing)",
)
@click.option(
    "--arguments-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="the replacement arguments as a JSON file ('-' for stdin)",
)
@connection_options()
def approve(
    plan_id: str,
    step: str,
    comment: str,
    arguments_json: str | None,
    arguments_file: str | None,
) -> None:
    """Approve the gate of STEP (an id or name) of execution ID: its tool runs."""
    settings = _settings()
    arguments = _json_option(arguments_json, arguments_file, "arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise click.UsageError("the arguments must be a JSON object")

    async def work(client: AsyncExecutorClient) -> int:
        result = await client.approve_step(plan_id, step, arguments=arguments, comment=comment)
        _show_step(settings, plan_id, result)
        return EXIT_OK

    _call(work)


@cli.command()
@click.argument("plan_id", metavar="ID")
@click.argument("step")
@click.option("--comment", "-m", default="", help="why; it becomes the step's error")
@connection_options()
def reject(plan_id: str, step: str, comment: str) -> None:
    """Reject the gate of STEP of execution ID: the step fails with REJECTED."""
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        _show_step(settings, plan_id, await client.reject_step(plan_id, step, comment=comment))
        return EXIT_OK

    _call(work)


@cli.command()
@click.argument("plan_id", metavar="ID")
@click.argument("name")
@click.argument("payload", required=False, metavar="[PAYLOAD]")
@click.option(
    "--payload-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="the payload as a JSON file ('-' for stdin)",
)
@connection_options()
def signal(plan_id: str, name: str, payload: str | None, payload_file: str | None) -> None:
    """Send signal NAME to execution ID, with a JSON PAYLOAD (default null): the step
    waiting for it completes with the payload as its output."""
    settings = _settings()
    value = _json_option(payload, payload_file, "payload")

    async def work(client: AsyncExecutorClient) -> int:
        _show_status(settings, plan_id, await client.signal_execution(plan_id, name, value))
        return EXIT_OK

    _call(work)


@cli.command()
@click.option("--plan", "plan_id", default="", metavar="ID", help="only execution ID's gates")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="at most this many, oldest first",
)
@connection_options()
def approvals(plan_id: str, limit: int) -> None:
    """The inbox: approval gates waiting for a decision, oldest first."""
    settings = _settings()

    async def work(client: AsyncExecutorClient) -> int:
        found: list[pb.PendingApproval] = []
        token = ""
        while len(found) < limit:
            page = await client.list_approvals_page(
                plan_id, page_size=min(limit - len(found), 1000), page_token=token
            )
            found.extend(page.approvals)
            if not (token := page.next_page_token):
                break
        if settings.json:
            for approval in found[:limit]:
                render.emit_json(settings.stdout, approval)
        else:
            render.print_approvals(settings.stdout, found[:limit])
        return EXIT_OK

    _call(work)


def main(argv: Sequence[str] | None = None) -> None:
    """The `executor` console script."""
    # A pipe closed early (`executor list | head`) is not an error worth a traceback.
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="executor")
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_ENDED_OTHERWISE)
