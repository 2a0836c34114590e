"""Domain errors → gRPC statuses with google.rpc details, in one place.

Every RequestError maps to its code with an ErrorInfo (stable reason, domain, metadata);
InvalidArgument adds BadRequest field violations, capacity and shutdown errors add
RetryInfo. Anything else becomes INTERNAL with a generic message: no traceback leaks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from functools import wraps
from typing import Any, TypeVar, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from executor_server.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RequestError,
    ResourceExhausted,
    StillRunning,
    Unavailable,
    clip,
)

ERROR_DOMAIN = "executor.v1"

log = logging.getLogger(__name__)

_CODES: dict[type[RequestError], int] = {
    InvalidArgument: code_pb2.INVALID_ARGUMENT,
    NotFound: code_pb2.NOT_FOUND,
    AlreadyExists: code_pb2.ALREADY_EXISTS,
    FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
    StillRunning: code_pb2.DEADLINE_EXCEEDED,
    Unavailable: code_pb2.UNAVAILABLE,
}


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def error_info(reason: str, metadata: dict[str, str] | None = None) -> any_pb2.Any:
    """A packed google.rpc.ErrorInfo of our domain."""
    return _pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata))


# gRPC clients drop trailers over 8-16 KiB, and the details travel base64-encoded (4/3) in
# `grpc-status-details-bin`, the message percent-encoded in `grpc-message`: these keep an
# error's trailers near 7 KiB at most, whatever a request echoes back.
MAX_MESSAGE_BYTES = 512
MAX_DETAILS_BYTES = 4096


def _clip_bytes(text: str, limit: int) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 4].decode(errors="ignore") + " …"


def _violations(error: InvalidArgument, budget: int) -> error_details_pb2.BadRequest:
    """As many violations as fit in `budget` bytes, then one saying how many more."""
    listed = error_details_pb2.BadRequest()
    left = budget - 64  # room for the "more" entry
    for i, v in enumerate(error.violations):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=clip(v.field), description=clip(v.description)
        )
        left -= violation.ByteSize() + 3
        if left < 0:
            listed.field_violations.add(
                field="request",
                description=f"and {len(error.violations) - i:,} more violations not listed",
            )
            break
        listed.field_violations.append(violation)
    return listed


def to_status(error: RequestError) -> grpc.Status:
    code = next(
        (c for cls, c in _CODES.items() if isinstance(error, cls)), code_pb2.FAILED_PRECONDITION
    )
    message = _clip_bytes(error.message, MAX_MESSAGE_BYTES)
    metadata = {key: clip(value) for key, value in error.metadata.items()}
    details = [error_info(error.reason, metadata)]
    retry_after = getattr(error, "retry_after_seconds", None)
    if isinstance(error, (ResourceExhausted, Unavailable)):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round((retry_after or 1.0) * 1000))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if isinstance(error, InvalidArgument):
        used = len(message.encode()) + sum(d.ByteSize() for d in details)
        details.append(_pack(_violations(error, MAX_DETAILS_BYTES - used)))
    return rpc_status.to_status(status_pb2.Status(code=code, message=message, details=details))


_INTERNAL = rpc_status.to_status(
    status_pb2.Status(
        code=code_pb2.INTERNAL,
        message="internal error; the server logged the details",
        details=[error_info("INTERNAL")],
    )
)

H = TypeVar("H", bound=Callable[..., Any])


async def _abort(context: Any, exc: Exception, method: str) -> None:
    # grpc's type stubs predate `abort_with_status` on the aio context; it is a coroutine.
    if isinstance(exc, RequestError):
        await context.abort_with_status(to_status(exc))
    log.exception("unexpected error in %s", method, exc_info=exc)
    await context.abort_with_status(_INTERNAL)


def unary(handler: H) -> H:
    """Turn the errors a unary handler raises into statuses."""

    @wraps(handler)
    async def wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await handler(self, request, context)
        except Exception as exc:
            await _abort(context, exc, handler.__name__)
            raise  # not reached: abort raises

    return cast(H, wrapper)


def streaming(handler: H) -> H:
    """Turn the errors a server-streaming handler raises into statuses."""

    @wraps(handler)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in handler(self, request, context):
                yield item
        except Exception as exc:
            await _abort(context, exc, handler.__name__)

    return cast(H, wrapper)
