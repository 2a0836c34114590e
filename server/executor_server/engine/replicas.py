"""What the executor needs to run as one of several replicas on a shared store.

- `forwarded` marks a control operation (pause, resume, cancel, rollback, …): applied where
  the execution runs. On a replica that does not own the execution the call travels to
  the owner through the database — its name and keyword arguments as JSON in a row, a
  notification — and answers with what the owner answered (`encode_answer`,
  `decode_answer`). Replicas need no address of each other, so any balancer will do.
- `Wakeups` turns notifications (numbers, never payloads) into wake-ups of whoever waits
  on a key: the watchers and waiters of an execution, the sender of a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from executor_server.domain.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    RequestError,
    ResourceExhausted,
    StepNotFound,
    StillRunning,
    Unavailable,
)
from executor_server.domain.status import ExecutionStatus

if TYPE_CHECKING:
    from executor_server.engine.executor import Executor

P = ParamSpec("P")
Operation = Callable[Concatenate["Executor", str, P], Awaitable[ExecutionStatus]]

#: The operations `forwarded` marked, by name: what an owner applies for a command.
FORWARDED: dict[str, Callable[..., Awaitable[ExecutionStatus]]] = {}


class Moved(Unavailable):
    """This replica does not run the execution (any more): ask who does, and try again.
    Reaches a client only when no replica took it over in time."""

    reason = "EXECUTION_MOVED"

    def __init__(self, plan_id: str) -> None:
        super().__init__(
            f"execution {plan_id} is not run by this replica and no other took it over in "
            "time: try again",
            metadata={"plan_id": plan_id},
        )
        self.plan_id = plan_id


def forwarded(
    method: Operation[P],
) -> Callable[Concatenate[Executor, str, P], Coroutine[Any, Any, ExecutionStatus]]:
    """Mark `method(self, plan_id, …) -> ExecutionStatus` as applied by the execution's
    owner. Its other arguments must be JSON values (they travel by name); it raises
    RequestErrors that `encode_answer` knows, or Moved when it finds the execution is not
    run here. Raises what the owner's method raised."""
    FORWARDED[method.__name__] = method
    signature = inspect.signature(method)

    async def route(
        self: Executor, plan_id: str, /, *args: P.args, **kwargs: P.kwargs
    ) -> ExecutionStatus:
        bound = signature.bind(self, plan_id, *args, **kwargs)
        arguments = dict(bound.arguments)
        del arguments["self"], arguments["plan_id"]
        return await self._route(method.__name__, plan_id, arguments)

    route.__name__, route.__qualname__ = method.__name__, method.__qualname__
    route.__doc__ = method.__doc__
    return route


# ------------------------------------------------------------------ answers


def encode_answer(outcome: ExecutionStatus | RequestError) -> str:
    """A command's answer as JSON text: the resulting status, or the request's error."""
    if isinstance(outcome, ExecutionStatus):
        return json.dumps({"status": outcome.name})
    error: dict[str, Any] = {
        "kind": type(outcome).__name__,
        "message": outcome.message,
        "reason": outcome.reason,
        "metadata": outcome.metadata,
    }
    if isinstance(outcome, InvalidArgument):
        error["violations"] = [[v.field, v.description] for v in outcome.violations]
    if isinstance(outcome, ResourceExhausted):
        error["retry_after_seconds"] = outcome.retry_after_seconds
    return json.dumps({"error": error})


def decode_answer(text: str, plan_id: str) -> ExecutionStatus:
    """The status a command answered with. Raises the error it answered with (Moved: the
    owner no longer runs the execution)."""
    answer = json.loads(text)
    if "status" in answer:
        return ExecutionStatus[answer["status"]]
    error = answer["error"]
    kind, message, metadata = error["kind"], error["message"], error["metadata"]
    status = ExecutionStatus[metadata["status"]] if "status" in metadata else None
    raised: RequestError
    if kind == "Moved":
        raised = Moved(plan_id)
    elif kind == "StepNotFound" and "step" in metadata:
        raised = StepNotFound(plan_id, metadata["step"])
    elif kind == "NotFound":
        raised = NotFound(plan_id)
    elif kind == "StillRunning" and status is not None:
        raised = StillRunning(message, plan_id=plan_id, status=status)
    elif kind == "FailedPrecondition" and status is not None:
        raised = FailedPrecondition(message, plan_id=plan_id, status=status, reason=error["reason"])
    elif kind == "InvalidArgument":
        violations = [FieldViolation(f, d) for f, d in error.get("violations", [])]
        raised = InvalidArgument(violations, reason=error["reason"])
    elif kind in ("ResourceExhausted", "LimitExceeded"):
        raised = ResourceExhausted(
            message, retry_after_seconds=error.get("retry_after_seconds", 1.0)
        )
    else:
        raised = Unavailable(message)
    raised.metadata = metadata
    raise raised


# ------------------------------------------------------------------ wake-ups


class Wakeups:
    """Events by key, set when a notification names the key. A waiter registers before it
    reads what it waits for, and clears its event before each read, so a notification
    that comes between its read and its wait is never missed."""

    def __init__(self) -> None:
        self._waiting: dict[object, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watch(self, key: object) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._waiting[key]
            waiting.discard(event)
            if not waiting:
                del self._waiting[key]

    def wake(self, key: object) -> None:
        for event in self._waiting.get(key, ()):
            event.set()

    def wake_all(self) -> None:
        """After notifications may have been lost: everyone reads again."""
        for waiting in self._waiting.values():
            for event in waiting:
                event.set()


async def wait_for(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
