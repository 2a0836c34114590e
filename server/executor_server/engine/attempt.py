"""One attempt of a tool call: timeout, CPU metering, and the checks on what goes in and out."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from executor_server.domain.errors import StepError
from executor_server.domain.limits import MAX_JSON_DEPTH
from executor_server.domain.status import ExecutionErrorType
from executor_server.engine.metering import Metered
from executor_server.engine.sizes import NotJson, TooDeep, TooLarge, json_size
from executor_server.engine.validation import OutputRule, compile_schema
from executor_server.tools.protocol import Tool, ToolContext, ToolSpec


async def run_attempt(
    call: Coroutine[Any, Any, Any], spec: ToolSpec, context: ToolContext, timeout_seconds: float
) -> Any:
    """Await one tool call within its timeout, adding its loop CPU time to the context.

    Returns the output; raises StepError for every failure (TIMEOUT, a tool's own error, or
    any other exception as TOOL_FAILED) and lets cancellation through.
    """
    # The timer is armed only when the call first waits: most tool calls that never wait
    # (echo, cached answers) then cost no timer at all. A call that never waits cannot be
    # interrupted anyway. Expiry cancels the task and is told apart from any other
    # cancellation the way asyncio.timeout does it.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    deadline = loop.time() + timeout_seconds
    timer: asyncio.TimerHandle | None = None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    def arm() -> None:
        nonlocal timer
        timer = loop.call_at(deadline, expire)

    metered = Metered(call, arm)
    try:
        output = await metered
    except asyncio.CancelledError as exc:
        if not expired or task.uncancel() > 0:
            raise  # cancelled from outside: cancel, shutdown, fail-fast
        # A cut-off attempt may have done part of its work: only an idempotent tool is
        # safe to call again blindly.
        raise StepError(
            f"attempt timed out after {timeout_seconds:g}s",
            error_type=ExecutionErrorType.TIMEOUT,
            retryable=spec.idempotent,
        ) from exc
    except StepError:
        raise
    except Exception as exc:
        raise StepError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if timer is not None:
            timer.cancel()
        context.usage.cpu_time_ms += metered.cpu_seconds * 1000.0
    return output


def check_json(spec: ToolSpec, output: Any, max_bytes: int) -> None:
    """Raises StepError for an output that cannot be journaled or sent: VALIDATION when it
    is not JSON or nests too deep, RESOURCE_EXHAUSTED when it is larger than `max_bytes`."""
    try:
        json_size(output, max_bytes)
    except NotJson:
        why = "a value that is not JSON"
    except TooDeep:
        why = f"a value nested deeper than {MAX_JSON_DEPTH} levels"
    except TooLarge:
        raise StepError(
            f"tool {spec.name!r} returned an output larger than max_output_bytes "
            f"({max_bytes:,} bytes)",
            error_type=ExecutionErrorType.RESOURCE_EXHAUSTED,
            retryable=False,
        ) from None
    else:
        return
    raise StepError(
        f"tool {spec.name!r} returned {why}",
        error_type=ExecutionErrorType.VALIDATION,
        retryable=False,
    )


def check_output(
    spec: ToolSpec, output: Any, rules: tuple[OutputRule, ...], max_bytes: int
) -> None:
    """Raises StepError as check_json does, and VALIDATION when the output breaks one of
    `rules` (the tool's output schema first, then the step's own rules)."""
    check_json(spec, output, max_bytes)
    for rule in rules:
        if rule.validator.is_valid(output):
            continue
        error = next(iter(rule.validator.iter_errors(output)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.instance_path) or "output"
            raise StepError(
                f"output fails {rule.description} at {where}: {error.message}",
                error_type=ExecutionErrorType.VALIDATION,
            )


def check_arguments(tool: Tool, arguments: dict[str, Any]) -> None:
    """Arguments that held references can only be checked once resolved."""
    error = next(iter(compile_schema(tool.spec.input_schema).iter_errors(arguments)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "arguments"
        raise StepError(
            f"resolved arguments fail the input schema of {tool.spec.name!r} at {where}: "
            f"{error.message}",
            error_type=ExecutionErrorType.VALIDATION,
            retryable=False,
        )
