"""Helpers to build plans from plain Python values and to read results back.

The protobuf messages are the data model; these functions only spare callers
from hand-building ``Struct``, ``Duration`` and dependency lists::

    fetch = step("http_get", {"url": "https://example.com"}, name="fetch", timeout=10)
    parse = step("parse_html", {"html": "${steps.fetch.output}"}, depends_on=[fetch])
    p = plan(fetch, parse, name="scrape")
"""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from executor_client._gen.executor.v1 import executor_pb2 as pb

__all__ = [
    "approval",
    "compensation",
    "output",
    "plan",
    "retry_policy",
    "sleep",
    "status_name",
    "step",
    "step_status_name",
    "wait_for_signal",
]

Seconds = float | datetime.timedelta


def step(
    tool: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    name: str = "",
    id: str | None = None,
    depends_on: Iterable[pb.ActionStep | str] = (),
    timeout: Seconds | None = None,
    expected_duration: Seconds | None = None,
    retry: pb.RetryPolicy | None = None,
    validation_rules: Iterable[pb.ValidationRule | Mapping[str, Any]] = (),
    compensation: pb.Compensation | None = None,
    parameters: Mapping[str, Any] | None = None,
    approval: pb.ApprovalGate | None = None,
    when: str = "",
    dependency_rule: pb.DependencyRule | str = "",
    for_each: str = "",
    max_parallel: int = 0,
) -> pb.ActionStep:
    """A step calling ``tool`` with JSON-like ``arguments``.

    Args:
        id: Defaults to a random UUID.
        approval: Hold the call until someone decides (see :func:`approval`).
        depends_on: Steps (their ids are used), or step ids or names.
        timeout: Per-attempt timeout, in seconds or as a timedelta.
        validation_rules: ``ValidationRule`` messages, or JSON Schemas as mappings.
        when: A CEL condition, e.g. ``"steps.search.output.count == 0"``; false skips it.
        dependency_rule: ``"ALL_COMPLETED"`` (the default), ``"NONE_FAILED"`` or
            ``"ALL_DONE"``, or the enum value.
        for_each: Run the tool once per element of this list, a reference like
            ``"${steps.search.output.pages}"``; ``${item}``, ``${item.<path>}`` and
            ``${item_index}`` in ``arguments`` are the element. ``max_parallel`` bounds
            how many run at once.

    Raises:
        ValueError: A duration is negative or not finite, or a mapping holds a value
            that has no JSON form (TypeError for a non-string key).
    """
    return pb.ActionStep(
        id=id if id is not None else str(uuid.uuid4()),
        name=name,
        tool_execution=pb.ToolExecution(tool_name=tool, arguments=_struct(arguments)),
        parameters=_struct(parameters),
        dependencies=[d.id if isinstance(d, pb.ActionStep) else d for d in depends_on],
        expected_duration=_duration(expected_duration),
        timeout=_duration(timeout),
        retry_policy=retry,
        validation_rules=[
            r if isinstance(r, pb.ValidationRule) else pb.ValidationRule(json_schema=_struct(r))
            for r in validation_rules
        ],
        compensation=compensation,
        approval=approval,
        when=when,
        dependency_rule=_dependency_rule(dependency_rule),
        for_each=pb.ForEach(items=for_each, max_parallel=max_parallel) if for_each else None,
    )


def approval(
    prompt: str = "",
    *,
    timeout: Seconds | None = None,
    on_timeout: pb.ApprovalDecision = pb.APPROVAL_DECISION_REJECT,
    allow_edit: bool = False,
) -> pb.ApprovalGate:
    """An approval gate for :func:`step`: the step waits for ``ApproveStep`` (or its
    ``timeout``, which decides ``on_timeout``) before its tool runs.

    Raises:
        ValueError: ``timeout`` is negative or not finite.
    """
    return pb.ApprovalGate(
        prompt=prompt, timeout=_duration(timeout), on_timeout=on_timeout, allow_edit=allow_edit
    )


def wait_for_signal(
    signal: str,
    *,
    name: str = "",
    id: str | None = None,
    depends_on: Iterable[pb.ActionStep | str] = (),
    timeout: Seconds | None = None,
    payload_schema: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> pb.ActionStep:
    """A step that waits for the signal ``signal`` (``SignalExecution``); its output is
    the signal's payload. ``timeout`` fails it with TIMEOUT.

    Raises:
        ValueError: ``timeout`` is negative or not finite.
    """
    return pb.ActionStep(
        id=id if id is not None else str(uuid.uuid4()),
        name=name,
        wait_for_signal=pb.WaitForSignal(
            name=signal, timeout=_duration(timeout), payload_schema=_struct(payload_schema)
        ),
        parameters=_struct(parameters),
        dependencies=[d.id if isinstance(d, pb.ActionStep) else d for d in depends_on],
    )


def sleep(
    duration: Seconds | None = None,
    *,
    until: datetime.datetime | None = None,
    name: str = "",
    id: str | None = None,
    depends_on: Iterable[pb.ActionStep | str] = (),
    parameters: Mapping[str, Any] | None = None,
) -> pb.ActionStep:
    """A step that waits for ``duration`` (from when it starts waiting) or ``until`` a
    time (timezone-aware), holding no slot; its output is ``{"slept_until": ...}``.

    Raises:
        ValueError: Neither or both of ``duration`` and ``until``; a naive ``until``; a
            negative or infinite duration.
    """
    if (duration is None) == (until is None):
        raise ValueError("sleep needs exactly one of duration and until")
    when = None
    if until is not None:
        if until.tzinfo is None:
            raise ValueError("until must be timezone-aware")
        when = timestamp_pb2.Timestamp()
        when.FromDatetime(until)
    return pb.ActionStep(
        id=id if id is not None else str(uuid.uuid4()),
        name=name,
        sleep=pb.Sleep(duration=_duration(duration), until=when),
        parameters=_struct(parameters),
        dependencies=[d.id if isinstance(d, pb.ActionStep) else d for d in depends_on],
    )


def _dependency_rule(rule: pb.DependencyRule | str) -> pb.DependencyRule:
    """Raises ValueError for an unknown name."""
    if not isinstance(rule, str):
        return rule
    if not rule:
        return pb.DEPENDENCY_RULE_UNSPECIFIED
    try:
        return pb.DependencyRule.Value("DEPENDENCY_RULE_" + rule.upper())  # type: ignore[return-value]
    except ValueError:
        raise ValueError(
            f"unknown dependency rule {rule!r}: ALL_COMPLETED, NONE_FAILED or ALL_DONE"
        ) from None


def plan(
    *steps: pb.ActionStep,
    name: str = "",
    id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> pb.ActionPlan:
    """A plan of ``steps``; ``id`` defaults to a random UUID.

    Raises:
        ValueError: ``metadata`` holds a value that has no JSON form (TypeError for a
            non-string key).
    """
    return pb.ActionPlan(
        id=id if id is not None else str(uuid.uuid4()),
        name=name,
        steps=steps,
        metadata=_struct(metadata),
    )


def retry_policy(
    max_attempts: int = 0,
    *,
    initial_backoff: Seconds | None = None,
    backoff_multiplier: float = 0.0,
    max_backoff: Seconds | None = None,
    jitter: float = 0.0,
    non_retryable: Iterable[pb.ExecutionErrorType] = (),
) -> pb.RetryPolicy:
    """A retry policy; zero / None values mean "the server's default".

    Raises:
        ValueError: A duration is negative or not finite.
    """
    return pb.RetryPolicy(
        max_attempts=max_attempts,
        initial_backoff=_duration(initial_backoff),
        backoff_multiplier=backoff_multiplier,
        max_backoff=_duration(max_backoff),
        jitter=jitter,
        non_retryable_error_types=non_retryable,
    )


def compensation(
    tool: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    retry: pb.RetryPolicy | None = None,
    timeout: Seconds | None = None,
) -> pb.Compensation:
    """The tool call that undoes a step during rollback.

    Raises:
        ValueError: ``timeout`` is negative or not finite, or ``arguments`` holds a
            value that has no JSON form (TypeError for a non-string key).
    """
    return pb.Compensation(
        tool_name=tool,
        arguments=_struct(arguments),
        retry_policy=retry,
        timeout=_duration(timeout),
    )


def output(value: struct_pb2.Value | struct_pb2.Struct) -> Any:
    """A step output (or any Struct/Value) as plain Python: dict, list, str, float, ...

    Whole numbers come back as ``int`` (JSON numbers travel as doubles), and an
    unset Value as None.
    """
    if isinstance(value, struct_pb2.Struct):
        return {k: output(v) for k, v in value.fields.items()}
    match value.WhichOneof("kind"):
        case "struct_value":
            return output(value.struct_value)
        case "list_value":
            return [output(v) for v in value.list_value.values]
        case "string_value":
            return value.string_value
        case "bool_value":
            return value.bool_value
        case "number_value":
            number = value.number_value
            return int(number) if number.is_integer() else number
        case _:  # null_value, or unset
            return None


def status_name(status: int) -> str:
    """``EXECUTION_STATUS_COMPLETED`` -> ``"COMPLETED"``; unknown values as their number."""
    return _enum_name(pb.ExecutionStatus, "EXECUTION_STATUS_", status)


def step_status_name(status: int) -> str:
    """``STEP_STATUS_SKIPPED`` -> ``"SKIPPED"``; unknown values as their number."""
    return _enum_name(pb.StepStatus, "STEP_STATUS_", status)


def _enum_name(enum: EnumTypeWrapper, prefix: str, value: int) -> str:
    try:
        return enum.Name(value).removeprefix(prefix)
    except ValueError:  # from a newer server: still printable
        return str(value)


def _struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _duration(value: Seconds | None) -> duration_pb2.Duration | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else value
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration must be finite and >= 0, got {value!r}")
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration
