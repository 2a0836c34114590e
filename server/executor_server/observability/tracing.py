"""OpenTelemetry traces: a span per execution, named for the plan, with a span per attempt
(and per compensation attempt) as its children, each ended as soon as its attempt ends, so
a long execution shows its finished work long before its own span ends.

Attempt spans follow the GenAI conventions for tool calls (`execute_tool {tool}`,
`gen_ai.operation.name`, `gen_ai.tool.name`, `gen_ai.tool.call.id` = the step id) plus
`executor.*` attributes. The execution span's parent is the OpenTelemetry context current
when the execution starts: the caller's `traceparent`, which rpc/ attaches for the call.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode

from executor_server.domain.models import Event, ExecutionError
from executor_server.domain.status import (
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)
from executor_server.observability._plan import PlanInfo

log = logging.getLogger(__name__)

TRACER_NAME = "executor_server"
MAX_DESCRIPTION = 1024  # status descriptions carry error messages: keep spans small
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_ATTEMPT_RUNNING = (StepStatus.RUNNING, StepStatus.COMPENSATING)
_FAILED = (ExecutionStatus.FAILED, ExecutionStatus.ROLLBACK_FAILED)


def resolved_endpoint(endpoint: str | None) -> str | None:
    """Where traces go: `endpoint`, else the standard variables; None when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    return endpoint or next((os.environ[v] for v in _ENDPOINT_VARIABLES if os.environ.get(v)), None)


def otlp_provider(endpoint: str | None) -> TracerProvider | None:
    """A provider exporting over OTLP/gRPC to `endpoint`, else to the standard
    OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT; None when neither is set or OTEL_SDK_DISABLED is.
    Blocking (reads package metadata): call it off the event loop."""
    if resolved_endpoint(endpoint) is None:
        return None
    # Imported only when used: the exporter brings the OTLP protobuf modules.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; "executor" replaces the SDK's
    # "unknown_service".
    resource = Resource.create({SERVICE_VERSION: metadata.version("executor")})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "executor"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


class _TraceContext(Mapping[str, str]):
    """The propagation headers of an attempt's span, made when a tool first reads them:
    most tools never do."""

    __slots__ = ("_carrier", "_span")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._carrier: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        if self._carrier is None:
            self._carrier = {}
            propagate.inject(self._carrier, context=trace.set_span_in_context(self._span))
        return self._carrier

    def __getitem__(self, key: str) -> str:
        return self._headers()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _error_attributes(span: Span, error: ExecutionError) -> None:
    span.set_attribute("error.type", error.error_type.name.lower())
    span.set_attribute("executor.error.type", error.error_type.name)
    if error.error_type is not ExecutionErrorType.CANCELLED:
        span.set_status(Status(StatusCode.ERROR, error.message[:MAX_DESCRIPTION]))


class ExecutionTrace:
    """The spans of one execution's run in this process."""

    __slots__ = ("_attempts", "_context", "_ended_at", "_error", "_info", "_span", "_tracer")

    def __init__(self, tracer: trace.Tracer, info: PlanInfo, status: ExecutionStatus) -> None:
        self._tracer = tracer
        self._info = info
        plan = info.plan
        if info.standalone:
            name = "execute_step"
        else:
            name = f"execute_plan {plan.name}" if plan.name else "execute_plan"
        self._span = tracer.start_span(
            name,
            # The caller's context, attached by rpc/ for the request that started this run.
            context=otel_context.get_current(),
            attributes={
                "executor.plan.id": plan.id,
                "executor.plan.name": plan.name,
                "executor.steps": len(plan.steps),
                "executor.status": status.name,
            },
        )
        self._context = trace.set_span_in_context(self._span)
        # (step id, attempt, compensation) -> its span. Not by step alone: the engine may
        # start a step's next attempt (or its compensation) before the event that ended the
        # previous one is published, since it publishes after storing.
        # Keyed by step id, item index (None for a plain step), attempt, compensation.
        self._attempts: dict[tuple[str, int | None, int, bool], Span] = {}
        self._error: ExecutionError | None = None
        self._ended_at: float | None = None

    @property
    def trace_id(self) -> str:
        return format(self._span.get_span_context().trace_id, "032x")

    def attempt_starting(
        self, step_id: str, attempt: int, tool: str, compensation: bool, item: int | None = None
    ) -> Mapping[str, str]:
        step = self._info.step(step_id)
        attributes: dict[str, str | int | bool] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": step_id if item is None else f"{step_id}[{item}]",
            "executor.plan.id": self._info.plan.id,
            "executor.step.name": step.name,
            "executor.attempt": attempt,
            "executor.compensation": compensation,
        }
        if item is not None:
            attributes["executor.item_index"] = item
        span = self._tracer.start_span(
            f"execute_tool {tool}", context=self._context, attributes=attributes
        )
        key = (step_id, item, attempt, compensation)
        earlier = self._attempts.pop(key, None)
        if earlier is not None:  # never expected: each attempt starts once
            earlier.end()
        self._attempts[key] = span
        return _TraceContext(span)

    def published(self, events: Sequence[Event]) -> None:
        for event in events:
            kind = event.type
            if kind is EventType.STEP_STATUS_CHANGED:
                if event.step_status not in _ATTEMPT_RUNNING:
                    self._attempt_ended(event, event.step_status)
            elif kind is EventType.STEP_RETRY_SCHEDULED:
                self._attempt_ended(event, None)
            elif kind is EventType.EXECUTION_STATUS_CHANGED:
                self._execution(event)
            elif kind is EventType.STEP_PROGRESS:
                at = (event.step_id, event.item_index, event.attempt)
                span = self._attempts.get((*at, False)) or self._attempts.get((*at, True))
                if span is not None:
                    span.add_event(
                        "progress",
                        {"executor.progress": event.progress or 0.0, "message": event.message},
                        timestamp=_ns(event.time),
                    )

    def _attempt_ended(self, event: Event, status: StepStatus | None) -> None:
        at = (event.step_id, event.item_index, event.attempt)
        if status is not None:
            span = self._attempts.pop((*at, status.is_compensation), None)
        else:  # a retry: of the forward attempt, unless that one has ended already
            span = self._attempts.pop((*at, False), None) or self._attempts.pop((*at, True), None)
        if span is None:
            return  # a step that never started here (skipped, or settled after a restart)
        # A retried attempt failed; the step is not settled yet.
        span.set_attribute("executor.status", status.name if status else StepStatus.FAILED.name)
        if event.retry_delay is not None:
            span.set_attribute("executor.retry_delay", event.retry_delay)
        if event.error is not None:
            _error_attributes(span, event.error)
        span.end(end_time=_ns(event.time))

    def _execution(self, event: Event) -> None:
        status = event.status
        self._span.add_event(status.name.lower(), timestamp=_ns(event.time))
        self._span.set_attribute("executor.status", status.name)
        if status in _FAILED and event.error is not None:
            self._error = event.error
        self._ended_at = event.time if status.is_terminal else None

    def closed(self) -> None:
        now = time.time()
        for span in self._attempts.values():  # stopped by a shutdown: resumed on restart
            span.set_attribute("executor.status", "INTERRUPTED")
            span.end(end_time=_ns(now))
        self._attempts.clear()
        if self._error is not None:
            _error_attributes(self._span, self._error)
        if self._ended_at is None:
            self._span.set_attribute("executor.interrupted", True)
        self._span.end(end_time=_ns(self._ended_at or now))
