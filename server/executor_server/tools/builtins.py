"""Built-in tools that show retries, timeouts and failures without writing code.

They are registered through the `executor.tools` entry-point group like any plugin, as are
the working built-ins: `http.request` (`tools.http`), `command.run` (`tools.command`) and
`file.read` / `file.write` / `file.delete` / `file.list` (`tools.files`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from executor_server.domain.errors import ToolError
from executor_server.domain.models import JsonObject
from executor_server.domain.status import ExecutionErrorType
from executor_server.tools.protocol import ToolContext, ToolSpec


class Echo:
    spec = ToolSpec(
        name="echo",
        title="Echo",
        description="Returns its arguments unchanged.",
        input_schema={"type": "object"},
        output_schema={"type": "object"},
        read_only=True,
        idempotent=True,
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        return arguments


class Sleep:
    spec = ToolSpec(
        name="sleep",
        title="Sleep",
        description="Waits for the given number of seconds, then returns them.",
        input_schema={
            "type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0}},
            "required": ["seconds"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {"slept": {"type": "number"}},
            "required": ["slept"],
        },
        read_only=True,
        idempotent=True,
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        seconds = float(arguments["seconds"])
        # Progress in ten ticks for long sleeps; cancellation interrupts any of them at once.
        ticks = 10 if seconds >= 1 else 1
        for tick in range(1, ticks + 1):
            await asyncio.sleep(seconds / ticks)
            if ticks > 1:
                context.report_progress(tick / ticks, f"slept {seconds * tick / ticks:g}s")
        return {"slept": seconds}


_ERROR_TYPES = [t.name for t in ExecutionErrorType]


class Fail:
    spec = ToolSpec(
        name="fail",
        title="Fail",
        description=(
            "Fails with the given error until attempt `succeed_on_attempt` "
            "(never succeeds when it is 0), then returns the attempt number."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "message": {"type": "string", "default": "requested failure"},
                "error_type": {"enum": _ERROR_TYPES, "default": "TOOL_FAILED"},
                "retryable": {"type": "boolean", "default": True},
                "succeed_on_attempt": {"type": "integer", "minimum": 0, "default": 0},
            },
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {"attempt": {"type": "integer"}},
            "required": ["attempt"],
        },
        read_only=True,
        idempotent=True,
        default_timeout=timedelta(seconds=30),
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        succeed_on = int(arguments.get("succeed_on_attempt", 0))
        if succeed_on and context.attempt >= succeed_on:
            return {"attempt": context.attempt}
        raise ToolError(
            str(arguments.get("message", "requested failure")),
            error_type=ExecutionErrorType[arguments.get("error_type", "TOOL_FAILED")],
            retryable=bool(arguments.get("retryable", True)),
        )
