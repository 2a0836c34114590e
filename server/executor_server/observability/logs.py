"""One structured INFO line per execution and step transition (progress reports at DEBUG),
on the `executor_server.events` logger: `--log-level warning` silences them.

Fields: plan_id, plan_name, sequence, status and, for steps, step_id, step_name, tool and
attempt; error_type and error when there was one, retry_delay for a retry, and trace_id
when tracing is on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from executor_server.domain.models import Event
from executor_server.domain.status import EventType, ExecutionStatus, StepStatus
from executor_server.observability._plan import PlanInfo

log = logging.getLogger("executor_server.events")

_EXECUTION = {s: f"execution {s.name.lower().replace('_', ' ')}" for s in ExecutionStatus}
_STEP = {s: f"step {s.name.lower().replace('_', ' ')}" for s in StepStatus}


def enabled() -> bool:
    return log.isEnabledFor(logging.INFO)


class ExecutionLog:
    __slots__ = ("_info", "_trace_id")

    def __init__(self, info: PlanInfo, trace_id: str | None) -> None:
        self._info = info
        self._trace_id = trace_id

    def published(self, events: Sequence[Event]) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        debug = log.isEnabledFor(logging.DEBUG)
        standalone = self._info.standalone
        for event in events:
            kind = event.type
            if kind is EventType.EXECUTION_STATUS_CHANGED:
                if not standalone:  # ExecuteStep's wrapper execution is no news
                    log.info(_EXECUTION[event.status], extra=self._fields(event, event.status))
            elif kind is EventType.STEP_STATUS_CHANGED:
                assert event.step_status is not None
                log.info(_STEP[event.step_status], extra=self._step_fields(event))
            elif kind is EventType.STEP_RETRY_SCHEDULED:
                fields = self._step_fields(event)
                fields["retry_delay"] = event.retry_delay
                log.info("step retry scheduled", extra=fields)
            elif kind is EventType.APPROVAL_DECIDED:
                fields = self._step_fields(event)
                fields["decision"] = event.decision.name if event.decision else ""
                fields["actor"] = event.actor
                log.info("approval decided", extra=fields)
            elif kind is EventType.SIGNAL_RECEIVED:
                fields = self._step_fields(event)
                fields["signal"] = event.signal
                fields["actor"] = event.actor
                log.info("signal received", extra=fields)
            elif debug and kind is EventType.STEP_PROGRESS:
                fields = self._step_fields(event)
                fields["progress"] = event.progress
                fields["detail"] = event.message
                log.debug("step progress", extra=fields)

    def _fields(self, event: Event, status: ExecutionStatus | StepStatus | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "plan_id": event.plan_id,
            "plan_name": self._info.plan.name,
            "sequence": event.sequence,
        }
        if status is not None:
            fields["status"] = status.name
        error = event.error
        if error is not None:
            fields["error_type"] = error.error_type.name
            fields["error"] = error.message
        if self._trace_id is not None:
            fields["trace_id"] = self._trace_id
        return fields

    def _step_fields(self, event: Event) -> dict[str, Any]:
        fields = self._fields(event, event.step_status)
        fields["step_id"] = event.step_id
        fields["step_name"] = event.step_name
        fields["tool"] = self._info.tool(event.step_id)
        fields["attempt"] = event.attempt
        if event.item_index is not None:  # an element of a for_each step
            fields["item_index"] = event.item_index
        return fields
