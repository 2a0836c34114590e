"""The blocking client, :class:`ExecutorClient`."""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from contextlib import closing
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from executor_client._common import (
    DEFAULT,
    DEFAULT_CHANNEL_OPTIONS,
    DEFAULT_TARGET,
    ClientBase,
    Pem,
    Timeout,
    WatchCursor,
    channel_security,
    to_struct,
)
from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_client._gen.executor.v1 import executor_pb2_grpc
from executor_client.errors import from_rpc_error

__all__ = ["ExecutorClient"]

_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)


class _Stub(Protocol):
    """The typed shape of the generated ExecutorServiceStub over a sync channel.

    grpcio-tools emits the stub without annotations; this gives its calls types.
    """

    ExecutePlan: grpc.UnaryUnaryMultiCallable[pb.ExecutePlanRequest, pb.ExecutePlanResponse]
    ExecuteStep: grpc.UnaryUnaryMultiCallable[pb.ExecuteStepRequest, pb.ExecuteStepResponse]
    CancelExecution: grpc.UnaryUnaryMultiCallable[
        pb.CancelExecutionRequest, pb.CancelExecutionResponse
    ]
    PauseExecution: grpc.UnaryUnaryMultiCallable[
        pb.PauseExecutionRequest, pb.PauseExecutionResponse
    ]
    ResumeExecution: grpc.UnaryUnaryMultiCallable[
        pb.ResumeExecutionRequest, pb.ResumeExecutionResponse
    ]
    GetExecutionStatus: grpc.UnaryUnaryMultiCallable[
        pb.GetExecutionStatusRequest, pb.GetExecutionStatusResponse
    ]
    RollbackExecution: grpc.UnaryUnaryMultiCallable[
        pb.RollbackExecutionRequest, pb.RollbackExecutionResponse
    ]
    WatchExecution: grpc.UnaryStreamMultiCallable[
        pb.WatchExecutionRequest, pb.WatchExecutionResponse
    ]
    ListTools: grpc.UnaryUnaryMultiCallable[pb.ListToolsRequest, pb.ListToolsResponse]
    ListExecutions: grpc.UnaryUnaryMultiCallable[
        pb.ListExecutionsRequest, pb.ListExecutionsResponse
    ]
    DeleteExecution: grpc.UnaryUnaryMultiCallable[
        pb.DeleteExecutionRequest, pb.DeleteExecutionResponse
    ]
    ApproveStep: grpc.UnaryUnaryMultiCallable[pb.ApproveStepRequest, pb.ApproveStepResponse]
    SignalExecution: grpc.UnaryUnaryMultiCallable[
        pb.SignalExecutionRequest, pb.SignalExecutionResponse
    ]
    ListApprovals: grpc.UnaryUnaryMultiCallable[pb.ListApprovalsRequest, pb.ListApprovalsResponse]
    RetryExecution: grpc.UnaryUnaryMultiCallable[
        pb.RetryExecutionRequest, pb.RetryExecutionResponse
    ]


class ExecutorClient(ClientBase):
    """Blocking client of ``executor.v1.ExecutorService``.

    Every method raises an :class:`~executor_client.errors.ExecutorClientError`
    subclass when the request fails. Use as ``with ExecutorClient() as c:``
    or call :meth:`close`.

    Args:
        target: ``host:port`` to open a channel to; ignored with ``channel``.
        channel: A channel to use instead; the client does not close it.
        timeout: Default per-call deadline in seconds; None waits forever.
        metadata: Sent with every call (e.g. ``[("authorization", "Bearer ...")]``).
        options: Channel options for the channel the client opens.
        token: A bearer token, sent as ``authorization: Bearer <token>`` with every call.
        tls: Speak TLS, trusting the system's CAs (implied by the ``tls_*`` arguments).
        tls_ca: PEM (bytes, or a file's path) of the CA that signed the server's certificate.
        tls_cert, tls_key: The client's certificate chain and key, for mutual TLS.
        tls_server_name: The name to check the server's certificate against, when it is
            not the host of ``target``.

    Raises ValueError for ``tls_cert`` without ``tls_key`` (or the reverse), OSError when
    a PEM file cannot be read.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        channel: grpc.Channel | None = None,
        timeout: float | None = 30.0,
        metadata: Sequence[tuple[str, str]] = (),
        options: Sequence[tuple[str, int | str]] = DEFAULT_CHANNEL_OPTIONS,
        token: str | None = None,
        tls: bool = False,
        tls_ca: Pem | None = None,
        tls_cert: Pem | None = None,
        tls_key: Pem | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        credentials, metadata, options = channel_security(
            token=token,
            metadata=metadata,
            tls=tls,
            tls_ca=tls_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_server_name=tls_server_name,
            options=options,
        )
        super().__init__(timeout, metadata)
        self._owns_channel = channel is None
        if channel is None:
            channel = (
                grpc.insecure_channel(target, options=options)
                if credentials is None
                else grpc.secure_channel(target, credentials, options=options)
            )
        self._channel = channel
        self._stub: _Stub = executor_pb2_grpc.ExecutorServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel if the client opened it, cancelling calls still running."""
        if self._owns_channel:
            self._channel.close()

    def _call(
        self,
        method: grpc.UnaryUnaryMultiCallable[_Req, _Resp],
        request: _Req,
        timeout: float | None,
    ) -> _Resp:
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from e

    def execute_plan(
        self,
        plan: pb.ActionPlan,
        options: pb.ExecutionOptions | None = None,
        *,
        detach: bool = False,
        timeout: Timeout = DEFAULT,
    ) -> pb.ExecutionResult:
        """Runs ``plan`` and returns its result (only its start with ``detach=True``).

        Without ``detach`` the call lasts as long as the execution, so unless
        ``timeout`` is given it has no deadline rather than the client's default.

        Raises:
            InvalidArgumentError: The plan is invalid (see ``field_violations``).
            AlreadyExistsError: A different plan with the same id was submitted.
            ResourceExhaustedError: The server runs too many executions.
        """
        request = pb.ExecutePlanRequest(plan=plan, options=options, detach=detach)
        if timeout is DEFAULT and not detach:
            timeout = None
        response = self._call(self._stub.ExecutePlan, request, self._resolve(timeout))
        return response.result

    def execute_step(
        self,
        step: pb.ActionStep,
        context: pb.ExecutionContext | None = None,
        *,
        timeout: Timeout = DEFAULT,
    ) -> pb.ExecuteStepResponse:
        """Runs one step outside any plan.

        Raises:
            InvalidArgumentError: The step is invalid.
        """
        request = pb.ExecuteStepRequest(step=step, context=context)
        return self._call(self._stub.ExecuteStep, request, self._resolve(timeout))

    def cancel_execution(
        self, plan_id: str, reason: str = "", *, timeout: Timeout = DEFAULT
    ) -> pb.ExecutionStatus:
        """Cancels an execution and returns its new status.

        Raises:
            NotFoundError: No such execution.
            FailedPreconditionError: It has already ended (see ``.status``).
        """
        request = pb.CancelExecutionRequest(plan_id=plan_id, reason=reason)
        response = self._call(self._stub.CancelExecution, request, self._resolve(timeout))
        return response.status

    def pause_execution(self, plan_id: str, *, timeout: Timeout = DEFAULT) -> pb.ExecutionStatus:
        """Pauses an execution and returns its new status.

        Raises:
            NotFoundError: No such execution.
            FailedPreconditionError: It is not running (see ``.status``).
        """
        request = pb.PauseExecutionRequest(plan_id=plan_id)
        response = self._call(self._stub.PauseExecution, request, self._resolve(timeout))
        return response.status

    def resume_execution(self, plan_id: str, *, timeout: Timeout = DEFAULT) -> pb.ExecutionStatus:
        """Resumes a paused execution and returns its new status.

        Raises:
            NotFoundError: No such execution.
            FailedPreconditionError: It is not paused (see ``.status``).
        """
        request = pb.ResumeExecutionRequest(plan_id=plan_id)
        response = self._call(self._stub.ResumeExecution, request, self._resolve(timeout))
        return response.status

    def rollback_execution(
        self, plan_id: str, *, detach: bool = False, timeout: Timeout = DEFAULT
    ) -> pb.ExecutionStatus:
        """Compensates the completed steps; returns the final status (ROLLED_BACK or
        ROLLBACK_FAILED), or the status once the rollback has started with ``detach``.

        Raises:
            NotFoundError: No such execution.
            FailedPreconditionError: It cannot be rolled back now (see ``.status``).
        """
        request = pb.RollbackExecutionRequest(plan_id=plan_id, detach=detach)
        response = self._call(self._stub.RollbackExecution, request, self._resolve(timeout))
        return response.status

    def retry_execution(
        self,
        plan_id: str,
        *,
        detach: bool = False,
        resource_limits: pb.ResourceLimits | None = None,
        timeout: Timeout = DEFAULT,
    ) -> pb.ExecutionResult:
        """Runs a FAILED or CANCELLED execution again from where it stopped: its failed,
        cancelled and skipped steps run again, completed ones keep their outputs. Returns
        the result once it ends (once it runs again with ``detach``). ``resource_limits``
        replaces its limits (what it used so far still counts).

        Without ``detach`` the call lasts as long as the execution, so unless
        ``timeout`` is given it has no deadline rather than the client's default.

        Raises:
            NotFoundError: No such execution.
            FailedPreconditionError: It is not FAILED nor CANCELLED (see ``.status``).
            InvalidArgumentError: A limit is invalid.
        """
        request = pb.RetryExecutionRequest(
            plan_id=plan_id, detach=detach, resource_limits=resource_limits
        )
        if timeout is DEFAULT and not detach:
            timeout = None
        response = self._call(self._stub.RetryExecution, request, self._resolve(timeout))
        return response.result

    def get_execution_status(
        self, plan_id: str, *, timeout: Timeout = DEFAULT
    ) -> pb.GetExecutionStatusResponse:
        """Status, progress, step results and usage of an execution.

        Raises:
            NotFoundError: No such execution.
        """
        request = pb.GetExecutionStatusRequest(plan_id=plan_id)
        return self._call(self._stub.GetExecutionStatus, request, self._resolve(timeout))

    def list_tools_page(
        self, page_size: int = 0, page_token: str = "", *, timeout: Timeout = DEFAULT
    ) -> pb.ListToolsResponse:
        """One page of the server's tools, with the plugins that failed to load.

        Raises:
            InvalidArgumentError: Bad page size or token.
        """
        request = pb.ListToolsRequest(page_size=page_size, page_token=page_token)
        return self._call(self._stub.ListTools, request, self._resolve(timeout))

    def list_tools(self, page_size: int = 0, *, timeout: Timeout = DEFAULT) -> list[pb.ToolSpec]:
        """All the server's tools, following pages; ``timeout`` applies per page.

        Raises:
            InvalidArgumentError: Bad page size.
        """
        tools: list[pb.ToolSpec] = []
        token = ""
        while True:
            page = self.list_tools_page(page_size, token, timeout=timeout)
            tools.extend(page.tools)
            if not (token := page.next_page_token):
                return tools

    def list_executions_page(
        self,
        request: pb.ListExecutionsRequest | None = None,
        *,
        timeout: Timeout = DEFAULT,
    ) -> pb.ListExecutionsResponse:
        """One page of executions, newest first; filters and page token in ``request``.

        Raises:
            InvalidArgumentError: Bad page size, token, or a filter changed between pages.
        """
        request = request or pb.ListExecutionsRequest()
        return self._call(self._stub.ListExecutions, request, self._resolve(timeout))

    def delete_execution(self, plan_id: str, *, timeout: Timeout = DEFAULT) -> None:
        """Forgets a finished execution: its journal, results and workspace.

        Raises:
            NotFoundError: No such execution.
            FailedPreconditionError: It has not finished (see ``.status``).
        """
        request = pb.DeleteExecutionRequest(plan_id=plan_id)
        self._call(self._stub.DeleteExecution, request, self._resolve(timeout))

    def approve_step(
        self,
        plan_id: str,
        step: str,
        *,
        arguments: Mapping[str, Any] | None = None,
        comment: str = "",
        timeout: Timeout = DEFAULT,
    ) -> pb.StepResult:
        """Approves the gate of ``step`` (its id or name): its tool runs, with
        ``arguments`` instead of its own when given (the gate must allow editing).
        Returns the step once the decision is journaled.

        Raises:
            NotFoundError: No such execution or step.
            InvalidArgumentError: ``arguments`` break the tool's input schema (the gate
                stays open; see ``field_violations``).
            FailedPreconditionError: The step has no gate, it was decided already, or it
                is not waiting (``metadata`` has ``step_status``, ``decision``).
        """
        request = pb.ApproveStepRequest(
            plan_id=plan_id,
            step=step,
            decision=pb.APPROVAL_DECISION_APPROVE,
            arguments=to_struct(arguments),
            comment=comment,
        )
        response = self._call(self._stub.ApproveStep, request, self._resolve(timeout))
        return response.result

    def reject_step(
        self, plan_id: str, step: str, *, comment: str = "", timeout: Timeout = DEFAULT
    ) -> pb.StepResult:
        """Rejects the gate of ``step``: it fails with REJECTED and ``comment`` in its
        error, and the plan's failure handling follows.

        Raises:
            NotFoundError: No such execution or step.
            FailedPreconditionError: As for :meth:`approve_step`.
        """
        request = pb.ApproveStepRequest(
            plan_id=plan_id, step=step, decision=pb.APPROVAL_DECISION_REJECT, comment=comment
        )
        response = self._call(self._stub.ApproveStep, request, self._resolve(timeout))
        return response.result

    def signal_execution(
        self, plan_id: str, name: str, payload: Any = None, *, timeout: Timeout = DEFAULT
    ) -> pb.ExecutionStatus:
        """Sends the signal ``name`` with a JSON-like ``payload``: the step waiting for it
        completes with the payload as its output (kept until it waits, if it does not
        yet). Returns the execution's status.

        Raises:
            NotFoundError: No such execution.
            InvalidArgumentError: No step waits for ``name``, or the payload breaks its
                schema.
            FailedPreconditionError: The signal came already, the step no longer waits,
                or the execution has ended.
        """
        request = pb.SignalExecutionRequest(
            plan_id=plan_id, name=name, payload=json_format.ParseDict(payload, struct_pb2.Value())
        )
        response = self._call(self._stub.SignalExecution, request, self._resolve(timeout))
        return response.status

    def list_approvals_page(
        self,
        plan_id: str = "",
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: Timeout = DEFAULT,
    ) -> pb.ListApprovalsResponse:
        """One page of the gates waiting for a decision, oldest first (of one execution
        with ``plan_id``).

        Raises:
            InvalidArgumentError: Bad page size or token.
        """
        request = pb.ListApprovalsRequest(
            plan_id=plan_id, page_size=page_size, page_token=page_token
        )
        return self._call(self._stub.ListApprovals, request, self._resolve(timeout))

    def list_approvals(
        self, plan_id: str = "", *, timeout: Timeout = DEFAULT
    ) -> list[pb.PendingApproval]:
        """Every gate waiting for a decision (the inbox), following pages; ``timeout``
        applies per page."""
        approvals: list[pb.PendingApproval] = []
        token = ""
        while True:
            page = self.list_approvals_page(plan_id, page_token=token, timeout=timeout)
            approvals.extend(page.approvals)
            if not (token := page.next_page_token):
                return approvals

    def watch_batches(
        self,
        plan_id: str,
        after_sequence: int = 0,
        *,
        reconnect: bool = True,
        max_reconnect_delay: float = 5.0,
        timeout: Timeout = DEFAULT,
    ) -> Generator[list[pb.ExecutionEvent]]:
        """Like :meth:`watch`, but yields the events in the batches the server sent."""
        cursor = WatchCursor(
            plan_id,
            after_sequence,
            reconnect=reconnect,
            max_reconnect_delay=max_reconnect_delay,
            # A watch lasts as long as the execution: no deadline unless asked for.
            timeout=None if timeout is DEFAULT else timeout,
        )
        while True:
            call = self._stub.WatchExecution(
                cursor.request(), timeout=cursor.remaining(), metadata=self._metadata
            )
            try:
                for response in call:
                    if events := cursor.accept(response):
                        yield events
                return
            except grpc.RpcError as e:
                error = from_rpc_error(e)
                delay = cursor.reconnect_delay(error)
                if delay is None:
                    raise error from e
            finally:
                # Stops the stream when the consumer leaves early (close/break).
                call.cancel()  # type: ignore[no-untyped-call]  # unannotated in grpc-stubs
            time.sleep(delay)

    def watch(
        self,
        plan_id: str,
        after_sequence: int = 0,
        *,
        reconnect: bool = True,
        max_reconnect_delay: float = 5.0,
        timeout: Timeout = DEFAULT,
    ) -> Generator[pb.ExecutionEvent]:
        """Yields the execution's events after ``after_sequence``, live, until it ends.

        With ``reconnect``, a stream broken by a transient failure (UNAVAILABLE,
        INTERNAL, UNKNOWN, CANCELLED) is reopened after the last event seen, with
        exponential backoff up to ``max_reconnect_delay`` seconds: no event is
        skipped or delivered twice. ``timeout`` bounds the whole watch; by default
        there is none.

        Raises:
            NotFoundError: No such execution.
            ExecutorClientError: A non-transient failure, or a transient one with
                ``reconnect=False`` or when the deadline would pass while waiting.
        """
        batches = self.watch_batches(
            plan_id,
            after_sequence,
            reconnect=reconnect,
            max_reconnect_delay=max_reconnect_delay,
            timeout=timeout,
        )
        # closing: when our consumer stops early, stop the stream now, not at GC.
        with closing(batches):
            for batch in batches:
                yield from batch

    def wait(self, plan_id: str, *, timeout: Timeout = DEFAULT) -> pb.GetExecutionStatusResponse:
        """Waits for the execution to end and returns its final status.

        ``timeout`` bounds the wait (by default there is none).

        Raises:
            NotFoundError: No such execution.
            DeadlineExceededError: ``timeout`` passed first.
        """
        for _ in self.watch_batches(plan_id, timeout=timeout):
            pass
        return self.get_execution_status(plan_id)
