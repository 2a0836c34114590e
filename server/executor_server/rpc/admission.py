"""Limits on calls, as they arrive: how many run at once, and how often each caller may
submit work. Both refuse with RESOURCE_EXHAUSTED (LIMIT_EXCEEDED) naming the limit, with
RetryInfo."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc

from executor_server.domain.errors import LimitExceeded
from executor_server.rpc.errors import to_status
from executor_server.rpc.handlers import rejecting, within

_UNCOUNTED = ("/grpc.health.v1.", "/grpc.reflection.")

if TYPE_CHECKING:  # the stubs make it generic; at run time it is a plain class
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor


class ConcurrencyLimit(_Interceptor):
    """At most `limit` ExecutorService calls in flight; the next is refused before its body
    is decoded. Health and reflection are not counted. It must come after interceptors
    whose handlers differ from call to call (it keeps the first handler of each method)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.in_flight = 0
        self._counted_handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        self._refusal = to_status(
            LimitExceeded(
                f"the server is handling {limit:,} calls, its limit (--max-concurrent-rpcs)",
                limit="max_concurrent_rpcs",
                value=limit,
            )
        )

    @contextlib.contextmanager
    def _counted(self, _context: Any) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler: grpc.RpcMethodHandler[Any, Any] | None = await continuation(details)
        method = details.method
        if handler is None or method.startswith(_UNCOUNTED):
            return handler  # type: ignore[return-value]
        if self.in_flight >= self._limit:
            return rejecting(handler, self._refusal)
        # The same for every call of a method: each handler is wrapped once.
        counted = self._counted_handlers.get(method)
        if counted is None:
            counted = self._counted_handlers[method] = within(handler, self._counted)
        return counted


class SubmissionRate:
    """A token bucket per caller: `per_minute` submissions, refilled evenly over a minute,
    so a burst of up to `per_minute` passes and the sustained rate is `per_minute`/60 s."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, when)

    def take(self, caller: str) -> None:
        """Raises LimitExceeded when `caller` has used its submissions for now."""
        now = self._clock()
        tokens, then = self._buckets.get(caller, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - then) * self._per_second)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            wait = (1.0 - tokens) / self._per_second
            raise LimitExceeded(
                f"{caller!r} submitted {self._capacity:,.0f} executions within a minute, the "
                f"limit (--max-executions-per-minute); retry in {wait:.1f}s",
                limit="max_executions_per_minute",
                value=int(self._capacity),
                retry_after_seconds=wait,
            )
        self._buckets[caller] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:  # callers come from a token file: a bound, not a case
            rate = self._per_second
            full = [c for c, (t, w) in self._buckets.items() if t + (now - w) * rate >= 1]
            for c in full:  # a caller with a submission to spare starts afresh next time
                del self._buckets[c]
