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


_FACTORIES = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def behaviour(handler: Handler) -> Any:
    """The function that serves `handler`'s calls, whatever its kind."""
    attribute, _ = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return getattr(handler, attribute)


def rebuilt(handler: Handler, serve: Any, *, request_deserializer: Any = None) -> Handler:
    """A handler of `handler`'s kind served by `serve`, with `handler`'s serializers (or
    `request_deserializer` instead of its own)."""
    _, make = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return make(
        serve,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


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
    serve = behaviour(handler)
    if inspect.isasyncgenfunction(serve):

        async def stream_within(request: Any, context: Any) -> AsyncIterator[Any]:
            with scope(context):
                async for response in serve(request, context):
                    yield response

        return rebuilt(handler, stream_within)

    async def within_scope(request: Any, context: Any) -> Any:
        with scope(context):
            return await serve(request, context)

    return rebuilt(handler, within_scope)
