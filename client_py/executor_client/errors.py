"""Typed exceptions for failed requests.

Every gRPC error a client method sees is re-raised as one of these, chosen by
status code, carrying the ``google.rpc`` details the server attached::

    ExecutorClientError                 any failed request (UNKNOWN, ABORTED, ... land here)
    ├── InvalidArgumentError            INVALID_ARGUMENT    (field_violations)
    ├── NotFoundError                   NOT_FOUND
    ├── AlreadyExistsError              ALREADY_EXISTS
    ├── FailedPreconditionError         FAILED_PRECONDITION (.status of the execution)
    ├── ResourceExhaustedError          RESOURCE_EXHAUSTED  (retry_delay)
    ├── UnauthenticatedError            UNAUTHENTICATED
    ├── PermissionDeniedError           PERMISSION_DENIED
    ├── UnavailableError                UNAVAILABLE         (retry_delay)
    ├── UnimplementedError              UNIMPLEMENTED
    ├── DeadlineExceededError           DEADLINE_EXCEEDED   (usually the client's own timeout)
    └── InternalError                   INTERNAL

Failures of a *plan* are not exceptions: they are data (status FAILED plus an
``ExecutionError`` in the result).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import grpc
import grpc.aio
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from executor_client._gen.executor.v1 import executor_pb2

__all__ = [
    "AlreadyExistsError",
    "DeadlineExceededError",
    "ExecutorClientError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "from_rpc_error",
]


@dataclass(frozen=True)
class FieldViolation:
    """One invalid request field, e.g. ``plan.steps[2].id``, and what is wrong with it."""

    field: str
    description: str


class ExecutorClientError(Exception):
    """A request to the Executor failed.

    Attributes:
        code: The gRPC status code.
        message: The status message.
        reason: ``ErrorInfo.reason``, a stable UPPER_SNAKE name such as
            ``EXECUTION_NOT_FOUND``; None when the server sent no ErrorInfo.
        metadata: ``ErrorInfo.metadata``, e.g. ``{"plan_id": ..., "status": "COMPLETED"}``.
        field_violations: ``BadRequest.field_violations``.
        retry_delay: ``RetryInfo.retry_delay``: how long to wait before retrying.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        retry_delay: datetime.timedelta | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: list[FieldViolation] = list(field_violations)
        self.retry_delay = retry_delay
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.reason:
            text += f" [{self.reason}]"
        for violation in self.field_violations:
            text += f"\n  {violation.field}: {violation.description}"
        return text


class InvalidArgumentError(ExecutorClientError):
    """The request is malformed; see ``field_violations``."""


class NotFoundError(ExecutorClientError):
    """The execution (or another named entity) does not exist."""


class AlreadyExistsError(ExecutorClientError):
    """A plan with this id but different content was already submitted."""


class FailedPreconditionError(ExecutorClientError):
    """The operation is not allowed in the execution's current status."""

    @property
    def status(self) -> executor_pb2.ExecutionStatus | None:
        """The execution's status the server reported (``metadata["status"]``), if known."""
        name = self.metadata.get("status")
        if not name:
            return None
        try:
            value = executor_pb2.ExecutionStatus.Value(f"EXECUTION_STATUS_{name}")
        except ValueError:  # a status this client version does not know
            return None
        return cast(executor_pb2.ExecutionStatus, value)


class ResourceExhaustedError(ExecutorClientError):
    """The server is at capacity; retry after ``retry_delay`` when set."""


class UnauthenticatedError(ExecutorClientError):
    """The request carried no valid credentials."""


class PermissionDeniedError(ExecutorClientError):
    """The caller may not perform this operation."""

    @property
    def required_role(self) -> str | None:
        """The role the operation needs (``viewer``, ``approver``, ``operator``), if given."""
        return self.metadata.get("required_role") or None


class UnavailableError(ExecutorClientError):
    """The server cannot be reached or is shutting down; the request may be retried."""


class UnimplementedError(ExecutorClientError):
    """The server does not implement this operation."""


class DeadlineExceededError(ExecutorClientError):
    """The call's timeout elapsed before the server answered."""


class InternalError(ExecutorClientError):
    """The server hit a bug."""


_BY_CODE: dict[grpc.StatusCode, type[ExecutorClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.INTERNAL: InternalError,
}


def from_rpc_error(err: grpc.RpcError) -> ExecutorClientError:
    """Converts a sync or ``grpc.aio`` RPC error into the matching typed exception.

    Never raises; details that cannot be parsed are left out.
    """
    if not isinstance(err, grpc.Call | grpc.aio.AioRpcError):
        # A bare RpcError (e.g. raised by an interceptor) carries no status at all.
        return ExecutorClientError(grpc.StatusCode.UNKNOWN, str(err))
    reason: str | None = None
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    retry_delay: datetime.timedelta | None = None
    rich = _rich_status(err)
    for detail in rich.details if rich is not None else ():
        info = error_details_pb2.ErrorInfo()
        bad_request = error_details_pb2.BadRequest()
        retry = error_details_pb2.RetryInfo()
        # Unpack() checks the type URL and returns False on a mismatch, so detail
        # types this client does not know about are skipped.
        if detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(bad_request):
            violations = [
                FieldViolation(v.field, v.description) for v in bad_request.field_violations
            ]
        elif detail.Unpack(retry):
            retry_delay = retry.retry_delay.ToTimedelta()
    code = err.code()
    return _BY_CODE.get(code, ExecutorClientError)(
        code,
        err.details() or "",
        reason=reason,
        metadata=metadata,
        field_violations=violations,
        retry_delay=retry_delay,
    )


def _rich_status(err: grpc.Call | grpc.aio.AioRpcError) -> status_pb2.Status | None:
    try:
        # AioRpcError has the same synchronous code()/details()/trailing_metadata()
        # accessors as a finished grpc.Call, which is all from_call uses.
        rich = rpc_status.from_call(cast(grpc.Call, err))
    except ValueError:
        # The details' code or message disagree with the call's (e.g. a proxy rewrote
        # the status); they then describe some other error, so ignore them.
        return None
    return cast(status_pb2.Status | None, rich)
