"""Method handlers made from others, for the interceptors: one that refuses a call without
decoding its body, and one that runs the original inside a context manager."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:  # the stubs make it generic; at run time it is a plain class
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler


def rejecting(handler: Handler, status: grpc.Status) -> Handler:
    """A handler of the same kind as `handler` that refuses the call with `status`."""

    async def refuse(request: Any, context: Any) -> Any:
        await context.abort_with_status(status)

    async def refuse_stream(request: Any, context: Any) -> AsyncIterator[Any]:
        await context.abort_with_status(status)
        yield  # pragma: no cover - makes this an async generator, as gRPC expects

    # ExecutorService has unary and server-streaming methods only.
    kinds = {
        (False, False): (grpc.unary_unary_rpc_method_handler, refuse),
        (False, True): (grpc.unary_stream_rpc_method_handler, refuse_stream),
    }
    make, behaviour = kinds[(handler.request_streaming, handler.response_streaming)]
    # No request deserializer: the body of a call that is refused is never parsed.
    return make(behaviour, response_serializer=handler.response_serializer)


def within(handler: Handler, scope: Callable[[Any], AbstractContextManager[object]]) -> Handler:
    """`handler`, its whole call (a stream to its end) run inside `scope(context)`."""
    decode, encode = handler.request_deserializer, handler.response_serializer
    unary = handler.unary_unary
    if unary is not None:

        async def unary_within(request: Any, context: Any) -> Any:
            with scope(context):
                return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_within, request_deserializer=decode, response_serializer=encode
        )
    stream = handler.unary_stream
    if stream is not None and inspect.isasyncgenfunction(stream):

        async def stream_within(request: Any, context: Any) -> AsyncIterator[Any]:
            with scope(context):
                async for response in stream(request, context):
                    yield response

        return grpc.unary_stream_rpc_method_handler(
            stream_within, request_deserializer=decode, response_serializer=encode
        )
    return handler  # ExecutorService has unary and server-streaming (generator) methods only
