"""Wiring: configuration in, a ready server out. The one place that knows every layer."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from executor_server.engine.executor import Executor
from executor_server.rpc.server import ExecutorServer
from executor_server.store.memory import MemoryStore
from executor_server.tools.registry import ToolRegistry

DEFAULT_ADDRESS = "127.0.0.1:50051"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "executor"


@dataclass(frozen=True, slots=True)
class Config:
    address: str = DEFAULT_ADDRESS
    data_dir: Path = field(default_factory=default_data_dir)
    #: Only these tools (None: every tool found), minus the denied ones.
    allow_tools: frozenset[str] | None = None
    deny_tools: frozenset[str] = frozenset()
    max_active_executions: int = 1000
    max_message_bytes: int = 64 * 1024 * 1024
    drain_seconds: float = 1.0
    grace_seconds: float = 5.0


def build_server(config: Config, tools: ToolRegistry | None = None) -> ExecutorServer:
    """Assemble the server; `tools` replaces plugin discovery (embedding, tests)."""
    registry = tools or ToolRegistry.from_entry_points(
        allow=config.allow_tools, deny=config.deny_tools
    )
    executor = Executor(
        registry,
        MemoryStore(),
        workspace_root=config.data_dir / "workspaces",
        max_active_executions=config.max_active_executions,
    )
    return ExecutorServer(
        executor, address=config.address, max_message_bytes=config.max_message_bytes
    )
