"""JSON encoding of records and events for stores that keep bytes (SQLite, PostgreSQL).

Events are written by the thousand per second: keys are short and defaults are left out.
"""

from __future__ import annotations

import json
from typing import Any

from executor_server.domain.models import Event, ExecutionError, ResourceUsage
from executor_server.domain.status import (
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
    return _dumps(data)


def decode_event(plan_id: str, sequence: int, text: str | bytes) -> Event:
    data = json.loads(text)
    error = data.get("e")
    usage = data.get("u")
    step_status = data.get("ss")
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
    )
