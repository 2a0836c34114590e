"""executor.v1.ExecutorService: convert the request, call the engine, convert the answer."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import grpc

from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_client._gen.executor.v1 import executor_pb2_grpc as pb_grpc
from executor_server.domain.errors import FieldViolation, InvalidArgument, LimitExceeded
from executor_server.domain.limits import Limits
from executor_server.domain.models import Event
from executor_server.engine.executor import Executor
from executor_server.rpc import convert
from executor_server.rpc.admission import SubmissionRate
from executor_server.rpc.auth import caller
from executor_server.rpc.errors import streaming, unary

Context = grpc.aio.ServicerContext[Any, Any]

MAX_TOOLS_PAGE = 1000
ANSWER_MARGIN = 64 * 1024
WATCH_MESSAGE_BYTES = 4 * 1024 * 1024  # what every gRPC client accepts by default
# Watch batches kept for the watchers reading the same ones, by count and by bytes.
BATCH_CACHE = 256
BATCH_CACHE_BYTES = 64 * 1024 * 1024
DEFAULT_EXECUTIONS_PAGE = 50
MAX_EXECUTIONS_PAGE = 1000
DEFAULT_APPROVALS_PAGE = 50
MAX_APPROVALS_PAGE = 1000


def _required(present: bool, field: str) -> None:
    if not present:
        raise InvalidArgument([FieldViolation(field, "required")], reason="MISSING_FIELD")


def _plan_id(plan_id: str) -> str:
    _required(bool(plan_id), "plan_id")
    return plan_id


class _EventMessages:
    """Wire messages of recent events with their sizes, shared by every watcher: with fifty
    watchers on one execution each event is still converted once. A hit needs the very same
    event object, so an execution deleted and submitted again under its id never sees the
    old messages."""

    def __init__(self, capacity: int = 16_384) -> None:
        self._capacity = capacity
        self._messages: OrderedDict[tuple[str, int], tuple[Event, pb.ExecutionEvent, int]] = (
            OrderedDict()
        )

    def __call__(self, event: Event) -> tuple[pb.ExecutionEvent, int]:
        key = (event.plan_id, event.sequence)
        cached = self._messages.get(key)
        if cached is not None and cached[0] is event:
            return cached[1], cached[2]
        message = convert.event_to_pb(event)
        size = message.ByteSize()
        self._messages[key] = (event, message, size)
        if len(self._messages) > self._capacity:
            self._messages.popitem(last=False)
        return message, size


class ExecutorServicer(pb_grpc.ExecutorServiceServicer):
    def __init__(self, executor: Executor, limits: Limits) -> None:
        self._executor = executor
        self._limits = limits
        # What one answer may hold, leaving room for the envelope around it.
        self._answer_budget = limits.max_message_bytes - ANSWER_MARGIN
        self._event_messages = _EventMessages()
        self._batches: OrderedDict[
            tuple[str, int, int], tuple[Event, Event, list[pb.WatchExecutionResponse], int]
        ] = OrderedDict()
        self._batch_bytes = 0
        self._watchers: Counter[str] = Counter()
        self._submissions = SubmissionRate(limits.max_executions_per_minute)

    def _submitted_by(self) -> str:
        """The caller's name, once its submission is within its rate (an unauthenticated
        caller has no rate of its own). Raises LimitExceeded."""
        name = caller().name
        if name:
            self._submissions.take(name)
        return name

    @contextlib.contextmanager
    def _watcher(self, plan_id: str) -> Iterator[None]:
        """Count one watcher of `plan_id`. Raises LimitExceeded past either watcher limit."""
        limits = self._limits
        if self._watchers[plan_id] >= limits.max_watchers_per_execution:
            raise LimitExceeded(
                f"execution {plan_id} has {limits.max_watchers_per_execution:,} watchers, the "
                "limit (--max-watchers-per-execution)",
                limit="max_watchers_per_execution",
                value=limits.max_watchers_per_execution,
            )
        if self._watchers.total() >= limits.max_watchers:
            raise LimitExceeded(
                f"the server has {limits.max_watchers:,} watchers, its limit (--max-watchers)",
                limit="max_watchers",
                value=limits.max_watchers,
            )
        self._watchers[plan_id] += 1
        try:
            yield
        finally:
            self._watchers[plan_id] -= 1
            if not self._watchers[plan_id]:
                del self._watchers[plan_id]

    @unary
    async def ExecutePlan(
        self, request: pb.ExecutePlanRequest, context: Context
    ) -> pb.ExecutePlanResponse:
        _required(request.HasField("plan"), "plan")
        steps = len(request.plan.steps)
        if steps > self._limits.max_plan_steps:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "plan.steps",
                        f"{steps:,} steps; a plan may have at most "
                        f"{self._limits.max_plan_steps:,} (--max-plan-steps)",
                    )
                ],
                reason="LIMIT_EXCEEDED",
            )
        by = self._submitted_by()
        result = await self._executor.execute_plan(
            convert.plan(request.plan),
            convert.options(request.options),
            detach=request.detach,
            by=by,
        )
        answer = pb.ExecutePlanResponse(result=convert.result_to_pb(result))
        convert.fit_outputs(answer, answer.result.step_results, self._answer_budget)
        return answer

    @unary
    async def ExecuteStep(
        self, request: pb.ExecuteStepRequest, context: Context
    ) -> pb.ExecuteStepResponse:
        _required(request.HasField("step"), "step")
        self._submitted_by()
        step = convert.step(request.step, "step")
        result, usage = await self._executor.execute_step(
            step, convert.step_context(request.context)
        )
        return pb.ExecuteStepResponse(
            result=convert.step_result_to_pb(result, step.parameters),
            resource_usage=convert.usage_to_pb(usage),
        )

    @unary
    async def CancelExecution(
        self, request: pb.CancelExecutionRequest, context: Context
    ) -> pb.CancelExecutionResponse:
        status = await self._executor.cancel(
            _plan_id(request.plan_id), request.reason, by=caller().name
        )
        return pb.CancelExecutionResponse(status=int(status))  # type: ignore[arg-type]

    @unary
    async def PauseExecution(
        self, request: pb.PauseExecutionRequest, context: Context
    ) -> pb.PauseExecutionResponse:
        status = await self._executor.pause(_plan_id(request.plan_id), by=caller().name)
        return pb.PauseExecutionResponse(status=int(status))  # type: ignore[arg-type]

    @unary
    async def ResumeExecution(
        self, request: pb.ResumeExecutionRequest, context: Context
    ) -> pb.ResumeExecutionResponse:
        status = await self._executor.resume(_plan_id(request.plan_id), by=caller().name)
        return pb.ResumeExecutionResponse(status=int(status))  # type: ignore[arg-type]

    @unary
    async def GetExecutionStatus(
        self, request: pb.GetExecutionStatusRequest, context: Context
    ) -> pb.GetExecutionStatusResponse:
        result = await self._executor.get_status(_plan_id(request.plan_id))
        answer = convert.status_to_pb(result)
        convert.fit_outputs(answer, answer.step_results, self._answer_budget)
        return answer

    @unary
    async def RollbackExecution(
        self, request: pb.RollbackExecutionRequest, context: Context
    ) -> pb.RollbackExecutionResponse:
        status = await self._executor.rollback(
            _plan_id(request.plan_id), detach=request.detach, by=caller().name
        )
        return pb.RollbackExecutionResponse(status=int(status))  # type: ignore[arg-type]

    @streaming
    async def WatchExecution(
        self, request: pb.WatchExecutionRequest, context: Context
    ) -> AsyncIterator[pb.WatchExecutionResponse]:
        plan_id = _plan_id(request.plan_id)
        with self._watcher(plan_id):
            batches = await self._executor.watch(plan_id, request.after_sequence)
            # Messages sized by bytes: a batch of large outputs is split so that each fits.
            budget = min(self._answer_budget, WATCH_MESSAGE_BYTES)
            async for batch in batches:
                for answer in self._batch_answers(batch, budget):
                    yield answer

    def _batch_answers(self, batch: list[Event], budget: int) -> list[pb.WatchExecutionResponse]:
        """The messages carrying `batch`, each within `budget` bytes. Watchers that keep up
        read the same batches: the first builds the messages, the others reuse them."""
        first, last = batch[0], batch[-1]
        key = (first.plan_id, first.sequence, last.sequence)
        cached = self._batches.get(key)
        if cached is not None and cached[0] is first and cached[1] is last:
            return cached[2]
        answers: list[pb.WatchExecutionResponse] = []
        events: list[pb.ExecutionEvent] = []
        size = total = 0
        for event in batch:
            message, event_size = self._event_messages(event)
            if events and size + event_size > budget:
                answers.append(pb.WatchExecutionResponse(events=events))
                total += size
                events, size = [], 0
            events.append(message)
            size += event_size + 8  # the field's tag and length
        answers.append(pb.WatchExecutionResponse(events=events))
        total += size
        self._batches[key] = (first, last, answers, total)
        self._batch_bytes += total
        while len(self._batches) > BATCH_CACHE or self._batch_bytes > BATCH_CACHE_BYTES:
            self._batch_bytes -= self._batches.popitem(last=False)[1][3]
        return answers

    @unary
    async def ListTools(
        self, request: pb.ListToolsRequest, context: Context
    ) -> pb.ListToolsResponse:
        if request.page_size < 0:
            raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
        size = min(request.page_size or MAX_TOOLS_PAGE, MAX_TOOLS_PAGE)
        start = _page_offset(request.page_token)
        tools = list(self._executor.tools)
        page = tools[start : start + size]
        end = start + len(page)
        return pb.ListToolsResponse(
            tools=[convert.tool_spec_to_pb(t.spec) for t in page],
            next_page_token=_page_token(end) if end < len(tools) else "",
            load_errors=[convert.load_error_to_pb(e) for e in self._executor.tools.load_errors],
        )

    @unary
    async def ListExecutions(
        self, request: pb.ListExecutionsRequest, context: Context
    ) -> pb.ListExecutionsResponse:
        if request.page_size < 0:
            raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
        size = min(request.page_size or DEFAULT_EXECUTIONS_PAGE, MAX_EXECUTIONS_PAGE)
        query = convert.execution_query(request, size)
        # The token is bound to the filter: a changed filter cannot reuse it (AIP-158).
        filter_digest = _digest(request)
        if request.page_token:
            query = replace(query, after=_position(request.page_token, filter_digest))
        page, after = await self._executor.list_executions(query)
        return pb.ListExecutionsResponse(
            executions=[convert.summary_to_pb(s) for s in page],
            next_page_token=_position_token(after, filter_digest) if after else "",
        )

    @unary
    async def DeleteExecution(
        self, request: pb.DeleteExecutionRequest, context: Context
    ) -> pb.DeleteExecutionResponse:
        await self._executor.delete(_plan_id(request.plan_id), by=caller().name)
        return pb.DeleteExecutionResponse()

    @unary
    async def ApproveStep(
        self, request: pb.ApproveStepRequest, context: Context
    ) -> pb.ApproveStepResponse:
        plan_id = _plan_id(request.plan_id)
        _required(bool(request.step), "step")
        decision = convert.approval_decision(request.decision, "decision")
        arguments = (
            convert.struct_to_dict(request.arguments) if request.HasField("arguments") else None
        )
        result, parameters = await self._executor.approve(
            plan_id,
            request.step,
            decision,
            arguments=arguments,
            comment=request.comment,
            by=caller().name,
        )
        answer = pb.ApproveStepResponse(result=convert.step_result_to_pb(result, parameters))
        convert.fit_outputs(answer, [answer.result], self._answer_budget)
        return answer

    @unary
    async def SignalExecution(
        self, request: pb.SignalExecutionRequest, context: Context
    ) -> pb.SignalExecutionResponse:
        plan_id = _plan_id(request.plan_id)
        _required(bool(request.name), "name")
        payload = convert.value_to_py(request.payload) if request.HasField("payload") else None
        status = await self._executor.signal(plan_id, request.name, payload, by=caller().name)
        return pb.SignalExecutionResponse(status=int(status))  # type: ignore[arg-type]

    @unary
    async def ListApprovals(
        self, request: pb.ListApprovalsRequest, context: Context
    ) -> pb.ListApprovalsResponse:
        if request.page_size < 0:
            raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
        size = min(request.page_size or DEFAULT_APPROVALS_PAGE, MAX_APPROVALS_PAGE)
        after = _inbox_position(request.page_token, request.plan_id) if request.page_token else None
        page, more = await self._executor.list_approvals(request.plan_id, after, size)
        answer = pb.ListApprovalsResponse()
        budget = self._answer_budget
        for n, approval in enumerate(page):
            entry = convert.pending_approval_to_pb(approval)
            budget -= entry.ByteSize() + 8
            if budget < 0 and n:  # the rest on the next page: each answer fits a message
                more = True
                page = page[:n]
                break
            answer.approvals.append(entry)
        if more and page:
            last = page[-1]
            answer.next_page_token = _inbox_token(
                (last.wait_start_time, last.plan_id, last.position), request.plan_id
            )
        return answer

    @unary
    async def RetryExecution(
        self, request: pb.RetryExecutionRequest, context: Context
    ) -> pb.RetryExecutionResponse:
        limits = None
        if request.HasField("resource_limits"):
            limits = convert.resource_limits(request.resource_limits, "resource_limits")
        result = await self._executor.retry(
            _plan_id(request.plan_id), detach=request.detach, limits=limits, by=caller().name
        )
        answer = pb.RetryExecutionResponse(result=convert.result_to_pb(result))
        convert.fit_outputs(answer, answer.result.step_results, self._answer_budget)
        return answer


# Page tokens are opaque to clients (AIP-158): base64 of where the next page starts.
def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _page_offset(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidArgument([FieldViolation("page_token", "not a token this server issued")])


def _digest(request: pb.ListExecutionsRequest) -> str:
    query = pb.ListExecutionsRequest()
    query.CopyFrom(request)
    query.ClearField("page_token")
    query.ClearField("page_size")
    return hashlib.sha256(query.SerializeToString(deterministic=True)).hexdigest()[:16]


def _position_token(after: tuple[float, str], filter_digest: str) -> str:
    text = json.dumps({"t": after[0], "id": after[1], "f": filter_digest})
    return base64.urlsafe_b64encode(text.encode()).decode()


def _position(token: str, filter_digest: str) -> tuple[float, str]:
    bad = InvalidArgument([FieldViolation("page_token", "not a token this server issued")])
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = (float(data["t"]), str(data["id"]))
        issued_for = data["f"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise bad from None
    if issued_for != filter_digest:
        raise InvalidArgument(
            [FieldViolation("page_token", "issued for a different filter: start again")]
        )
    return after


def _inbox_token(after: tuple[float, str, int], plan_id: str) -> str:
    text = json.dumps({"t": after[0], "id": after[1], "i": after[2], "p": plan_id})
    return base64.urlsafe_b64encode(text.encode()).decode()


def _inbox_position(token: str, plan_id: str) -> tuple[float, str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = (float(data["t"]), str(data["id"]), int(data["i"]))
        issued_for = str(data["p"])
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidArgument(
            [FieldViolation("page_token", "not a token this server issued")]
        ) from None
    if issued_for != plan_id:
        raise InvalidArgument(
            [FieldViolation("page_token", "issued for a different plan_id: start again")]
        )
    return after
