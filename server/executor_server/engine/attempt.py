"""The checks on what goes into a tool call and what comes out of it."""

from __future__ import annotations

from typing import Any

from executor_server.domain.errors import StepError
from executor_server.domain.limits import MAX_JSON_DEPTH
from executor_server.domain.status import ExecutionErrorType
from executor_server.engine.sizes import NotJson, TooDeep, TooLarge, json_size
from executor_server.engine.validation import OutputRule, compile_schema
from executor_server.tools.protocol import Tool, ToolSpec


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
