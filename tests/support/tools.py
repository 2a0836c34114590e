"""Tools that exist only for the tests, registered next to the built-ins.

They let a test steer the engine deterministically: `gate` blocks until the test opens it
(and tells the test it has started), `record` remembers every call, `bad_output` breaks
its output contract on purpose, and `crash` raises an exception that is not a ToolError.
They share the event loop with the in-process server, so plain asyncio.Events connect them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from executor_server.domain.errors import ToolError
from executor_server.domain.models import JsonObject
from executor_server.tools.builtins import Echo, Fail, Sleep
from executor_server.tools.protocol import ToolContext, ToolSpec
from executor_server.tools.registry import ToolRegistry

__all__ = ["BadOutput", "Crash", "Gate", "Record", "Slow", "make_registry"]


class Gate:
    """Blocks each call until the test opens the gate named by the `key` argument.

    `fail: true` makes the call fail (retryable=false) once the gate opens; `linger: s`
    makes a cancelled call take `s` seconds to wind down. Records which
    keys started, which saw cancellation, and how many calls ran at once.
    """

    spec = ToolSpec(
        name="gate",
        title="Gate",
        description="Waits until the test opens the gate `key`, then returns the key.",
        input_schema={
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "fail": {"type": "boolean"},
                "linger": {"type": "number", "minimum": 0},
            },
            "required": ["key"],
            "additionalProperties": False,
        },
        output_schema={"type": "object", "required": ["key", "attempt"]},
        idempotent=True,
    )

    def __init__(self) -> None:
        self._started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._open: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.starts: list[str] = []
        self.cancelled: list[str] = []
        self.finished: list[str] = []
        self.running = 0
        self.max_running = 0

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        key = str(arguments["key"])
        self.starts.append(key)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self._started[key].set()
        try:
            await self._open[key].wait()
        except asyncio.CancelledError:
            self.cancelled.append(key)
            await asyncio.sleep(float(arguments.get("linger", 0)))
            raise
        finally:
            self.running -= 1
        self.finished.append(key)
        if arguments.get("fail"):
            raise ToolError(f"gate {key} failed on request", retryable=False)
        return {"key": key, "attempt": context.attempt}

    async def started(self, key: str, within: float = 10.0) -> None:
        """Wait until a call of gate `key` has started."""
        async with asyncio.timeout(within):
            await self._started[key].wait()

    def open(self, *keys: str) -> None:
        for key in keys:
            self._open[key].set()


@dataclass
class Invocation:
    plan_id: str
    step_id: str
    step_name: str
    attempt: int
    arguments: JsonObject = field(default_factory=dict)


class Record:
    """Remembers every call and returns its arguments with the attempt number."""

    spec = ToolSpec(
        name="record",
        title="Record",
        description="Records the call and returns its arguments plus the attempt number.",
        input_schema={"type": "object"},
        output_schema={"type": "object"},
        idempotent=True,
    )

    def __init__(self) -> None:
        self.calls: list[Invocation] = []

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        self.calls.append(
            Invocation(
                context.plan_id, context.step_id, context.step_name, context.attempt, arguments
            )
        )
        return {**arguments, "attempt": context.attempt}

    def for_plan(self, plan_id: str) -> list[Invocation]:
        return [c for c in self.calls if c.plan_id == plan_id]


class BadOutput:
    """Breaks its output contract: `mode` "not_json" returns a set, "schema" a wrong type."""

    spec = ToolSpec(
        name="bad_output",
        title="Bad output",
        description="Returns an output that breaks its own output schema or is not JSON.",
        input_schema={
            "type": "object",
            "properties": {"mode": {"enum": ["not_json", "schema", "good"]}},
            "required": ["mode"],
        },
        output_schema={
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
        },
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        mode = arguments["mode"]
        if mode == "not_json":
            return {"ok": True, "value": {1, 2, 3}}
        if mode == "schema":
            return {"ok": "yes"}
        return {"ok": True}


class Slow:
    """Sleeps for `seconds`; not idempotent, so an interrupted call must not be repeated."""

    spec = ToolSpec(
        name="slow",
        title="Slow",
        description="Sleeps for `seconds`, changing the world as it goes.",
        input_schema={
            "type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0}},
            "required": ["seconds"],
        },
        idempotent=False,
    )

    def __init__(self) -> None:
        self.calls = 0

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        self.calls += 1
        await asyncio.sleep(float(arguments["seconds"]))
        return {"slept": arguments["seconds"]}


class Crash:
    """Raises a plain RuntimeError, as a buggy tool would."""

    spec = ToolSpec(
        name="crash",
        title="Crash",
        description="Raises RuntimeError('boom').",
        destructive=True,
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        raise RuntimeError("boom")


def make_registry(*extra: Any) -> ToolRegistry:
    """The built-ins plus `extra` tools."""
    return ToolRegistry([Echo(), Sleep(), Fail(), *extra])
