"""What a tool is, and what it gets to see while it runs.

A tool is any object with a `spec` and an async `invoke(arguments, context)`; a tool that can
undo its own calls also has `compensate(arguments, output, context)` and says so in its spec
(`compensable`). Tools fail an attempt by raising `ToolError`; any other exception counts as a
retryable TOOL_FAILED. They must let `asyncio.CancelledError` through: that is how cancel,
timeouts and fail-fast reach them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from executor_server.domain.errors import ToolError
from executor_server.domain.models import JsonObject, ResourceLimits, ResourceUsage
from executor_server.domain.status import ExecutionErrorType


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool's description, in the shape agent ecosystems know from MCP."""

    name: str
    description: str
    input_schema: JsonObject = field(default_factory=lambda: {"type": "object"})
    output_schema: JsonObject | None = None
    title: str = ""
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    default_timeout: timedelta | None = None
    compensable: bool = False


@runtime_checkable
class Tool(Protocol):
    spec: ToolSpec

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        """Run once with validated arguments; return a JSON-serialisable output.

        Raises ToolError to fail the attempt with a chosen type and retryability.
        """
        ...


@runtime_checkable
class CompensatingTool(Tool, Protocol):
    async def compensate(self, arguments: JsonObject, output: Any, context: ToolContext) -> Any:
        """Undo the call that took `arguments` and returned `output`."""
        ...


class Budget:
    """The resource usage of one execution against its limits, shared by its attempts."""

    __slots__ = ("disk_bytes_written", "limits", "used")

    def __init__(self, limits: ResourceLimits, used: ResourceUsage | None = None) -> None:
        self.limits = limits
        self.used = used or ResourceUsage()
        #: Bytes tools wrote into the workspace, against `max_disk_space_mb`. Kept in memory
        #: only: after a restart the count starts again from zero.
        self.disk_bytes_written = 0

    def _exhausted(self, what: str, limit: int) -> ToolError:
        return ToolError(
            f"resource limit reached: {what} (limit {limit})",
            error_type=ExecutionErrorType.RESOURCE_EXHAUSTED,
            retryable=False,
        )

    def take_tool_invocation(self) -> None:
        limit = self.limits.max_tool_invocations
        if limit and self.used.tool_invocations >= limit:
            raise self._exhausted("max_tool_invocations", limit)
        self.used.tool_invocations += 1

    def take_network_request(self) -> None:
        limit = self.limits.max_network_requests
        if limit and self.used.network_requests >= limit:
            raise self._exhausted("max_network_requests", limit)
        self.used.network_requests += 1

    def take_disk_bytes(self, count: int) -> None:
        limit = self.limits.max_disk_space_mb
        if limit and self.disk_bytes_written + count > limit * 1024 * 1024:
            raise self._exhausted("max_disk_space_mb", limit)
        self.disk_bytes_written += count

    def disk_bytes_left(self) -> int | None:
        """Bytes tools may still write, or None when unlimited."""
        limit = self.limits.max_disk_space_mb
        return max(limit * 1024 * 1024 - self.disk_bytes_written, 0) if limit else None


class ToolContext:
    """What one attempt of a step may see and use.

    Counting methods raise ToolError(RESOURCE_EXHAUSTED) when the plan's budget is spent,
    before the work is done, so a tool calls them first.
    """

    __slots__ = (
        "_budget",
        "_on_progress",
        "attempt",
        "deadline",
        "item_index",
        "plan_id",
        "step_id",
        "step_name",
        "trace_context",
        "usage",
        "workspace",
    )

    def __init__(
        self,
        *,
        plan_id: str,
        step_id: str,
        step_name: str,
        attempt: int,
        deadline: float | None,
        workspace: Path,
        budget: Budget,
        on_progress: Any = None,
        trace_context: Mapping[str, str] | None = None,
        item_index: int | None = None,
    ) -> None:
        self.plan_id = plan_id
        self.step_id = step_id
        self.step_name = step_name
        self.attempt = attempt
        #: For an element of a `for_each` step, its position in the list (each element is
        #: a call of its own, with its own attempts); None for a plain step.
        self.item_index = item_index
        #: `loop.time()` by which the attempt must end, or None; past it the attempt is
        #: cancelled (asyncio.CancelledError) and recorded as a TIMEOUT.
        self.deadline = deadline
        #: A directory private to the execution, shared by its steps; not created until a
        #: tool creates it.
        self.workspace = workspace
        #: This attempt's own usage, reported with the step.
        self.usage = ResourceUsage()
        self._budget = budget
        self._on_progress = on_progress
        #: The W3C trace-context headers of this attempt's span (`traceparent`, maybe
        #: `tracestate`): pass them on to what the tool calls. Empty when tracing is off.
        self.trace_context: Mapping[str, str] = trace_context if trace_context is not None else {}

    @property
    def limits(self) -> ResourceLimits:
        return self._budget.limits

    def report_progress(self, fraction: float, message: str = "") -> None:
        """Tell watchers how far the attempt has got (a fraction in [0, 1])."""
        if self._on_progress is not None:
            self._on_progress(min(max(fraction, 0.0), 1.0), message)

    def count_network_request(self) -> None:
        self._budget.take_network_request()
        self.usage.network_requests += 1

    def count_disk_read(self) -> None:
        self._budget.used.disk_reads += 1
        self.usage.disk_reads += 1

    def count_disk_write(self) -> None:
        self._budget.used.disk_writes += 1
        self.usage.disk_writes += 1

    def count_disk_bytes_written(self, count: int) -> None:
        """Reserve `count` bytes of the plan's `max_disk_space_mb` before writing them.

        Every byte written counts, overwrites included; deleting gives nothing back.
        Raises ToolError(RESOURCE_EXHAUSTED, not retryable) when they would exceed it.
        """
        self._budget.take_disk_bytes(count)

    def disk_bytes_left(self) -> int | None:
        """Bytes the plan may still write, or None when its disk space is unlimited."""
        return self._budget.disk_bytes_left()

    def add_cpu_time(self, milliseconds: float) -> None:
        """For CPU spent outside the event loop (threads, child processes)."""
        self._budget.used.cpu_time_ms += milliseconds
        self.usage.cpu_time_ms += milliseconds

    def record_memory_peak(self, megabytes: float) -> None:
        """For memory of child processes; in-process tools share the server's memory."""
        self._budget.used.memory_peak_mb = max(self._budget.used.memory_peak_mb, megabytes)
        self.usage.memory_peak_mb = max(self.usage.memory_peak_mb, megabytes)


__all__ = ["Budget", "CompensatingTool", "Tool", "ToolContext", "ToolError", "ToolSpec"]
