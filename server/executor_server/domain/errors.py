"""Errors of the Executor. They carry data that callers branch on, not only prose.

ExecutorError
├── RequestError            a request cannot be served; rpc/ maps each to one gRPC status
│   ├── InvalidArgument         the plan or request is malformed (field violations)
│   ├── NotFound                no execution has this plan id
│   │   └── StepNotFound            the execution has no step of this id or name
│   ├── AlreadyExists           the plan id is taken by a plan with other content
│   ├── FailedPrecondition      the execution's status does not allow the operation
│   ├── ResourceExhausted       the server is at capacity
│   │   └── LimitExceeded           beyond one of its limits, named
│   ├── StillRunning            the request took effect but its end did not come in time
│   └── Unavailable             the server is shutting down
├── StepError               one attempt of a step failed; the engine records it as data
│   └── ToolError               raised by tools
└── IllegalTransition       the engine tried a transition the tables forbid (a bug of ours)
"""

from __future__ import annotations

from dataclasses import dataclass

from executor_server.domain.status import ExecutionErrorType, ExecutionStatus

MAX_ECHO_CHARS = 200
MAX_STEP_ERROR_CHARS = 4000


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was left out: for values a
    request brought that an answer echoes back."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


class ExecutorError(Exception):
    """Root of every error the Executor raises on purpose."""


class RequestError(ExecutorError):
    """The request cannot be served. `reason` is a stable UPPER_SNAKE identifier."""

    reason: str = "REQUEST_FAILED"

    def __init__(self, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata or {}


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One problem with one field, named by its path in the request (`plan.steps[2].id`)."""

    field: str
    description: str


class InvalidArgument(RequestError):
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation], *, reason: str = "INVALID_PLAN") -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"invalid request: {summary}{more}")
        self.violations = violations
        self.reason = reason


class NotFound(RequestError):
    reason = "EXECUTION_NOT_FOUND"

    def __init__(self, plan_id: str) -> None:
        super().__init__(
            f"no execution with plan id {clip(plan_id)!r}", metadata={"plan_id": plan_id}
        )
        self.plan_id = plan_id


class StepNotFound(NotFound):
    reason = "STEP_NOT_FOUND"

    def __init__(self, plan_id: str, step: str) -> None:
        RequestError.__init__(
            self,
            f"execution {clip(plan_id)!r} has no step with id or name {clip(step)!r}",
            metadata={"plan_id": plan_id, "step": step},
        )
        self.plan_id = plan_id
        self.step = step


class AlreadyExists(RequestError):
    reason = "PLAN_ID_CONFLICT"

    def __init__(self, plan_id: str) -> None:
        super().__init__(
            f"an execution with plan id {clip(plan_id)!r} already exists with different content",
            metadata={"plan_id": plan_id},
        )
        self.plan_id = plan_id


class FailedPrecondition(RequestError):
    reason = "INVALID_TRANSITION"

    def __init__(
        self, message: str, *, plan_id: str, status: ExecutionStatus, reason: str | None = None
    ) -> None:
        super().__init__(message, metadata={"plan_id": plan_id, "status": status.name})
        self.status = status
        if reason is not None:
            self.reason = reason


class ResourceExhausted(RequestError):
    reason = "CAPACITY_EXHAUSTED"

    def __init__(self, message: str, *, retry_after_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class LimitExceeded(ResourceExhausted):
    """A request beyond one of the server's limits (domain.limits), named in `limit`."""

    reason = "LIMIT_EXCEEDED"

    def __init__(
        self, message: str, *, limit: str, value: int, retry_after_seconds: float = 1.0
    ) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.metadata = {"limit": limit, "value": str(value)}


class StillRunning(RequestError):
    """Accepted and under way, but not finished within the time the server waits."""

    reason = "STILL_WINDING_DOWN"

    def __init__(self, message: str, *, plan_id: str, status: ExecutionStatus) -> None:
        super().__init__(message, metadata={"plan_id": plan_id, "status": status.name})
        self.status = status


class Unavailable(RequestError):
    reason = "SHUTTING_DOWN"


class StepError(ExecutorError):
    """An attempt failed. `retryable` tells the retry policy whether another attempt may help;
    `retry_after` (seconds) is the least the next attempt must wait, when the other side
    said so (HTTP `Retry-After`)."""

    def __init__(
        self,
        message: str,
        *,
        error_type: ExecutionErrorType = ExecutionErrorType.TOOL_FAILED,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        # Journaled, and sent in events and results: a tool cannot make it unbounded.
        message = clip(message, MAX_STEP_ERROR_CHARS)
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after = retry_after


class ToolError(StepError):
    """Raised by a tool to fail its attempt with a chosen type and retryability."""


class IllegalTransition(ExecutorError):
    """The engine's machine tried a transition that the status tables do not allow.

    Never a user's doing (requests the state does not allow are FailedPrecondition): it
    names the bug, and the machine refuses to journal the event.
    """

    def __init__(self, what: str, current: str, target: str) -> None:
        super().__init__(f"illegal {what} transition {current} -> {target}")
        self.what = what
        self.current = current
        self.target = target
