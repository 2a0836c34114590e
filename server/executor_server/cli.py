"""`executor serve`: run the server until SIGTERM or SIGINT, then shut down gracefully.

The `executor` command itself is the client's (`executor_client.cli`), which hands
`serve ARGS` to `main` here, so a client-only install has every other command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from executor_server.app import (
    DEFAULT_ADDRESS,
    Config,
    Unprotected,
    build_server,
    default_data_dir,
    default_replica_id,
    tune_gc,
)
from executor_server.domain.access import TokenTable, parse_tokens
from executor_server.domain.limits import Limits
from executor_server.engine.secrets import Secrets
from executor_server.observability.telemetry import parse_address
from executor_server.rpc.auth import Access
from executor_server.rpc.server import ExecutorServer
from executor_server.rpc.tls import ServerTls, TlsFiles
from executor_server.store.postgres import check_url, is_postgres_url, redact
from executor_server.store.protocol import StoreError
from executor_server.tools.settings import (
    CommandSettings,
    HttpSettings,
    NetworkPolicy,
    ToolSettings,
)

log = logging.getLogger("executor_server")

TOKENS_ENV = "EXECUTOR_AUTH_TOKENS"


def configure_logging(level: str, fmt: str, secrets: Secrets | None = None) -> None:
    """Structured logs for our code and the libraries' stdlib logging alike, with every
    secret's value masked in whatever a record carries."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                *([_masking(secrets)] if secrets is not None else []),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _masking(secrets: Secrets) -> structlog.typing.Processor:
    def mask(logger: object, name: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        masker = secrets.masker()  # the current secrets, after a reload too
        if masker is None:
            return event
        return {key: masker.value(_plain(value)) for key, value in event.items()}

    return mask


def _plain(value: Any) -> Any:
    """JSON-like values as they are, anything else as its text (so it can be masked)."""
    if value is None or isinstance(value, (str, int, float, bool, dict, list)):
        return value
    return str(value)


def _parser() -> argparse.ArgumentParser:
    """Every flag of `executor serve`, in one place (the other commands are the client's)."""
    parser = argparse.ArgumentParser(prog="executor", description="The Executor plan runner.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--address", default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="where the journal and workspaces live (default: %(default)s, per user: "
        "every checkout and install of this user shares it)",
    )
    # -- the journal: a SQLite file, or PostgreSQL shared by replicas (README: replicas)
    serve.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the SQLite journal (default: DATA_DIR/executor.db), or "
        "postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME for replicas sharing one database",
    )
    serve.add_argument(
        "--replica-id",
        help="this replica's id on PostgreSQL, unique among live replicas (default: HOSTNAME:PORT)",
    )
    serve.add_argument(
        "--lease-seconds",
        type=float,
        default=10.0,
        help="on PostgreSQL, how long after its last heartbeat a replica's executions may "
        "be taken over by another (default: %(default)s)",
    )
    serve.add_argument(
        "--journal-sync",
        choices=["full", "normal"],
        default="full",
        help="full: each commit reaches the disk (survives power loss); normal: survives a "
        "crash of the server process only, and commits are far cheaper (default: %(default)s)",
    )
    serve.add_argument(
        "--in-memory",
        action="store_true",
        help="keep no journal: executions are lost when the server stops",
    )
    serve.add_argument("--allow-tool", action="append", metavar="NAME", help="only these tools")
    serve.add_argument("--deny-tool", action="append", default=[], metavar="NAME")
    serve.add_argument("--max-active-executions", type=int, default=1000)
    serve.add_argument(
        "--retention-hours",
        type=float,
        default=24 * 7,
        help="purge finished executions (and their workspaces) this long after they end; "
        "0 keeps them forever (default: %(default)s)",
    )
    http = serve.add_argument_group("http.request")
    http.add_argument(
        "--http-allow",
        action="append",
        default=[],
        metavar="HOST|CIDR",
        help="let http.request reach this host name (*.example.com for subdomains), "
        "address or network, e.g. a private one (repeatable)",
    )
    http.add_argument(
        "--http-deny",
        action="append",
        default=[],
        metavar="HOST|CIDR",
        help="never let http.request reach this host, address or network (repeatable; "
        "wins over --http-allow)",
    )
    http.add_argument(
        "--http-allowlist-only",
        action="store_true",
        help="refuse every destination not on --http-allow, public ones included",
    )
    http.add_argument(
        "--http-max-response-bytes",
        type=int,
        default=HttpSettings().max_response_bytes,
        help="the largest body a call may ask to keep (default: %(default)s)",
    )
    command = serve.add_argument_group("command.run")
    command.add_argument(
        "--enable-command-run",
        action="store_true",
        help="offer command.run (off by default: it runs programs as the server's user)",
    )
    command.add_argument(
        "--command-allow",
        action="append",
        metavar="NAME|PATH",
        help="only these executables: a bare name as plans write it, or an absolute path "
        "(repeatable; default: any)",
    )
    command.add_argument(
        "--command-env",
        action="append",
        metavar="NAME",
        help="pass this variable of the server's environment to commands (repeatable; "
        f"default: {' '.join(CommandSettings().env_passthrough)})",
    )
    command.add_argument(
        "--command-kill-grace",
        type=float,
        default=CommandSettings().kill_grace_seconds,
        metavar="SECONDS",
        help="after SIGTERM on timeout or cancel, wait this long before SIGKILL "
        "(default: %(default)s)",
    )
    _security_flags(serve)
    limits = serve.add_argument_group("limits (README: Limits)")
    default = Limits()
    limits.add_argument(
        "--max-message-bytes",
        type=int,
        default=default.max_message_bytes,
        help="the largest request or answer (default: %(default)s)",
    )
    limits.add_argument(
        "--max-plan-steps",
        type=int,
        default=default.max_plan_steps,
        help="the most steps a plan may have (default: %(default)s)",
    )
    limits.add_argument(
        "--max-output-bytes",
        type=int,
        default=default.max_output_bytes,
        help="the largest output a step may return, as JSON (default: %(default)s)",
    )
    limits.add_argument(
        "--max-argument-bytes",
        type=int,
        default=default.max_argument_bytes,
        help="the largest arguments a step's references may resolve to, as JSON "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--max-watchers-per-execution",
        type=int,
        default=default.max_watchers_per_execution,
        help="open WatchExecution streams of one execution (default: %(default)s)",
    )
    limits.add_argument(
        "--max-watchers",
        type=int,
        default=default.max_watchers,
        help="open WatchExecution streams in all (default: %(default)s)",
    )
    limits.add_argument(
        "--max-concurrent-rpcs",
        type=int,
        default=default.max_concurrent_rpcs,
        help="ExecutorService calls in flight; health and reflection not counted "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--max-executions-per-minute",
        type=int,
        default=default.max_executions_per_minute,
        help="submissions each authenticated caller may make per minute (default: %(default)s)",
    )
    limits.add_argument(
        "--max-items-per-step",
        type=int,
        default=default.max_items_per_step,
        help="elements one for_each step may run over (default: %(default)s)",
    )
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=1.0,
        help="NOT_SERVING before closing, for load balancers to notice",
    )
    serve.add_argument(
        "--grace-seconds",
        type=float,
        default=5.0,
        help="how long calls in flight may finish at shutdown",
    )
    # Observability (issue 16): metrics and traces, each off unless asked for.
    observability = serve.add_argument_group("observability")
    observability.add_argument(
        "--metrics-address",
        type=_metrics_address,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: no metrics)",
    )
    observability.add_argument(
        "--otlp-endpoint",
        type=_otlp_endpoint,
        metavar="URL",
        help="export traces over OTLP/gRPC to this collector, e.g. http://localhost:4317 "
        "(default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, "
        "else no tracing)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format",
        default="console" if sys.stderr.isatty() else "json",
        choices=["console", "json"],
    )
    return parser


def _security_flags(serve: argparse.ArgumentParser) -> None:
    security = serve.add_argument_group("security (README: Security; SECURITY.md)")
    security.add_argument(
        "--auth-token-file",
        type=Path,
        metavar="FILE",
        help="require 'authorization: Bearer <token>' with a token of this file: one per "
        "line, 'TOKEN [viewer|approver|operator [NAME]]' (a bare token: operator); also "
        f"read from ${TOKENS_ENV} (comma-separated entries); re-read on SIGHUP",
    )
    security.add_argument(
        "--tls-cert", type=Path, metavar="PEM", help="serve TLS with this chain (re-read on SIGHUP)"
    )
    security.add_argument("--tls-key", type=Path, metavar="PEM", help="the key of --tls-cert")
    security.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="PEM",
        help="require client certificates issued by this CA (mutual TLS)",
    )
    security.add_argument(
        "--secrets-dir",
        type=Path,
        metavar="DIR",
        help="${secrets.NAME} in arguments is the content of DIR/NAME (one file per secret, "
        "as Kubernetes and Docker mount them); re-read on SIGHUP",
    )
    security.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="${secrets.NAME} is this environment variable of the server (repeatable)",
    )
    security.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve a non-loopback address without tokens or client certificates",
    )


@dataclass(frozen=True, slots=True)
class Reloadable:
    """Where what SIGHUP re-reads comes from."""

    token_file: Path | None = None
    tls: TlsFiles | None = None
    secrets_dir: Path | None = None
    secret_env: tuple[str, ...] = ()

    @property
    def secrets(self) -> bool:
        return self.secrets_dir is not None or bool(self.secret_env)


async def serve(config: Config, sources: Reloadable | None = None) -> None:
    tune_gc()
    server = await build_server(config)
    for error in server.executor.tools.load_errors:
        log.warning(
            "tool plugin not loaded",
            extra={"entry_point": error.entry_point, "error": error.message},
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # SIGHUP re-reads the token file, and never stops the server (its default action).
    hangup = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, hangup.set)
    reloading = asyncio.create_task(
        _reload_on_hangup(hangup, server, config.secrets, sources or Reloadable())
    )
    port = await server.start()
    message, fields = _ready_message(config, port, server)
    log.info(message, extra=fields)
    await stop.wait()
    reloading.cancel()
    log.info("shutting down")
    await server.stop(drain_seconds=config.drain_seconds, grace_seconds=config.grace_seconds)


def _metrics_address(value: str) -> str:
    try:
        parse_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _otlp_endpoint(value: str) -> str:
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not a URL like http://HOST:4317")
    return value


def _ready_message(
    config: Config, port: int, server: ExecutorServer
) -> tuple[str, dict[str, object]]:
    """The one line that says what this server is: where it listens, what it journals to
    (the default journal is per user, shared by every checkout), who may call it, and
    which tools it offers."""
    host = config.address.rsplit(":", 1)[0]
    address = f"{host}:{port}"
    if config.db_url is not None:
        replica = config.replica_id or default_replica_id(config.address)
        database = f"{redact(config.db_url)} as replica {replica}"
    elif config.db_path is not None:
        database = str(config.db_path)
    else:
        database = "in memory (none kept)"
    security = server.security
    auth = security["authentication"]
    if auth == "none":
        auth = "off (anyone who can connect)"
    tools = [t.spec.name for t in server.executor.tools]
    failed = [e.entry_point for e in server.executor.tools.load_errors]
    message = (
        f"executor serving on {address}; journal {database}; {security['transport']}; "
        f"authentication {auth}; {len(tools)} tools loaded"
        + (f"; failed to load: {', '.join(failed)}" if failed else "")
    )
    return message, {
        "address": address,
        "port": port,
        "database": database,
        "auth": server.access is not None,
        "tools": tools,
        "tools_failed": failed,
        **security,
    }


def _tool_settings(args: argparse.Namespace) -> ToolSettings:
    """Raises ValueError for an --http-allow/--http-deny entry that is not a host or network."""
    defaults = CommandSettings()
    return ToolSettings(
        http=HttpSettings(
            policy=NetworkPolicy(
                allow=tuple(args.http_allow),
                deny=tuple(args.http_deny),
                allowlist_only=args.http_allowlist_only,
            ),
            max_response_bytes=args.http_max_response_bytes,
        ),
        command=CommandSettings(
            enabled=args.enable_command_run,
            allow=tuple(args.command_allow) if args.command_allow else None,
            env_passthrough=(
                tuple(args.command_env) if args.command_env else defaults.env_passthrough
            ),
            kill_grace_seconds=args.command_kill_grace,
        ),
    )


def _database(args: argparse.Namespace) -> tuple[str | None, Path | None]:
    """(PostgreSQL URL, SQLite path), at most one set. Raises ValueError for a bad URL,
    replica id or lease."""
    if not 0 < args.lease_seconds <= 3600:
        raise ValueError("--lease-seconds must be > 0 and at most 3600")
    if args.replica_id is not None and not (
        0 < len(args.replica_id) <= 128 and args.replica_id.isprintable()
    ):
        raise ValueError("--replica-id must be 1 to 128 printable characters")
    if args.db is not None and is_postgres_url(args.db):
        if args.in_memory:
            raise ValueError("--in-memory and a PostgreSQL --db exclude each other")
        try:
            check_url(args.db)
        except ValueError as exc:
            raise ValueError(f"--db: {exc}") from None
        return args.db, None
    if args.in_memory:
        return None, None
    return None, Path(args.db) if args.db else args.data_dir / "executor.db"


def _auth_tokens(path: Path | None) -> TokenTable | None:
    """Tokens from the file and the environment; never from the command line, where any
    user could read them. None when there are none. Raises OSError when the file cannot be
    read, ValueError when an entry is malformed or the file has no token at all (it would
    leave the service open)."""
    table = parse_tokens(os.environ.get(TOKENS_ENV, "").split(","), TOKENS_ENV)
    if path is not None:
        listed = parse_tokens(path.read_text().splitlines(), str(path))
        if not listed:
            raise ValueError(f"--auth-token-file {path} has no tokens")
        if listed.keys() & table.keys():
            raise ValueError(f"a token is both in {path} and in ${TOKENS_ENV}")
        table = TokenTable({**table, **listed})
    return table or None


async def _reload_on_hangup(
    hangup: asyncio.Event, server: ExecutorServer, secrets: Secrets, sources: Reloadable
) -> None:
    """Each SIGHUP: the token file, the TLS files and the secrets again. What cannot be
    used is logged, and what is in force stays."""
    access = server.access
    while True:
        await hangup.wait()
        hangup.clear()
        if access is not None and access.tokens is not None and sources.token_file is not None:
            await _reload_tokens(access, sources.token_file)
        if server.tls is not None and sources.tls is not None:
            await _reload_tls(server.tls, sources.tls)
        if sources.secrets:
            await _reload_secrets(secrets, sources)
        if sources == Reloadable():
            log.info("SIGHUP: no token file, certificates or secrets to reload")


async def _reload_secrets(secrets: Secrets, sources: Reloadable) -> None:
    try:
        fresh = await asyncio.to_thread(Secrets.load, sources.secrets_dir, sources.secret_env)
    except (OSError, ValueError) as exc:
        log.error(
            "secrets not reloaded; the previous ones stay in force", extra={"error": str(exc)}
        )
        return
    secrets.replace(fresh)
    log.info("secrets reloaded", extra={"secrets": len(fresh.names)})


async def _reload_tokens(access: Access, path: Path) -> None:
    try:
        tokens = await asyncio.to_thread(_auth_tokens, path)
        assert tokens is not None  # a file without tokens raised
        access.replace_tokens(tokens)
    except (OSError, ValueError) as exc:
        count = len(access.tokens or ())
        log.error(
            "token file not reloaded; the previous tokens stay in force",
            extra={"file": str(path), "error": str(exc), "tokens": count},
        )
        return
    log.info("token file reloaded", extra={"file": str(path), "tokens": len(tokens)})


async def _reload_tls(current: ServerTls, files: TlsFiles) -> None:
    try:
        current.replace(await asyncio.to_thread(files.load))
    except (OSError, ValueError) as exc:
        log.error(
            "certificates not reloaded; the previous ones stay in force",
            extra={"cert": str(files.cert), "error": str(exc)},
        )
        return
    log.info("certificates reloaded; new connections use them", extra={"cert": str(files.cert)})


def _tls(args: argparse.Namespace) -> TlsFiles | None:
    """Raises ValueError for an incomplete set of flags or a file that is not PEM, OSError
    when one cannot be read."""
    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    return TlsFiles(args.tls_cert, args.tls_key, args.tls_client_ca)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        tool_settings = _tool_settings(args)
        tokens = _auth_tokens(args.auth_token_file)
        tls_files = _tls(args)
        tls = tls_files.load() if tls_files else None
        secrets = Secrets.load(args.secrets_dir, args.secret_env)
        limits = Limits(
            max_message_bytes=args.max_message_bytes,
            max_plan_steps=args.max_plan_steps,
            max_output_bytes=args.max_output_bytes,
            max_argument_bytes=args.max_argument_bytes,
            max_watchers_per_execution=args.max_watchers_per_execution,
            max_watchers=args.max_watchers,
            max_concurrent_rpcs=args.max_concurrent_rpcs,
            max_executions_per_minute=args.max_executions_per_minute,
            max_items_per_step=args.max_items_per_step,
        )
        db_url, db_path = _database(args)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    configure_logging(args.log_level, args.log_format, secrets)
    config = Config(
        address=args.address,
        data_dir=args.data_dir,
        db_path=db_path,
        db_url=db_url,
        replica_id=args.replica_id,
        lease_seconds=args.lease_seconds,
        journal_sync="NORMAL" if args.journal_sync == "normal" else "FULL",
        allow_tools=frozenset(args.allow_tool) if args.allow_tool else None,
        deny_tools=frozenset(args.deny_tool),
        tool_settings=tool_settings,
        max_active_executions=args.max_active_executions,
        retention=timedelta(hours=args.retention_hours) if args.retention_hours > 0 else None,
        auth_tokens=tokens,
        tls=tls,
        allow_unauthenticated=args.allow_unauthenticated,
        secrets=secrets,
        limits=limits,
        drain_seconds=args.drain_seconds,
        grace_seconds=args.grace_seconds,
        metrics_address=args.metrics_address,
        otlp_endpoint=args.otlp_endpoint,
    )
    try:
        sources = Reloadable(
            args.auth_token_file, tls_files, args.secrets_dir, tuple(args.secret_env)
        )
        asyncio.run(serve(config, sources))
    except Unprotected as exc:
        log.error("cannot serve", extra={"error": str(exc)})
        return 2
    except (StoreError, RuntimeError) as exc:  # a bad database, an address in use
        log.error("cannot serve", extra={"error": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
