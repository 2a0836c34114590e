"""`executor serve`: run the server until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from executor_server.app import DEFAULT_ADDRESS, Config, build_server, default_data_dir
from executor_server.store.sqlite import StoreError

log = logging.getLogger("executor_server")


def configure_logging(level: str, fmt: str) -> None:
    """Structured logs for our code and the libraries' stdlib logging alike."""
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
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="executor", description="The Executor plan runner.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--address", default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="where the journal and workspaces live (default: %(default)s)",
    )
    serve.add_argument("--db", type=Path, help="the SQLite journal (default: DATA_DIR/executor.db)")
    serve.add_argument(
        "--in-memory",
        action="store_true",
        help="keep no journal: executions are lost when the server stops",
    )
    serve.add_argument("--allow-tool", action="append", metavar="NAME", help="only these tools")
    serve.add_argument("--deny-tool", action="append", default=[], metavar="NAME")
    serve.add_argument("--max-active-executions", type=int, default=1000)
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
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format",
        default="console" if sys.stderr.isatty() else "json",
        choices=["console", "json"],
    )
    return parser


async def serve(config: Config) -> None:
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
    port = await server.start()
    log.info(
        "executor ready",
        extra={
            "address": config.address,
            "port": port,
            "tools": [t.spec.name for t in server.executor.tools],
        },
    )
    await stop.wait()
    log.info("shutting down")
    await server.stop(drain_seconds=config.drain_seconds, grace_seconds=config.grace_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    config = Config(
        address=args.address,
        data_dir=args.data_dir,
        db_path=None if args.in_memory else (args.db or args.data_dir / "executor.db"),
        allow_tools=frozenset(args.allow_tool) if args.allow_tool else None,
        deny_tools=frozenset(args.deny_tool),
        max_active_executions=args.max_active_executions,
        drain_seconds=args.drain_seconds,
        grace_seconds=args.grace_seconds,
    )
    try:
        asyncio.run(serve(config))
    except (StoreError, RuntimeError) as exc:  # a bad database, an address in use
        log.error("cannot serve", extra={"error": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
