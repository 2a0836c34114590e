"""JSON encoding of plans, options and events for stores that keep bytes (SQLite, PostgreSQL).

Events are written by the thousand per second: keys are short and defaults are left out.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    ApprovalGate,
    Compensation,
    Event,
    ExecutionError,
    ExecutionOptions,
    ForEach,
    ResourceLimits,
    ResourceUsage,
    RetryPolicy,
    Sleep,
    TimeoutPolicy,
    ToolExecution,
    ValidationRule,
    WaitForSignal,
)
from executor_server.domain.status import (
    ApprovalDecision,
    DependencyRule,
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_event(event: Event) -> str:
    data: dict[str, Any] = {"t": event.time, "k": int(event.type), "s": int(event.status)}
    if event.step_id:
        data["id"] = event.step_id
        data["n"] = event.step_name
    if event.step_status is not None:
        data["ss"] = int(event.step_status)
    if event.attempt:
        data["a"] = event.attempt
    if event.message:
        data["m"] = event.message
    if event.error is not None:
        e = event.error
        data["e"] = [int(e.error_type), e.message, e.retryable, e.step_id]
    if event.output is not None:
        data["o"] = event.output
    if event.usage is not None:
        u = event.usage
        data["u"] = [
            u.cpu_time_ms,
            u.memory_peak_mb,
            u.disk_reads,
            u.disk_writes,
            u.network_requests,
            u.tool_invocations,
        ]
    if event.retry_delay is not None:
        data["rd"] = event.retry_delay
    if event.progress is not None:
        data["p"] = event.progress
    if event.actor:
        data["by"] = event.actor
    if event.limits is not None:
        data["rl"] = _limits_out(event.limits)
    if event.item_index is not None:
        data["ix"] = event.item_index
    if event.item_count is not None:
        data["ic"] = event.item_count
    if event.decision is not None:
        data["d"] = int(event.decision)
    if event.signal:
        data["sg"] = event.signal
    if event.wait_deadline is not None:
        data["wd"] = event.wait_deadline
    return _dumps(data)


def decode_event(plan_id: str, sequence: int, text: str | bytes) -> Event:
    data = json.loads(text)
    error = data.get("e")
    usage = data.get("u")
    step_status = data.get("ss")
    decision = data.get("d")
    return Event(
        sequence=sequence,
        plan_id=plan_id,
        time=data["t"],
        type=EventType(data["k"]),
        status=ExecutionStatus(data["s"]),
        step_id=data.get("id", ""),
        step_name=data.get("n", ""),
        step_status=StepStatus(step_status) if step_status is not None else None,
        attempt=data.get("a", 0),
        message=data.get("m", ""),
        error=ExecutionError(ExecutionErrorType(error[0]), error[1], error[2], error[3])
        if error is not None
        else None,
        output=data.get("o"),
        usage=ResourceUsage(*usage) if usage is not None else None,
        retry_delay=data.get("rd"),
        progress=data.get("p"),
        actor=data.get("by", ""),
        limits=_limits_in(data["rl"]) if "rl" in data else None,
        item_index=data.get("ix"),
        item_count=data.get("ic"),
        decision=ApprovalDecision(decision) if decision is not None else None,
        signal=data.get("sg", ""),
        wait_deadline=data.get("wd"),
    )


# ------------------------------------------------------------------ plans and options
#
# A stored plan outlives the code that stored it: its form is the codec's, written field by
# field and versioned, never a dump of the domain models (renaming a model field would
# otherwise silently break the recovery of every stored plan). Version 1 is what servers
# wrote before versions existed: pydantic's JSON of the models, durations as ISO 8601.

PLAN_CODEC_VERSION = 2
_DURATION = TypeAdapter(timedelta)


class CodecError(ValueError):
    """A stored plan this server cannot read (a newer version, or damaged)."""


def encode_plan(plan: ActionPlan) -> str:
    return _dumps({"v": PLAN_CODEC_VERSION, "plan": _plan_out(plan)})


def encode_options(options: ExecutionOptions) -> str:
    return _dumps({"v": PLAN_CODEC_VERSION, "options": _options_out(options)})


def decode_plan(text: str | bytes) -> ActionPlan:
    """Raises CodecError."""
    body = _versioned(text, "plan")
    try:
        return _plan_in(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"a stored plan cannot be read: {exc}") from exc


def decode_options(text: str | bytes) -> ExecutionOptions:
    """Raises CodecError."""
    body = _versioned(text, "options")
    try:
        return _options_in(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"stored options cannot be read: {exc}") from exc


def _versioned(text: str | bytes, key: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise CodecError(f"a stored {key} is not an object")
    if "v" not in data:
        return data  # version 1: the object itself
    version = data["v"]
    if version != PLAN_CODEC_VERSION:
        raise CodecError(
            f"a stored {key} has codec version {version}; this server reads up to "
            f"{PLAN_CODEC_VERSION}: upgrade the server"
        )
    body = data[key]
    if not isinstance(body, dict):
        raise CodecError(f"a stored {key} is not an object")
    return body


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _duration(value: Any) -> timedelta | None:
    """Seconds (version 2) or ISO 8601 text (version 1)."""
    if value is None:
        return None
    if isinstance(value, str):
        return _DURATION.validate_python(value)
    return timedelta(seconds=float(value))


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, "", 0, False, [], {})}


def _retry_out(policy: RetryPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return _compact(
        {
            "max_attempts": policy.max_attempts,
            "initial_backoff": _seconds(policy.initial_backoff),
            "backoff_multiplier": policy.backoff_multiplier,
            "max_backoff": _seconds(policy.max_backoff),
            "jitter": policy.jitter,
            "non_retryable_error_types": sorted(int(t) for t in policy.non_retryable_error_types),
        }
    )


def _retry_in(data: dict[str, Any] | None) -> RetryPolicy | None:
    if data is None:
        return None
    return RetryPolicy(
        max_attempts=data.get("max_attempts"),
        initial_backoff=_duration(data.get("initial_backoff")),
        backoff_multiplier=data.get("backoff_multiplier"),
        max_backoff=_duration(data.get("max_backoff")),
        jitter=data.get("jitter"),
        non_retryable_error_types=frozenset(
            ExecutionErrorType(t) for t in data.get("non_retryable_error_types", ())
        ),
    )


def _plan_out(plan: ActionPlan) -> dict[str, Any]:
    steps = []
    for s in plan.steps:
        call, undo = s.tool_execution, s.compensation
        steps.append(
            _compact(
                {
                    "id": s.id,
                    "name": s.name,
                    "tool_execution": {"tool_name": call.tool_name, "arguments": call.arguments}
                    if call is not None
                    else None,
                    "parameters": s.parameters,
                    "dependencies": list(s.dependencies),
                    "expected_duration": _seconds(s.expected_duration),
                    "timeout": _seconds(s.timeout),
                    "retry_policy": _retry_out(s.retry_policy),
                    "validation_rules": [
                        {"json_schema": r.json_schema, "description": r.description}
                        for r in s.validation_rules
                    ],
                    "compensation": _compact(
                        {
                            "tool_name": undo.tool_name,
                            "arguments": undo.arguments,
                            "retry_policy": _retry_out(undo.retry_policy),
                            "timeout": _seconds(undo.timeout),
                        }
                    )
                    if undo is not None
                    else None,
                    "when": s.when,
                    "dependency_rule": int(s.dependency_rule)
                    if s.dependency_rule is not DependencyRule.ALL_COMPLETED
                    else None,
                    "for_each": _compact(
                        {"items": s.for_each.items, "max_parallel": s.for_each.max_parallel}
                    )
                    if s.for_each is not None
                    else None,
                    **_waits_out(s),
                }
            )
        )
    return _compact({"id": plan.id, "name": plan.name, "steps": steps, "metadata": plan.metadata})


def _plan_in(data: dict[str, Any]) -> ActionPlan:
    steps = []
    for s in data.get("steps", ()):
        call, undo = s.get("tool_execution"), s.get("compensation")
        steps.append(
            ActionStep(
                id=s["id"],
                name=s.get("name", ""),
                tool_execution=ToolExecution(
                    tool_name=call["tool_name"], arguments=call.get("arguments", {})
                )
                if call is not None
                else None,
                parameters=s.get("parameters", {}),
                dependencies=tuple(s.get("dependencies", ())),
                expected_duration=_duration(s.get("expected_duration")),
                timeout=_duration(s.get("timeout")),
                retry_policy=_retry_in(s.get("retry_policy")),
                validation_rules=tuple(
                    ValidationRule(
                        json_schema=r.get("json_schema"), description=r.get("description", "")
                    )
                    for r in s.get("validation_rules", ())
                ),
                compensation=Compensation(
                    tool_name=undo["tool_name"],
                    arguments=undo.get("arguments", {}),
                    retry_policy=_retry_in(undo.get("retry_policy")),
                    timeout=_duration(undo.get("timeout")),
                )
                if undo is not None
                else None,
                when=s.get("when", ""),
                dependency_rule=DependencyRule(s.get("dependency_rule", 1)),
                for_each=ForEach(
                    items=s["for_each"]["items"],
                    max_parallel=s["for_each"].get("max_parallel", 0),
                )
                if "for_each" in s
                else None,
                **_waits_in(s),
            )
        )
    return ActionPlan(
        id=data["id"],
        name=data.get("name", ""),
        steps=tuple(steps),
        metadata=data.get("metadata", {}),
    )


def _limits_out(limits: ResourceLimits) -> dict[str, Any]:
    return _compact(
        {
            "max_cpu_cores": limits.max_cpu_cores,
            "max_memory_mb": limits.max_memory_mb,
            "max_disk_space_mb": limits.max_disk_space_mb,
            "max_network_requests": limits.max_network_requests,
            "max_execution_time": _seconds(limits.max_execution_time),
            "max_tool_invocations": limits.max_tool_invocations,
        }
    )


def _limits_in(limits: dict[str, Any]) -> ResourceLimits:
    return ResourceLimits(
        max_cpu_cores=limits.get("max_cpu_cores", 0),
        max_memory_mb=limits.get("max_memory_mb", 0),
        max_disk_space_mb=limits.get("max_disk_space_mb", 0),
        max_network_requests=limits.get("max_network_requests", 0),
        max_execution_time=_duration(limits.get("max_execution_time")),
        max_tool_invocations=limits.get("max_tool_invocations", 0),
    )


def _waits_out(step: ActionStep) -> dict[str, Any]:
    """A step's gate, signal wait or sleep (absent from plans stored before they existed)."""
    gate, signal, sleep = step.approval, step.wait_for_signal, step.sleep
    return {
        "approval": _compact(
            {
                "prompt": gate.prompt,
                "timeout": _seconds(gate.timeout),
                "on_timeout": int(gate.on_timeout),
                "allow_edit": gate.allow_edit,
            }
        )
        if gate is not None
        else None,
        "wait_for_signal": _compact(
            {
                "name": signal.name,
                "timeout": _seconds(signal.timeout),
                "payload_schema": signal.payload_schema,
            }
        )
        if signal is not None
        else None,
        "sleep": {"duration": _seconds(sleep.duration), "until": sleep.until}
        if sleep is not None
        else None,
    }


def _waits_in(data: dict[str, Any]) -> dict[str, Any]:
    gate, signal, sleep = data.get("approval"), data.get("wait_for_signal"), data.get("sleep")
    return {
        "approval": ApprovalGate(
            prompt=gate.get("prompt", ""),
            timeout=_duration(gate.get("timeout")),
            on_timeout=ApprovalDecision(gate.get("on_timeout", ApprovalDecision.REJECT)),
            allow_edit=gate.get("allow_edit", False),
        )
        if gate is not None
        else None,
        "wait_for_signal": WaitForSignal(
            name=signal["name"],
            timeout=_duration(signal.get("timeout")),
            payload_schema=signal.get("payload_schema"),
        )
        if signal is not None
        else None,
        "sleep": Sleep(duration=_duration(sleep.get("duration")), until=sleep.get("until"))
        if sleep is not None
        else None,
    }


def _options_out(options: ExecutionOptions) -> dict[str, Any]:
    limits, timeouts = options.resource_limits, options.timeout_policy
    return _compact(
        {
            "max_concurrent_steps": options.max_concurrent_steps,
            "resource_limits": _limits_out(limits),
            "timeout_policy": _compact(
                {
                    "default_step_timeout": _seconds(timeouts.default_step_timeout),
                    "expected_duration_multiplier": timeouts.expected_duration_multiplier,
                }
            ),
            "retry_policy": _retry_out(options.retry_policy),
            "auto_rollback": options.auto_rollback,
            "progress_reporting": options.progress_reporting,
            "continue_on_failure": options.continue_on_failure,
            "rollback_on_cancel": options.rollback_on_cancel,
        }
    )


def _options_in(data: dict[str, Any]) -> ExecutionOptions:
    limits = data.get("resource_limits", {})
    timeouts = data.get("timeout_policy", {})
    return ExecutionOptions(
        max_concurrent_steps=data.get("max_concurrent_steps", 0),
        resource_limits=_limits_in(limits),
        timeout_policy=TimeoutPolicy(
            default_step_timeout=_duration(timeouts.get("default_step_timeout")),
            expected_duration_multiplier=timeouts.get("expected_duration_multiplier"),
        ),
        retry_policy=_retry_in(data.get("retry_policy")) or RetryPolicy(),
        auto_rollback=data.get("auto_rollback", False),
        progress_reporting=data.get("progress_reporting", False),
        continue_on_failure=data.get("continue_on_failure", False),
        rollback_on_cancel=data.get("rollback_on_cancel", False),
    )
