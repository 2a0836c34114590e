"""Observability: Prometheus metrics, OpenTelemetry traces and transition logs, all derived
from the engine's event stream.

The engine knows only the small protocol in `protocol` and calls it at two places: where
stored events are published, and where a tool's context is built. `telemetry.Telemetry`
implements it; `metrics`, `tracing` and `logs` each turn events into one kind of signal.
"""

from executor_server.observability.protocol import (
    NO_TRACE_CONTEXT,
    NULL_EXECUTION_OBSERVER,
    NULL_OBSERVER,
    ExecutionObserver,
    Observer,
)

__all__ = [
    "NO_TRACE_CONTEXT",
    "NULL_EXECUTION_OBSERVER",
    "NULL_OBSERVER",
    "ExecutionObserver",
    "Observer",
]
