"""Bearer-token authentication for the Executor service.

Health checks and reflection stay open, so load balancers can probe and `buf curl` can
discover the API; every ExecutorService call needs `authorization: Bearer <token>` with one
of the configured tokens. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from executor_server.rpc.errors import error_info

_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

_UNAUTHENTICATED = rpc_status.to_status(
    status_pb2.Status(
        code=code_pb2.UNAUTHENTICATED,
        message="missing or invalid credentials: send 'authorization: Bearer <token>'",
        details=[error_info("UNAUTHENTICATED")],
    )
)


if TYPE_CHECKING:  # the stubs make it generic; at run time it is a plain class
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor


class BearerTokenAuth(_Interceptor):
    def __init__(self, tokens: Sequence[str]) -> None:
        if not tokens or any(not t for t in tokens):
            raise ValueError("authentication needs at least one non-empty token")
        self._tokens = [t.encode() for t in tokens]

    def _authorized(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> bool:
        for key, value in metadata or ():
            if key != "authorization":
                continue
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer":
                return False
            presented = token.strip().encode()
            # Check every token, so timing does not tell which one came close.
            matches = [hmac.compare_digest(presented, known) for known in self._tokens]
            return any(matches)
        return False

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        if details.method.startswith(_OPEN_PREFIXES) or self._authorized(
            details.invocation_metadata
        ):
            return await continuation(details)
        handler: grpc.RpcMethodHandler[Any, Any] | None = await continuation(details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED
            return handler  # type: ignore[return-value]
        return _rejecting(handler)


def _rejecting(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind as `handler` that refuses the call."""

    async def refuse(request: Any, context: Any) -> Any:
        await context.abort_with_status(_UNAUTHENTICATED)

    async def refuse_stream(request: Any, context: Any) -> AsyncIterator[Any]:
        await context.abort_with_status(_UNAUTHENTICATED)
        yield  # pragma: no cover - makes this an async generator, as gRPC expects

    # ExecutorService has unary and server-streaming methods only.
    kinds = {
        (False, False): (grpc.unary_unary_rpc_method_handler, refuse),
        (False, True): (grpc.unary_stream_rpc_method_handler, refuse_stream),
    }
    make, behaviour = kinds[(handler.request_streaming, handler.response_streaming)]
    # No request deserializer: the body of a call that is refused is never parsed.
    return make(behaviour, response_serializer=handler.response_serializer)
