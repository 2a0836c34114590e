"""Wiring: configuration in, a ready server out. The one place that knows every layer."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from executor_server.domain.access import TokenTable
from executor_server.domain.limits import Limits
from executor_server.engine.executor import Executor
from executor_server.engine.secrets import Secrets
from executor_server.observability.telemetry import Telemetry
from executor_server.rpc.server import ExecutorServer
from executor_server.rpc.tls import TlsMaterial
from executor_server.store.memory import MemoryStore
from executor_server.store.postgres import PostgresStore
from executor_server.store.protocol import Store
from executor_server.store.sqlite import SQLiteStore
from executor_server.tools.registry import ToolRegistry
from executor_server.tools.settings import ToolSettings

DEFAULT_ADDRESS = "127.0.0.1:50051"


#: The collector's first-generation threshold for a serving process (CPython's default is
#: 700). An execution allocates a few long-lived records per step (events, results); at the
#: default the collector keeps rescanning them, which cost a quarter of the engine's time on
#: a 10,000-step plan (BENCHMARKS.md). Reference cycles are still collected, just in
#: larger batches.
GC_THRESHOLD = (50_000, 50, 100)


def tune_gc() -> None:
    """Set the serving process's collector thresholds (process-wide: for `serve`, not for
    an application embedding the engine, which owns its process)."""
    gc.set_threshold(*GC_THRESHOLD)


def default_replica_id(address: str) -> str:
    """host:port: unique among replicas, and the same after a restart, so a restarted
    replica takes its own executions back at once. An ephemeral port adds the pid."""
    port = address.rpartition(":")[2]
    suffix = port if port not in ("", "0") else f"pid{os.getpid()}"
    return f"{socket.gethostname()}:{suffix}"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "executor"


@dataclass(frozen=True, slots=True)
class Config:
    address: str = DEFAULT_ADDRESS
    data_dir: Path = field(default_factory=default_data_dir)
    #: The SQLite journal; None keeps everything in memory (lost on exit).
    db_path: Path | None = None
    #: FULL: every commit reaches the disk; NORMAL: survives process crashes, not power loss.
    journal_sync: Literal["FULL", "NORMAL"] = "FULL"
    #: A PostgreSQL URL: replicas share this database instead of the SQLite journal.
    db_url: str | None = None
    #: This replica's id on PostgreSQL (None: host:port of `address`).
    replica_id: str | None = None
    #: How long a replica's executions stay its own after its last heartbeat.
    lease_seconds: float = 10.0
    #: Only these tools (None: every tool found), minus the denied ones.
    allow_tools: frozenset[str] | None = None
    deny_tools: frozenset[str] = frozenset()
    #: The operator's choices for the built-in tools (network policy, command.run).
    tool_settings: ToolSettings = field(default_factory=ToolSettings)
    max_active_executions: int = 1000
    #: How long finished executions are kept before they are purged; None keeps them.
    retention: timedelta | None = timedelta(days=7)
    #: Bearer tokens with their roles; None leaves the service open but to client
    #: certificates, if `tls` asks for them.
    auth_tokens: TokenTable | None = None
    tls: TlsMaterial | None = None
    #: Serve on a non-loopback address with no authentication at all.
    allow_unauthenticated: bool = False
    #: What `${secrets.NAME}` in arguments resolves to.
    secrets: Secrets = field(default_factory=Secrets)
    limits: Limits = field(default_factory=Limits)
    drain_seconds: float = 1.0
    grace_seconds: float = 5.0
    #: Serve Prometheus metrics at http://HOST:PORT/metrics; None: no metrics.
    metrics_address: str | None = None
    #: Export traces over OTLP/gRPC here; None: only if OTEL_EXPORTER_OTLP_* says where.
    otlp_endpoint: str | None = None


async def build_server(
    config: Config, tools: ToolRegistry | None = None, telemetry: Telemetry | None = None
) -> ExecutorServer:
    """Open the store, resume unfinished executions and assemble the server (not yet
    listening). `tools` replaces plugin discovery (embedding, tests); `telemetry` the
    metrics and tracing the config asks for.

    Raises StoreError when the database cannot be used, Unprotected when the server
    would be open to the network.
    """
    check_exposure(config)
    # Discovery imports plugin code and reads package metadata: keep it off the loop.
    registry = tools
    if registry is None:
        registry = await asyncio.to_thread(
            ToolRegistry.from_entry_points,
            allow=config.allow_tools,
            deny=config.deny_tools,
            settings=config.tool_settings,
        )
    if telemetry is None:
        telemetry = await asyncio.to_thread(
            Telemetry.configure,
            metrics_address=config.metrics_address,
            otlp_endpoint=config.otlp_endpoint,
        )
    store: Store
    if config.db_url is not None:
        store = await PostgresStore.open(
            config.db_url,
            replica_id=config.replica_id or default_replica_id(config.address),
            lease_seconds=config.lease_seconds,
        )
    elif config.db_path is not None:
        store = await SQLiteStore.open(config.db_path, synchronous=config.journal_sync)
    else:
        store = MemoryStore()
    executor = Executor(
        registry,
        store,
        workspace_root=config.data_dir / "workspaces",
        max_active_executions=config.max_active_executions,
        retention=config.retention,
        limits=config.limits,
        secrets=config.secrets,
        observer=telemetry,
    )
    await executor.start()
    return ExecutorServer(
        executor,
        store,
        address=config.address,
        limits=config.limits,
        tokens=config.auth_tokens,
        tls=config.tls,
        telemetry=telemetry,
    )


class Unprotected(Exception):
    """A server that anyone on the network could call, not asked for."""


def check_exposure(config: Config) -> None:
    """Raises Unprotected for a non-loopback address without tokens or client certificates,
    unless the operator allowed it."""
    authenticated = bool(config.auth_tokens) or (config.tls is not None and config.tls.mutual)
    if authenticated or config.allow_unauthenticated or is_loopback(config.address):
        return
    raise Unprotected(
        f"refusing to serve {config.address} without authentication: anyone who can reach "
        "it could run plans; give --auth-token-file or --tls-client-ca, or say "
        "--allow-unauthenticated"
    )


def is_loopback(address: str) -> bool:
    """Whether HOST:PORT (or a unix: socket) can only be reached from this machine."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or an empty host (every interface)
