"""RPC metrics and the caller's trace context, in one interceptor.

Every call is counted under the go-grpc-prometheus names (started, handled by code,
handling time, messages sent), and open WatchExecution streams in `executor_watchers`. With
tracing on, the caller's `traceparent` (and `tracestate`) from the metadata becomes the
current OpenTelemetry context while the handler runs, so an execution the call starts is
parented to the caller's span.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import Token
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.context import Context
from prometheus_client import Counter

from executor_server.observability.metrics import Metrics
from executor_server.rpc.handlers import behaviour, rebuilt

if TYPE_CHECKING:  # the stubs make them generic; at run time they are plain classes
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor
    Handler = grpc.RpcMethodHandler

WATCH_METHOD = "/executor.v1.ExecutorService/WatchExecution"
_TRACE_KEYS = frozenset(("traceparent", "tracestate", "baggage"))


class TelemetryInterceptor(_Interceptor):
    def __init__(self, metrics: Metrics | None, *, propagate_trace: bool) -> None:
        self._metrics = metrics
        self._propagate = propagate_trace
        # The wrapped handler of each method, made once: the wrapper reads the call's
        # metadata itself. Keyed by method, kept with the handler it wraps.
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler: Handler | None = await continuation(details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED
            return handler  # type: ignore[return-value]
        cached = self._wrapped.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(details.method, handler)
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: Handler) -> Handler:
        service, _, name = method.lstrip("/").rpartition("/")
        streams = (handler.request_streaming, handler.response_streaming)
        kind = {
            (False, False): "unary",
            (False, True): "server_stream",
            (True, False): "client_stream",
            (True, True): "bidi_stream",
        }[streams]
        call = _Call(self._metrics, (kind, service, name), self._propagate, method == WATCH_METHOD)
        serve = behaviour(handler)
        # gRPC tells a streaming handler that yields from one that writes by its kind of
        # function, so the wrapper must be of the same kind.
        observed = call.stream(serve) if inspect.isasyncgenfunction(serve) else call.unary(serve)
        return rebuilt(handler, observed)


class _Call:
    """Observes the calls of one method; its metric children are fetched once."""

    def __init__(
        self,
        metrics: Metrics | None,
        labels: tuple[str, str, str],
        propagate_trace: bool,
        watch: bool,
    ) -> None:
        self._propagate = propagate_trace
        self._metrics = metrics
        self._labels = labels
        self._handled: dict[str, Counter] = {}
        if metrics is not None:
            self._started = metrics.rpc_started(*labels)
            self._handling = metrics.rpc_handling.labels(*labels)
            self._sent = metrics.rpc_msg_sent(*labels)
            self._watchers = metrics.watchers if watch else None

    def _attach(self, context: grpc.aio.ServicerContext[Any, Any]) -> Token[Context] | None:
        if not self._propagate:
            return None
        carrier = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if key in _TRACE_KEYS and isinstance(value, str)
        }
        return otel_context.attach(propagate.extract(carrier)) if carrier else None

    def _begin(self) -> float:
        if self._metrics is not None:
            self._started.inc()
            if self._watchers is not None:
                self._watchers.inc()
        return time.perf_counter()

    def _end(
        self,
        started: float,
        context: grpc.aio.ServicerContext[Any, Any],
        error: BaseException | None,
        sent: int,
    ) -> None:
        if self._metrics is None:
            return
        if self._watchers is not None:
            self._watchers.dec()
        code = _code(context, error)
        handled = self._handled.get(code)
        if handled is None:
            handled = self._handled[code] = self._metrics.rpc_handled(*self._labels, code)
        handled.inc()
        self._handling.observe(time.perf_counter() - started)
        if sent:
            self._sent.inc(sent)

    def unary(self, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            token = self._attach(context)
            started = self._begin()
            error: BaseException | None = None
            try:
                return await behaviour(request, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._end(started, context, error, int(error is None))
                if token is not None:
                    otel_context.detach(token)

        return observed

    def stream(
        self, behaviour: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def observed(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            token = self._attach(context)
            started = self._begin()
            error: BaseException | None = None
            sent = 0
            try:
                async for message in behaviour(request, context):
                    yield message
                    sent += 1
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._end(started, context, error, sent)
                if token is not None:
                    otel_context.detach(token)

        return observed


def _code(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> str:
    """The status the call ends with: the one the handler set (abort sets it too), else OK
    for a normal end, CANCELLED for a call the client left, UNKNOWN for an escaped error."""
    code: object = context.code()  # None until a code is set
    if isinstance(code, grpc.StatusCode):
        return code.name
    if error is None:
        return "OK"
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return "UNKNOWN"
