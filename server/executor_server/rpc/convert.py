"""Wire messages ⇄ domain models. The only hand-written code that reads or builds them.

Proto3 scalars cannot tell "unset" from zero, so zero numbers in policies mean "use the
default" (None in the domain); durations are messages and keep their presence.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_server.domain.errors import FieldViolation, InvalidArgument
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    ApprovalGate,
    Compensation,
    Event,
    ExecutionError,
    ExecutionOptions,
    ExecutionResult,
    ForEach,
    ItemResult,
    PendingApproval,
    Progress,
    ResourceLimits,
    ResourceUsage,
    RetryPolicy,
    Sleep,
    StepResult,
    TimeoutPolicy,
    ToolExecution,
    ValidationRule,
    WaitForSignal,
)
from executor_server.domain.status import (
    ApprovalDecision,
    DependencyRule,
    ExecutionErrorType,
    ExecutionStatus,
)
from executor_server.engine.executor import StepRunContext
from executor_server.engine.waits import rfc3339
from executor_server.store.protocol import ExecutionQuery, ExecutionSummary
from executor_server.tools.protocol import ToolSpec
from executor_server.tools.registry import LoadError

_MAX_EXACT_INT = 2**53

# ------------------------------------------------------------------ JSON values


def value_to_py(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        # JSON clients send 3, Struct carries 3.0: give tools back the integer.
        if number.is_integer() and abs(number) < _MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [value_to_py(v) for v in value.list_value.values]
    return None


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: value_to_py(v) for key, v in struct.fields.items()}


def py_to_value(obj: Any, out: struct_pb2.Value | None = None) -> struct_pb2.Value:
    value = out if out is not None else struct_pb2.Value()
    if obj is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        value.bool_value = obj
    elif isinstance(obj, (int, float)):
        value.number_value = obj
    elif isinstance(obj, str):
        value.string_value = obj
    elif isinstance(obj, dict):
        value.struct_value.SetInParent()  # so that {} is {}, not unset
        value.struct_value.update(obj)
    elif isinstance(obj, (list, tuple)):
        value.list_value.SetInParent()
        value.list_value.extend(obj)
    else:
        raise TypeError(f"not a JSON value: {type(obj).__name__}")
    return value


def dict_to_struct(obj: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(obj)
    return struct


# ------------------------------------------------------------------ time


# google.protobuf.Duration's own range: about 10,000 years either way.
_MAX_DURATION_SECONDS = 315_576_000_000


def _duration(message: Any, field: str, where: str) -> timedelta | None:
    """The duration in `message.field`, None when unset. Raises InvalidArgument when it is
    out of Duration's range (`where` is the message's path in the request)."""
    if not message.HasField(field):
        return None
    d: duration_pb2.Duration = getattr(message, field)
    if abs(d.seconds) > _MAX_DURATION_SECONDS or abs(d.nanos) >= 1_000_000_000:
        raise InvalidArgument(
            [FieldViolation(f"{where}.{field}", "out of the range of google.protobuf.Duration")]
        )
    return timedelta(seconds=d.seconds, microseconds=d.nanos // 1000)


def seconds_to_duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def _timestamp(epoch: float | None) -> timestamp_pb2.Timestamp | None:
    if epoch is None:
        return None
    t = timestamp_pb2.Timestamp()
    t.FromNanoseconds(round(epoch * 1e9))
    return t


# ------------------------------------------------------------------ requests


def _error_types(values: Iterable[int], field: str) -> frozenset[ExecutionErrorType]:
    types = set()
    for i, value in enumerate(values):
        if value not in ExecutionErrorType._value2member_map_:
            raise InvalidArgument([FieldViolation(f"{field}[{i}]", f"unknown error type {value}")])
        types.add(ExecutionErrorType(value))
    return frozenset(types)


def retry_policy(message: pb.RetryPolicy, field: str) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=message.max_attempts or None,
        initial_backoff=_duration(message, "initial_backoff", field),
        backoff_multiplier=message.backoff_multiplier or None,
        max_backoff=_duration(message, "max_backoff", field),
        jitter=message.jitter or None,
        non_retryable_error_types=_error_types(
            message.non_retryable_error_types, f"{field}.non_retryable_error_types"
        ),
    )


def _optional_retry(message: Any, field: str) -> RetryPolicy | None:
    if not message.HasField("retry_policy"):
        return None
    return retry_policy(message.retry_policy, f"{field}.retry_policy")


def timeout_policy(message: pb.TimeoutPolicy, where: str) -> TimeoutPolicy:
    return TimeoutPolicy(
        default_step_timeout=_duration(message, "default_step_timeout", where),
        expected_duration_multiplier=message.expected_duration_multiplier or None,
    )


def resource_limits(message: pb.ResourceLimits, where: str) -> ResourceLimits:
    return ResourceLimits(
        max_cpu_cores=message.max_cpu_cores,
        max_memory_mb=message.max_memory_mb,
        max_disk_space_mb=message.max_disk_space_mb,
        max_network_requests=message.max_network_requests,
        max_execution_time=_duration(message, "max_execution_time", where),
        max_tool_invocations=message.max_tool_invocations,
    )


def options(message: pb.ExecutionOptions) -> ExecutionOptions:
    return ExecutionOptions(
        max_concurrent_steps=message.max_concurrent_steps,
        resource_limits=resource_limits(message.resource_limits, "options.resource_limits"),
        timeout_policy=timeout_policy(message.timeout_policy, "options.timeout_policy"),
        retry_policy=retry_policy(message.retry_policy, "options.retry_policy"),
        auto_rollback=message.auto_rollback,
        progress_reporting=message.progress_reporting,
        continue_on_failure=message.continue_on_failure,
        rollback_on_cancel=message.rollback_on_cancel,
    )


def step(message: pb.ActionStep, field: str) -> ActionStep:
    call = None
    if message.HasField("tool_execution"):
        call = ToolExecution(
            tool_name=message.tool_execution.tool_name,
            arguments=struct_to_dict(message.tool_execution.arguments),
        )
    compensation = None
    if message.HasField("compensation"):
        comp = message.compensation
        compensation = Compensation(
            tool_name=comp.tool_name,
            arguments=struct_to_dict(comp.arguments),
            retry_policy=_optional_retry(comp, f"{field}.compensation"),
            timeout=_duration(comp, "timeout", f"{field}.compensation"),
        )
    return ActionStep(
        id=message.id,
        name=message.name,
        tool_execution=call,
        wait_for_signal=_wait_for_signal(message, field),
        sleep=_sleep(message, field),
        approval=_approval(message, field),
        parameters=struct_to_dict(message.parameters),
        dependencies=tuple(message.dependencies),
        expected_duration=_duration(message, "expected_duration", field),
        timeout=_duration(message, "timeout", field),
        retry_policy=_optional_retry(message, field),
        validation_rules=tuple(
            ValidationRule(
                json_schema=struct_to_dict(rule.json_schema)
                if rule.HasField("json_schema")
                else None,
                description=rule.description,
            )
            for rule in message.validation_rules
        ),
        compensation=compensation,
        when=message.when,
        dependency_rule=_dependency_rule(message.dependency_rule, f"{field}.dependency_rule"),
        for_each=ForEach(items=message.for_each.items, max_parallel=message.for_each.max_parallel)
        if message.HasField("for_each")
        else None,
    )


def _dependency_rule(value: int, field: str) -> DependencyRule:
    if value == 0:
        return DependencyRule.ALL_COMPLETED
    if value not in DependencyRule._value2member_map_:
        raise InvalidArgument([FieldViolation(field, f"unknown dependency rule {value}")])
    return DependencyRule(value)


def _wait_for_signal(message: pb.ActionStep, field: str) -> WaitForSignal | None:
    if not message.HasField("wait_for_signal"):
        return None
    wait = message.wait_for_signal
    return WaitForSignal(
        name=wait.name,
        timeout=_duration(wait, "timeout", f"{field}.wait_for_signal"),
        payload_schema=struct_to_dict(wait.payload_schema)
        if wait.HasField("payload_schema")
        else None,
    )


def _sleep(message: pb.ActionStep, field: str) -> Sleep | None:
    if not message.HasField("sleep"):
        return None
    sleep = message.sleep
    return Sleep(
        duration=_duration(sleep, "duration", f"{field}.sleep"),
        until=_epoch_checked(sleep, "until", f"{field}.sleep"),
    )


def approval_decision(
    value: int, field: str, default: ApprovalDecision | None = None
) -> ApprovalDecision:
    """Raises InvalidArgument for a value that is not a decision (UNSPECIFIED is
    `default`, when there is one: in a plan; a request must decide)."""
    if value == 0 and default is not None:
        return default
    if value not in ApprovalDecision._value2member_map_:
        raise InvalidArgument(
            [
                FieldViolation(
                    field, "must be APPROVAL_DECISION_APPROVE or APPROVAL_DECISION_REJECT"
                )
            ],
            reason="INVALID_PLAN" if default is not None else "INVALID_REQUEST",
        )
    return ApprovalDecision(value)


def _approval(message: pb.ActionStep, field: str) -> ApprovalGate | None:
    if not message.HasField("approval"):
        return None
    gate = message.approval
    return ApprovalGate(
        prompt=gate.prompt,
        timeout=_duration(gate, "timeout", f"{field}.approval"),
        on_timeout=approval_decision(
            gate.on_timeout, f"{field}.approval.on_timeout", ApprovalDecision.REJECT
        ),
        allow_edit=gate.allow_edit,
    )


# google.protobuf.Timestamp's own range: years 1 to 9999.
_MIN_TIMESTAMP, _MAX_TIMESTAMP = -62_135_596_800, 253_402_300_799


def _epoch_checked(message: Any, field: str, where: str) -> float | None:
    if not message.HasField(field):
        return None
    t: timestamp_pb2.Timestamp = getattr(message, field)
    if not _MIN_TIMESTAMP <= t.seconds <= _MAX_TIMESTAMP or not 0 <= t.nanos < 1_000_000_000:
        raise InvalidArgument(
            [FieldViolation(f"{where}.{field}", "out of the range of google.protobuf.Timestamp")]
        )
    return t.seconds + t.nanos / 1e9


def plan(message: pb.ActionPlan) -> ActionPlan:
    return ActionPlan(
        id=message.id,
        name=message.name,
        steps=tuple(step(s, f"plan.steps[{i}]") for i, s in enumerate(message.steps)),
        metadata=struct_to_dict(message.metadata),
    )


def step_context(message: pb.ExecutionContext) -> StepRunContext:
    return StepRunContext(
        plan_id=message.plan_id,
        step_outputs={key: value_to_py(v) for key, v in message.step_outputs.items()},
        resource_limits=resource_limits(message.resource_limits, "context.resource_limits"),
        timeout_policy=timeout_policy(message.timeout_policy, "context.timeout_policy"),
        retry_policy=retry_policy(message.retry_policy, "context.retry_policy"),
    )


# ------------------------------------------------------------------ responses


def error_to_pb(error: ExecutionError | None) -> pb.ExecutionError | None:
    if error is None:
        return None
    return pb.ExecutionError(
        error_type=int(error.error_type),  # type: ignore[arg-type]
        message=error.message,
        retryable=error.retryable,
        step_id=error.step_id,
    )


def usage_to_pb(usage: ResourceUsage) -> pb.ResourceUsage:
    return pb.ResourceUsage(
        cpu_time_ms=round(usage.cpu_time_ms),
        memory_peak_mb=round(usage.memory_peak_mb),
        disk_reads=usage.disk_reads,
        disk_writes=usage.disk_writes,
        network_requests=usage.network_requests,
        tool_invocations=usage.tool_invocations,
    )


def progress_to_pb(progress: Progress) -> pb.Progress:
    return pb.Progress(
        total_steps=progress.total_steps,
        pending_steps=progress.pending_steps,
        running_steps=progress.running_steps,
        completed_steps=progress.completed_steps,
        failed_steps=progress.failed_steps,
        skipped_steps=progress.skipped_steps,
        cancelled_steps=progress.cancelled_steps,
        compensating_steps=progress.compensating_steps,
        compensated_steps=progress.compensated_steps,
        compensation_failed_steps=progress.compensation_failed_steps,
        waiting_steps=progress.waiting_steps,
    )


def step_result_to_pb(result: StepResult, parameters: dict[str, Any]) -> pb.StepResult:
    message = pb.StepResult(
        step_id=result.step_id,
        step_name=result.step_name,
        status=int(result.status),  # type: ignore[arg-type]
        error=result.error,
        execution_time=seconds_to_duration(result.execution_time),
        retry_count=result.retry_count,
        error_type=int(result.error_type or 0),  # type: ignore[arg-type]
        start_time=_timestamp(result.start_time),
        end_time=_timestamp(result.end_time),
        nothing_to_undo=result.nothing_to_undo,
        skipped_reason=result.skipped_reason,
    )
    if result.output is not None:
        py_to_value(result.output, message.output)
    comp = result.compensation
    if comp is not None:
        message.compensation.CopyFrom(
            pb.CompensationResult(
                status=int(comp.status),  # type: ignore[arg-type]
                error=comp.error,
                error_type=int(comp.error_type or 0),  # type: ignore[arg-type]
                attempts=comp.attempts,
                execution_time=seconds_to_duration(comp.execution_time),
                start_time=_timestamp(comp.start_time),
                end_time=_timestamp(comp.end_time),
            )
        )
        if comp.output is not None:
            py_to_value(comp.output, message.compensation.output)
    if result.items:
        message.items.extend(_item_to_pb(item) for item in result.items)
    if parameters:
        message.metadata.update(parameters)
    if result.wait_deadline is not None:
        message.wait_deadline.FromNanoseconds(round(result.wait_deadline * 1e9))
    decided = result.approval
    if decided is not None:
        message.approval.CopyFrom(
            pb.ApprovalRecord(
                decision=int(decided.decision),  # type: ignore[arg-type]
                comment=decided.comment,
                actor=decided.actor,
                decide_time=_timestamp(decided.time),
                timed_out=decided.timed_out,
                edited=decided.arguments is not None,
            )
        )
        message.metadata.update(
            {
                "approval": {
                    "decision": decided.decision.name,
                    "comment": decided.comment,
                    "decided_by": decided.actor,
                    "decide_time": rfc3339(decided.time),
                    "timed_out": decided.timed_out,
                    "edited": decided.arguments is not None,
                }
            }
        )
    return message


def _item_to_pb(item: ItemResult) -> pb.ItemResult:
    message = pb.ItemResult(
        index=item.index,
        status=int(item.status),  # type: ignore[arg-type]
        error=item.error,
        error_type=int(item.error_type or 0),  # type: ignore[arg-type]
        retry_count=item.retry_count,
        execution_time=seconds_to_duration(item.execution_time),
    )
    if item.output is not None:
        py_to_value(item.output, message.output)
    return message


def _step_results(result: ExecutionResult) -> list[pb.StepResult]:
    steps = result.plan.steps
    return [
        step_result_to_pb(step_result, steps[i].parameters)
        for i, step_result in enumerate(result.step_results)
    ]


def _outcome(result: ExecutionResult) -> dict[str, Any]:
    """The fields ExecutionResult and GetExecutionStatusResponse share."""
    return {
        "plan_id": result.plan_id,
        "plan_name": result.plan_name,
        "status": int(result.status),
        "step_results": _step_results(result),
        "execution_time": seconds_to_duration(result.execution_time),
        "resource_usage": usage_to_pb(result.resource_usage),
        "compensation_usage": usage_to_pb(result.compensation_usage),
        "error": error_to_pb(result.error),
        "progress": progress_to_pb(result.progress),
        "create_time": _timestamp(result.create_time),
        "start_time": _timestamp(result.start_time),
        "end_time": _timestamp(result.end_time),
    }


def result_to_pb(result: ExecutionResult) -> pb.ExecutionResult:
    return pb.ExecutionResult(metadata=dict_to_struct(result.metadata), **_outcome(result))


def status_to_pb(result: ExecutionResult) -> pb.GetExecutionStatusResponse:
    return pb.GetExecutionStatusResponse(last_sequence=result.last_sequence, **_outcome(result))


def fit_outputs(answer: Any, step_results: Any, budget: int) -> None:
    """Leave outputs out of `answer` (largest first, each marked with its size in
    `elided_output_bytes`) until it fits in `budget` bytes; the events carry them whole."""
    size = answer.ByteSize()
    if size <= budget:
        return
    outputs: list[tuple[int, int, Any]] = []
    for i, result in enumerate(step_results):
        if result.HasField("output"):
            outputs.append((result.output.ByteSize(), i, result))
        if result.compensation.HasField("output"):
            compensation = result.compensation
            outputs.append((compensation.output.ByteSize(), i, compensation))
        for item in result.items:
            if item.HasField("output"):
                outputs.append((item.output.ByteSize(), i, item))
    outputs.sort(key=lambda o: (-o[0], o[1]))
    for output_size, _, holder in outputs:
        if size <= budget:
            break
        holder.ClearField("output")
        holder.elided_output_bytes = output_size
        size -= output_size


def event_to_pb(event: Event) -> pb.ExecutionEvent:
    message = pb.ExecutionEvent(
        sequence=event.sequence,
        plan_id=event.plan_id,
        event_time=_timestamp(event.time),
        status=int(event.status),  # type: ignore[arg-type]
        step_id=event.step_id,
        step_name=event.step_name,
        step_status=int(event.step_status or 0),  # type: ignore[arg-type]
        attempt=event.attempt,
        message=event.message,
        type=int(event.type),  # type: ignore[arg-type]
        error=error_to_pb(event.error),
        progress=event.progress or 0.0,
        actor=event.actor,
        decision=int(event.decision or 0),  # type: ignore[arg-type]
        signal=event.signal,
    )
    if event.wait_deadline is not None:
        message.wait_deadline.FromNanoseconds(round(event.wait_deadline * 1e9))
    if event.retry_delay is not None:
        message.retry_delay.CopyFrom(seconds_to_duration(event.retry_delay))
    if event.output is not None:
        py_to_value(event.output, message.output)
    if event.item_index is not None:
        message.item_index = event.item_index
    return message


def tool_spec_to_pb(spec: ToolSpec) -> pb.ToolSpec:
    message = pb.ToolSpec(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=dict_to_struct(spec.input_schema),
        read_only=spec.read_only,
        destructive=spec.destructive,
        idempotent=spec.idempotent,
        open_world=spec.open_world,
        compensable=spec.compensable,
    )
    if spec.output_schema is not None:
        message.output_schema.update(spec.output_schema)
    if spec.default_timeout is not None:
        message.default_timeout.CopyFrom(seconds_to_duration(spec.default_timeout.total_seconds()))
    return message


def load_error_to_pb(error: LoadError) -> pb.ToolLoadError:
    return pb.ToolLoadError(entry_point=error.entry_point, message=error.message)


def summary_to_pb(summary: ExecutionSummary) -> pb.ExecutionSummary:
    return pb.ExecutionSummary(
        plan_id=summary.plan_id,
        plan_name=summary.plan_name,
        status=int(summary.status),  # type: ignore[arg-type]
        create_time=_timestamp(summary.create_time),
        end_time=_timestamp(summary.end_time),
        total_steps=summary.total_steps,
    )


def execution_query(message: pb.ListExecutionsRequest, limit: int) -> ExecutionQuery:
    """The filter of a ListExecutions request (its page position comes from the token)."""
    statuses = set()
    for i, value in enumerate(message.statuses):
        if value not in ExecutionStatus._value2member_map_:
            raise InvalidArgument([FieldViolation(f"statuses[{i}]", f"unknown status {value}")])
        statuses.add(ExecutionStatus(value))
    return ExecutionQuery(
        statuses=frozenset(statuses),
        created_after=_epoch(message, "created_after"),
        created_before=_epoch(message, "created_before"),
        plan_name=message.plan_name,
        limit=limit,
    )


def _epoch(message: Any, field: str) -> float | None:
    if not message.HasField(field):
        return None
    t: timestamp_pb2.Timestamp = getattr(message, field)
    return t.seconds + t.nanos / 1e9


def pending_approval_to_pb(approval: PendingApproval) -> pb.PendingApproval:
    message = pb.PendingApproval(
        plan_id=approval.plan_id,
        plan_name=approval.plan_name,
        step_id=approval.step_id,
        step_name=approval.step_name,
        tool_name=approval.tool_name,
        prompt=approval.prompt,
        wait_start_time=_timestamp(approval.wait_start_time),
        deadline=_timestamp(approval.deadline),
        on_timeout=int(approval.on_timeout),  # type: ignore[arg-type]
        allow_edit=approval.allow_edit,
    )
    if isinstance(approval.arguments, dict):
        message.arguments.update(approval.arguments)
    return message
