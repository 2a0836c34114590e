"""Request bodies that cannot be decoded are INVALID_ARGUMENT, not UNKNOWN.

grpc.aio decodes a request before the handler runs; a DecodeError there escapes as
UNKNOWN carrying protobuf's internal text, with an error-level traceback in the log for
every bad call. This interceptor gives every method a decoder that cannot fail: a body it
cannot decode becomes a marker that the handler's wrapper refuses with a clear status.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from executor_server.domain.limits import MAX_JSON_DEPTH
from executor_server.rpc.errors import error_info
from executor_server.rpc.handlers import behaviour, rebuilt

if TYPE_CHECKING:  # the stubs make it generic; at run time it is a plain class
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor

__all__ = ["MAX_JSON_DEPTH", "SafeDecoding"]


class _Undecodable:
    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _safe(decode: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    message_type = method.rsplit("/", 1)[-1] + "Request"

    def decode_or_mark(body: bytes) -> Any:
        try:
            return decode(body)
        except DecodeError as exc:
            too_deep = "MaxDepth" in str(exc)
            why = (
                f"nests deeper than protobuf's limit of 100 messages (JSON values: at most "
                f"{MAX_JSON_DEPTH} levels)"
                if too_deep
                else "it is not a valid protobuf encoding of that message"
            )
            return _Undecodable(f"the request body could not be decoded as {message_type}: {why}")

    return decode_or_mark


def _refusal(marker: _Undecodable) -> grpc.Status:
    return rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message=marker.why,
            details=[error_info("MALFORMED_REQUEST")],
        )
    )


def _guarded(handler: Any, method: str) -> Any:
    """`handler` with a decoder that cannot fail and a behaviour that refuses what it
    could not decode (grpc's stubs type aio handlers as sync ones: hence Any)."""
    decode = _safe(handler.request_deserializer, method)
    serve = behaviour(handler)
    if handler.request_streaming:  # reflection: check each request as it is read
        if not inspect.isasyncgenfunction(serve):
            return handler  # a stream writing with context.write: none of ours

        async def bidi(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            async def checked() -> AsyncIterator[Any]:
                async for request in requests:
                    if type(request) is _Undecodable:
                        await context.abort_with_status(_refusal(request))
                    yield request

            async for response in serve(checked(), context):
                yield response

        return rebuilt(handler, bidi, request_deserializer=decode)
    if inspect.isasyncgenfunction(serve):

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            if type(request) is _Undecodable:
                await context.abort_with_status(_refusal(request))
            async for response in serve(request, context):
                yield response

        return rebuilt(handler, stream, request_deserializer=decode)

    async def unary(request: Any, context: Any) -> Any:  # or a stream writing with write()
        if type(request) is _Undecodable:
            await context.abort_with_status(_refusal(request))
        return await serve(request, context)

    return rebuilt(handler, unary, request_deserializer=decode)


class SafeDecoding(_Interceptor):
    """Wraps every method's handler once, then hands out the wrapped one."""

    def __init__(self) -> None:
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method = details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped  # type: ignore[no-any-return]
        handler: grpc.RpcMethodHandler[Any, Any] | None = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler  # type: ignore[return-value]
        wrapped = self._wrapped[method] = _guarded(handler, method)
        return wrapped  # type: ignore[no-any-return]
