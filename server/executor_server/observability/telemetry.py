"""The server's telemetry: which signals are on, the per-execution observers that produce
them, and the lifecycle of what they need (the /metrics endpoint, the span exporter)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from wsgiref.simple_server import WSGIServer

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import start_http_server

from executor_server.domain.models import ActionPlan, Event
from executor_server.domain.status import ExecutionStatus
from executor_server.observability import logs
from executor_server.observability._plan import PlanInfo
from executor_server.observability.metrics import ExecutionMetrics, Metrics
from executor_server.observability.protocol import (
    NO_TRACE_CONTEXT,
    NULL_EXECUTION_OBSERVER,
    ExecutionObserver,
)
from executor_server.observability.tracing import (
    TRACER_NAME,
    ExecutionTrace,
    otlp_provider,
    resolved_endpoint,
)

log = logging.getLogger(__name__)


class Telemetry:
    """An `Observer` producing the signals that are on: metrics (with `metrics`), traces
    (with `tracer_provider`) and transition logs (when the events logger logs INFO)."""

    def __init__(
        self,
        *,
        metrics: Metrics | None = None,
        tracer_provider: TracerProvider | None = None,
        metrics_address: str | None = None,
        otlp_endpoint: str | None = None,
    ) -> None:
        self.metrics = metrics
        self._otlp_endpoint = otlp_endpoint
        self.tracer_provider = tracer_provider
        self._tracer = tracer_provider.get_tracer(TRACER_NAME) if tracer_provider else None
        self._metrics_address = metrics_address
        self._http: WSGIServer | None = None
        #: The port /metrics is served on, once started.
        self.metrics_port: int | None = None

    @classmethod
    def configure(cls, *, metrics_address: str | None, otlp_endpoint: str | None) -> Telemetry:
        """Metrics when given an address; traces when given an endpoint or the standard
        OTEL_EXPORTER_OTLP_* variables. Blocking: call it off the event loop."""
        return cls(
            metrics=Metrics() if metrics_address is not None else None,
            tracer_provider=otlp_provider(otlp_endpoint),
            metrics_address=metrics_address,
            otlp_endpoint=resolved_endpoint(otlp_endpoint),
        )

    @property
    def tracing(self) -> bool:
        return self._tracer is not None

    def execution(
        self, plan: ActionPlan, status: ExecutionStatus, *, standalone: bool = False
    ) -> ExecutionObserver:
        info = PlanInfo(plan, standalone)
        metrics = self.metrics.execution(info, status) if self.metrics is not None else None
        spans = ExecutionTrace(self._tracer, info, status) if self._tracer is not None else None
        lines = None
        if logs.enabled():
            lines = logs.ExecutionLog(info, spans.trace_id if spans is not None else None)
        if metrics is None and spans is None and lines is None:
            return NULL_EXECUTION_OBSERVER
        return ExecutionTelemetry(metrics, spans, lines)

    async def start(self) -> None:
        """Serve /metrics, if asked to. Raises RuntimeError when the address is unusable."""
        if self.tracer_provider is not None and self._otlp_endpoint is not None:
            log.info("exporting traces", extra={"otlp_endpoint": self._otlp_endpoint})
        if self.metrics is None or self._metrics_address is None:
            return
        host, port = parse_address(self._metrics_address)
        try:
            http, _ = await asyncio.to_thread(
                start_http_server, port, host, registry=self.metrics.registry
            )
        except OSError as exc:
            raise RuntimeError(f"cannot serve metrics on {self._metrics_address}: {exc}") from exc
        self._http = http
        self.metrics_port = http.server_port
        log.info(
            "serving metrics", extra={"address": self._metrics_address, "port": self.metrics_port}
        )

    async def shutdown(self) -> None:
        """Stop serving /metrics and export the spans still buffered."""
        if self._http is not None:
            http, self._http = self._http, None
            await asyncio.to_thread(http.shutdown)
            http.server_close()
        if self.tracer_provider is not None:
            await asyncio.to_thread(self.tracer_provider.shutdown)


def parse_address(address: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 hosts in brackets) as (host, port). Raises ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not HOST:PORT")
    host = host.removeprefix("[").removesuffix("]")
    return host or "0.0.0.0", int(port)


class ExecutionTelemetry:
    """The signals of one execution. A failure in producing them is logged and costs the
    signal, never the execution."""

    __slots__ = ("_closed", "_lines", "_metrics", "_spans")

    def __init__(
        self,
        metrics: ExecutionMetrics | None,
        spans: ExecutionTrace | None,
        lines: logs.ExecutionLog | None,
    ) -> None:
        self._metrics = metrics
        self._spans = spans
        self._lines = lines
        self._closed = False

    def attempt_starting(
        self, step_id: str, attempt: int, tool: str, compensation: bool, item: int | None = None
    ) -> Mapping[str, str]:
        if self._spans is not None:
            try:
                return self._spans.attempt_starting(step_id, attempt, tool, compensation, item)
            except Exception:
                log.exception("tracing an attempt failed")
        return NO_TRACE_CONTEXT

    def committed(self, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.committed(seconds)

    def published(self, events: Sequence[Event]) -> None:
        for part in (self._metrics, self._lines, self._spans):
            if part is not None:
                try:
                    part.published(events)
                except Exception:
                    log.exception("observing events failed", extra={"part": type(part).__name__})

    def closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        for part in (self._metrics, self._spans):
            if part is not None:
                try:
                    part.closed()
                except Exception:
                    log.exception("observing the end failed", extra={"part": type(part).__name__})
