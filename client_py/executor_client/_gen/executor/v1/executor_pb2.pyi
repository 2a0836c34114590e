import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DependencyRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPENDENCY_RULE_UNSPECIFIED: _ClassVar[DependencyRule]
    DEPENDENCY_RULE_ALL_COMPLETED: _ClassVar[DependencyRule]
    DEPENDENCY_RULE_NONE_FAILED: _ClassVar[DependencyRule]
    DEPENDENCY_RULE_ALL_DONE: _ClassVar[DependencyRule]

class ApprovalDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_DECISION_UNSPECIFIED: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_APPROVE: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_REJECT: _ClassVar[ApprovalDecision]

class ExecutionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_STATUS_UNSPECIFIED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_PENDING: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_RUNNING: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_COMPLETED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_FAILED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_CANCELLED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_PAUSED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_ROLLING_BACK: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_ROLLED_BACK: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_ROLLBACK_FAILED: _ClassVar[ExecutionStatus]

class StepStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_STATUS_UNSPECIFIED: _ClassVar[StepStatus]
    STEP_STATUS_PENDING: _ClassVar[StepStatus]
    STEP_STATUS_RUNNING: _ClassVar[StepStatus]
    STEP_STATUS_COMPLETED: _ClassVar[StepStatus]
    STEP_STATUS_FAILED: _ClassVar[StepStatus]
    STEP_STATUS_SKIPPED: _ClassVar[StepStatus]
    STEP_STATUS_CANCELLED: _ClassVar[StepStatus]
    STEP_STATUS_COMPENSATING: _ClassVar[StepStatus]
    STEP_STATUS_COMPENSATED: _ClassVar[StepStatus]
    STEP_STATUS_COMPENSATION_FAILED: _ClassVar[StepStatus]
    STEP_STATUS_WAITING: _ClassVar[StepStatus]

class ExecutionErrorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_ERROR_TYPE_UNSPECIFIED: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_TOOL_NOT_FOUND: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_RESOURCE_EXHAUSTED: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_TIMEOUT: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_NETWORK: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_VALIDATION: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_TOOL_FAILED: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_DEPENDENCY_FAILED: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_CANCELLED: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_INTERNAL: _ClassVar[ExecutionErrorType]
    EXECUTION_ERROR_TYPE_REJECTED: _ClassVar[ExecutionErrorType]

class ExecutionEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_EVENT_TYPE_UNSPECIFIED: _ClassVar[ExecutionEventType]
    EXECUTION_EVENT_TYPE_EXECUTION_STATUS_CHANGED: _ClassVar[ExecutionEventType]
    EXECUTION_EVENT_TYPE_STEP_STATUS_CHANGED: _ClassVar[ExecutionEventType]
    EXECUTION_EVENT_TYPE_STEP_RETRY_SCHEDULED: _ClassVar[ExecutionEventType]
    EXECUTION_EVENT_TYPE_STEP_PROGRESS: _ClassVar[ExecutionEventType]
    EXECUTION_EVENT_TYPE_APPROVAL_DECIDED: _ClassVar[ExecutionEventType]
    EXECUTION_EVENT_TYPE_SIGNAL_RECEIVED: _ClassVar[ExecutionEventType]
    EXECUTION_EVENT_TYPE_STEP_NOTHING_TO_UNDO: _ClassVar[ExecutionEventType]
DEPENDENCY_RULE_UNSPECIFIED: DependencyRule
DEPENDENCY_RULE_ALL_COMPLETED: DependencyRule
DEPENDENCY_RULE_NONE_FAILED: DependencyRule
DEPENDENCY_RULE_ALL_DONE: DependencyRule
APPROVAL_DECISION_UNSPECIFIED: ApprovalDecision
APPROVAL_DECISION_APPROVE: ApprovalDecision
APPROVAL_DECISION_REJECT: ApprovalDecision
EXECUTION_STATUS_UNSPECIFIED: ExecutionStatus
EXECUTION_STATUS_PENDING: ExecutionStatus
EXECUTION_STATUS_RUNNING: ExecutionStatus
EXECUTION_STATUS_COMPLETED: ExecutionStatus
EXECUTION_STATUS_FAILED: ExecutionStatus
EXECUTION_STATUS_CANCELLED: ExecutionStatus
EXECUTION_STATUS_PAUSED: ExecutionStatus
EXECUTION_STATUS_ROLLING_BACK: ExecutionStatus
EXECUTION_STATUS_ROLLED_BACK: ExecutionStatus
EXECUTION_STATUS_ROLLBACK_FAILED: ExecutionStatus
STEP_STATUS_UNSPECIFIED: StepStatus
STEP_STATUS_PENDING: StepStatus
STEP_STATUS_RUNNING: StepStatus
STEP_STATUS_COMPLETED: StepStatus
STEP_STATUS_FAILED: StepStatus
STEP_STATUS_SKIPPED: StepStatus
STEP_STATUS_CANCELLED: StepStatus
STEP_STATUS_COMPENSATING: StepStatus
STEP_STATUS_COMPENSATED: StepStatus
STEP_STATUS_COMPENSATION_FAILED: StepStatus
STEP_STATUS_WAITING: StepStatus
EXECUTION_ERROR_TYPE_UNSPECIFIED: ExecutionErrorType
EXECUTION_ERROR_TYPE_TOOL_NOT_FOUND: ExecutionErrorType
EXECUTION_ERROR_TYPE_RESOURCE_EXHAUSTED: ExecutionErrorType
EXECUTION_ERROR_TYPE_TIMEOUT: ExecutionErrorType
EXECUTION_ERROR_TYPE_NETWORK: ExecutionErrorType
EXECUTION_ERROR_TYPE_VALIDATION: ExecutionErrorType
EXECUTION_ERROR_TYPE_TOOL_FAILED: ExecutionErrorType
EXECUTION_ERROR_TYPE_DEPENDENCY_FAILED: ExecutionErrorType
EXECUTION_ERROR_TYPE_CANCELLED: ExecutionErrorType
EXECUTION_ERROR_TYPE_INTERNAL: ExecutionErrorType
EXECUTION_ERROR_TYPE_REJECTED: ExecutionErrorType
EXECUTION_EVENT_TYPE_UNSPECIFIED: ExecutionEventType
EXECUTION_EVENT_TYPE_EXECUTION_STATUS_CHANGED: ExecutionEventType
EXECUTION_EVENT_TYPE_STEP_STATUS_CHANGED: ExecutionEventType
EXECUTION_EVENT_TYPE_STEP_RETRY_SCHEDULED: ExecutionEventType
EXECUTION_EVENT_TYPE_STEP_PROGRESS: ExecutionEventType
EXECUTION_EVENT_TYPE_APPROVAL_DECIDED: ExecutionEventType
EXECUTION_EVENT_TYPE_SIGNAL_RECEIVED: ExecutionEventType
EXECUTION_EVENT_TYPE_STEP_NOTHING_TO_UNDO: ExecutionEventType

class ActionPlan(_message.Message):
    __slots__ = ("id", "name", "steps", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    steps: _containers.RepeatedCompositeFieldContainer[ActionStep]
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[ActionStep, _Mapping]]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ActionStep(_message.Message):
    __slots__ = ("id", "name", "tool_execution", "wait_for_signal", "sleep", "parameters", "dependencies", "expected_duration", "timeout", "retry_policy", "validation_rules", "compensation", "approval", "when", "for_each", "dependency_rule")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_EXECUTION_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    SLEEP_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DURATION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RULES_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    WHEN_FIELD_NUMBER: _ClassVar[int]
    FOR_EACH_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCY_RULE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    tool_execution: ToolExecution
    wait_for_signal: WaitForSignal
    sleep: Sleep
    parameters: _struct_pb2.Struct
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    expected_duration: _duration_pb2.Duration
    timeout: _duration_pb2.Duration
    retry_policy: RetryPolicy
    validation_rules: _containers.RepeatedCompositeFieldContainer[ValidationRule]
    compensation: Compensation
    approval: ApprovalGate
    when: str
    for_each: ForEach
    dependency_rule: DependencyRule
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., tool_execution: _Optional[_Union[ToolExecution, _Mapping]] = ..., wait_for_signal: _Optional[_Union[WaitForSignal, _Mapping]] = ..., sleep: _Optional[_Union[Sleep, _Mapping]] = ..., parameters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., dependencies: _Optional[_Iterable[str]] = ..., expected_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry_policy: _Optional[_Union[RetryPolicy, _Mapping]] = ..., validation_rules: _Optional[_Iterable[_Union[ValidationRule, _Mapping]]] = ..., compensation: _Optional[_Union[Compensation, _Mapping]] = ..., approval: _Optional[_Union[ApprovalGate, _Mapping]] = ..., when: _Optional[str] = ..., for_each: _Optional[_Union[ForEach, _Mapping]] = ..., dependency_rule: _Optional[_Union[DependencyRule, str]] = ...) -> None: ...

class ForEach(_message.Message):
    __slots__ = ("items", "max_parallel")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MAX_PARALLEL_FIELD_NUMBER: _ClassVar[int]
    items: str
    max_parallel: int
    def __init__(self, items: _Optional[str] = ..., max_parallel: _Optional[int] = ...) -> None: ...

class WaitForSignal(_message.Message):
    __slots__ = ("name", "timeout", "payload_schema")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout: _duration_pb2.Duration
    payload_schema: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., payload_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Sleep(_message.Message):
    __slots__ = ("duration", "until")
    DURATION_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    duration: _duration_pb2.Duration
    until: _timestamp_pb2.Timestamp
    def __init__(self, duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApprovalGate(_message.Message):
    __slots__ = ("prompt", "timeout", "on_timeout", "allow_edit")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ON_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_EDIT_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    timeout: _duration_pb2.Duration
    on_timeout: ApprovalDecision
    allow_edit: bool
    def __init__(self, prompt: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., on_timeout: _Optional[_Union[ApprovalDecision, str]] = ..., allow_edit: _Optional[bool] = ...) -> None: ...

class ToolExecution(_message.Message):
    __slots__ = ("tool_name", "arguments")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    arguments: _struct_pb2.Struct
    def __init__(self, tool_name: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Compensation(_message.Message):
    __slots__ = ("tool_name", "arguments", "retry_policy", "timeout")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    RETRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    arguments: _struct_pb2.Struct
    retry_policy: RetryPolicy
    timeout: _duration_pb2.Duration
    def __init__(self, tool_name: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., retry_policy: _Optional[_Union[RetryPolicy, _Mapping]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ValidationRule(_message.Message):
    __slots__ = ("json_schema", "description")
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    json_schema: _struct_pb2.Struct
    description: str
    def __init__(self, json_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_attempts", "initial_backoff", "backoff_multiplier", "max_backoff", "jitter", "non_retryable_error_types")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    JITTER_FIELD_NUMBER: _ClassVar[int]
    NON_RETRYABLE_ERROR_TYPES_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    initial_backoff: _duration_pb2.Duration
    backoff_multiplier: float
    max_backoff: _duration_pb2.Duration
    jitter: float
    non_retryable_error_types: _containers.RepeatedScalarFieldContainer[ExecutionErrorType]
    def __init__(self, max_attempts: _Optional[int] = ..., initial_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backoff_multiplier: _Optional[float] = ..., max_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., jitter: _Optional[float] = ..., non_retryable_error_types: _Optional[_Iterable[_Union[ExecutionErrorType, str]]] = ...) -> None: ...

class TimeoutPolicy(_message.Message):
    __slots__ = ("default_step_timeout", "expected_duration_multiplier")
    DEFAULT_STEP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DURATION_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    default_step_timeout: _duration_pb2.Duration
    expected_duration_multiplier: float
    def __init__(self, default_step_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., expected_duration_multiplier: _Optional[float] = ...) -> None: ...

class ResourceLimits(_message.Message):
    __slots__ = ("max_cpu_cores", "max_memory_mb", "max_disk_space_mb", "max_network_requests", "max_execution_time", "max_tool_invocations")
    MAX_CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    MAX_DISK_SPACE_MB_FIELD_NUMBER: _ClassVar[int]
    MAX_NETWORK_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_TOOL_INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    max_cpu_cores: int
    max_memory_mb: int
    max_disk_space_mb: int
    max_network_requests: int
    max_execution_time: _duration_pb2.Duration
    max_tool_invocations: int
    def __init__(self, max_cpu_cores: _Optional[int] = ..., max_memory_mb: _Optional[int] = ..., max_disk_space_mb: _Optional[int] = ..., max_network_requests: _Optional[int] = ..., max_execution_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_tool_invocations: _Optional[int] = ...) -> None: ...

class ExecutionOptions(_message.Message):
    __slots__ = ("max_concurrent_steps", "resource_limits", "timeout_policy", "retry_policy", "auto_rollback", "progress_reporting", "continue_on_failure", "rollback_on_cancel")
    MAX_CONCURRENT_STEPS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_POLICY_FIELD_NUMBER: _ClassVar[int]
    RETRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    AUTO_ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_REPORTING_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_ON_FAILURE_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_ON_CANCEL_FIELD_NUMBER: _ClassVar[int]
    max_concurrent_steps: int
    resource_limits: ResourceLimits
    timeout_policy: TimeoutPolicy
    retry_policy: RetryPolicy
    auto_rollback: bool
    progress_reporting: bool
    continue_on_failure: bool
    rollback_on_cancel: bool
    def __init__(self, max_concurrent_steps: _Optional[int] = ..., resource_limits: _Optional[_Union[ResourceLimits, _Mapping]] = ..., timeout_policy: _Optional[_Union[TimeoutPolicy, _Mapping]] = ..., retry_policy: _Optional[_Union[RetryPolicy, _Mapping]] = ..., auto_rollback: _Optional[bool] = ..., progress_reporting: _Optional[bool] = ..., continue_on_failure: _Optional[bool] = ..., rollback_on_cancel: _Optional[bool] = ...) -> None: ...

class ExecutionError(_message.Message):
    __slots__ = ("error_type", "message", "retryable", "step_id")
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    error_type: ExecutionErrorType
    message: str
    retryable: bool
    step_id: str
    def __init__(self, error_type: _Optional[_Union[ExecutionErrorType, str]] = ..., message: _Optional[str] = ..., retryable: _Optional[bool] = ..., step_id: _Optional[str] = ...) -> None: ...

class ResourceUsage(_message.Message):
    __slots__ = ("cpu_time_ms", "memory_peak_mb", "disk_reads", "disk_writes", "network_requests", "tool_invocations")
    CPU_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PEAK_MB_FIELD_NUMBER: _ClassVar[int]
    DISK_READS_FIELD_NUMBER: _ClassVar[int]
    DISK_WRITES_FIELD_NUMBER: _ClassVar[int]
    NETWORK_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    cpu_time_ms: int
    memory_peak_mb: int
    disk_reads: int
    disk_writes: int
    network_requests: int
    tool_invocations: int
    def __init__(self, cpu_time_ms: _Optional[int] = ..., memory_peak_mb: _Optional[int] = ..., disk_reads: _Optional[int] = ..., disk_writes: _Optional[int] = ..., network_requests: _Optional[int] = ..., tool_invocations: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("total_steps", "pending_steps", "running_steps", "completed_steps", "failed_steps", "skipped_steps", "cancelled_steps", "compensating_steps", "compensated_steps", "compensation_failed_steps", "waiting_steps")
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    PENDING_STEPS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_STEPS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_STEPS_FIELD_NUMBER: _ClassVar[int]
    FAILED_STEPS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_STEPS_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_STEPS_FIELD_NUMBER: _ClassVar[int]
    COMPENSATING_STEPS_FIELD_NUMBER: _ClassVar[int]
    COMPENSATED_STEPS_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_FAILED_STEPS_FIELD_NUMBER: _ClassVar[int]
    WAITING_STEPS_FIELD_NUMBER: _ClassVar[int]
    total_steps: int
    pending_steps: int
    running_steps: int
    completed_steps: int
    failed_steps: int
    skipped_steps: int
    cancelled_steps: int
    compensating_steps: int
    compensated_steps: int
    compensation_failed_steps: int
    waiting_steps: int
    def __init__(self, total_steps: _Optional[int] = ..., pending_steps: _Optional[int] = ..., running_steps: _Optional[int] = ..., completed_steps: _Optional[int] = ..., failed_steps: _Optional[int] = ..., skipped_steps: _Optional[int] = ..., cancelled_steps: _Optional[int] = ..., compensating_steps: _Optional[int] = ..., compensated_steps: _Optional[int] = ..., compensation_failed_steps: _Optional[int] = ..., waiting_steps: _Optional[int] = ...) -> None: ...

class CompensationResult(_message.Message):
    __slots__ = ("status", "output", "error", "error_type", "attempts", "execution_time", "start_time", "end_time", "elided_output_bytes")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ELIDED_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    status: StepStatus
    output: _struct_pb2.Value
    error: str
    error_type: ExecutionErrorType
    attempts: int
    execution_time: _duration_pb2.Duration
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    elided_output_bytes: int
    def __init__(self, status: _Optional[_Union[StepStatus, str]] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error: _Optional[str] = ..., error_type: _Optional[_Union[ExecutionErrorType, str]] = ..., attempts: _Optional[int] = ..., execution_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., elided_output_bytes: _Optional[int] = ...) -> None: ...

class ItemResult(_message.Message):
    __slots__ = ("index", "status", "output", "error", "error_type", "retry_count", "execution_time", "elided_output_bytes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    ELIDED_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    index: int
    status: StepStatus
    output: _struct_pb2.Value
    error: str
    error_type: ExecutionErrorType
    retry_count: int
    execution_time: _duration_pb2.Duration
    elided_output_bytes: int
    def __init__(self, index: _Optional[int] = ..., status: _Optional[_Union[StepStatus, str]] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error: _Optional[str] = ..., error_type: _Optional[_Union[ExecutionErrorType, str]] = ..., retry_count: _Optional[int] = ..., execution_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., elided_output_bytes: _Optional[int] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("step_id", "status", "output", "error", "execution_time", "retry_count", "metadata", "step_name", "error_type", "start_time", "end_time", "compensation", "elided_output_bytes", "items", "nothing_to_undo", "skipped_reason", "wait_deadline", "approval")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_FIELD_NUMBER: _ClassVar[int]
    ELIDED_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NOTHING_TO_UNDO_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_REASON_FIELD_NUMBER: _ClassVar[int]
    WAIT_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    step_id: str
    status: StepStatus
    output: _struct_pb2.Value
    error: str
    execution_time: _duration_pb2.Duration
    retry_count: int
    metadata: _struct_pb2.Struct
    step_name: str
    error_type: ExecutionErrorType
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    compensation: CompensationResult
    elided_output_bytes: int
    items: _containers.RepeatedCompositeFieldContainer[ItemResult]
    nothing_to_undo: bool
    skipped_reason: str
    wait_deadline: _timestamp_pb2.Timestamp
    approval: ApprovalRecord
    def __init__(self, step_id: _Optional[str] = ..., status: _Optional[_Union[StepStatus, str]] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error: _Optional[str] = ..., execution_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry_count: _Optional[int] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., step_name: _Optional[str] = ..., error_type: _Optional[_Union[ExecutionErrorType, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., compensation: _Optional[_Union[CompensationResult, _Mapping]] = ..., elided_output_bytes: _Optional[int] = ..., items: _Optional[_Iterable[_Union[ItemResult, _Mapping]]] = ..., nothing_to_undo: _Optional[bool] = ..., skipped_reason: _Optional[str] = ..., wait_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., approval: _Optional[_Union[ApprovalRecord, _Mapping]] = ...) -> None: ...

class ApprovalRecord(_message.Message):
    __slots__ = ("decision", "comment", "actor", "decide_time", "timed_out", "edited")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    EDITED_FIELD_NUMBER: _ClassVar[int]
    decision: ApprovalDecision
    comment: str
    actor: str
    decide_time: _timestamp_pb2.Timestamp
    timed_out: bool
    edited: bool
    def __init__(self, decision: _Optional[_Union[ApprovalDecision, str]] = ..., comment: _Optional[str] = ..., actor: _Optional[str] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timed_out: _Optional[bool] = ..., edited: _Optional[bool] = ...) -> None: ...

class ExecutionResult(_message.Message):
    __slots__ = ("plan_id", "status", "step_results", "execution_time", "resource_usage", "metadata", "error", "plan_name", "progress", "create_time", "start_time", "end_time", "compensation_usage")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_RESULTS_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_USAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_USAGE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    status: ExecutionStatus
    step_results: _containers.RepeatedCompositeFieldContainer[StepResult]
    execution_time: _duration_pb2.Duration
    resource_usage: ResourceUsage
    metadata: _struct_pb2.Struct
    error: ExecutionError
    plan_name: str
    progress: Progress
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    compensation_usage: ResourceUsage
    def __init__(self, plan_id: _Optional[str] = ..., status: _Optional[_Union[ExecutionStatus, str]] = ..., step_results: _Optional[_Iterable[_Union[StepResult, _Mapping]]] = ..., execution_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., resource_usage: _Optional[_Union[ResourceUsage, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., error: _Optional[_Union[ExecutionError, _Mapping]] = ..., plan_name: _Optional[str] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., compensation_usage: _Optional[_Union[ResourceUsage, _Mapping]] = ...) -> None: ...

class ExecutionEvent(_message.Message):
    __slots__ = ("sequence", "plan_id", "event_time", "status", "step_id", "step_status", "attempt", "message", "type", "error", "retry_delay", "progress", "step_name", "output", "actor", "item_index", "decision", "signal", "wait_deadline")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRY_DELAY_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ITEM_INDEX_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    WAIT_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    plan_id: str
    event_time: _timestamp_pb2.Timestamp
    status: ExecutionStatus
    step_id: str
    step_status: StepStatus
    attempt: int
    message: str
    type: ExecutionEventType
    error: ExecutionError
    retry_delay: _duration_pb2.Duration
    progress: float
    step_name: str
    output: _struct_pb2.Value
    actor: str
    item_index: int
    decision: ApprovalDecision
    signal: str
    wait_deadline: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., plan_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[ExecutionStatus, str]] = ..., step_id: _Optional[str] = ..., step_status: _Optional[_Union[StepStatus, str]] = ..., attempt: _Optional[int] = ..., message: _Optional[str] = ..., type: _Optional[_Union[ExecutionEventType, str]] = ..., error: _Optional[_Union[ExecutionError, _Mapping]] = ..., retry_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., progress: _Optional[float] = ..., step_name: _Optional[str] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., actor: _Optional[str] = ..., item_index: _Optional[int] = ..., decision: _Optional[_Union[ApprovalDecision, str]] = ..., signal: _Optional[str] = ..., wait_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ToolSpec(_message.Message):
    __slots__ = ("name", "title", "description", "input_schema", "output_schema", "read_only", "destructive", "idempotent", "open_world", "default_timeout", "compensable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    DESTRUCTIVE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    OPEN_WORLD_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    COMPENSABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    description: str
    input_schema: _struct_pb2.Struct
    output_schema: _struct_pb2.Struct
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool
    default_timeout: _duration_pb2.Duration
    compensable: bool
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., input_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., output_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., read_only: _Optional[bool] = ..., destructive: _Optional[bool] = ..., idempotent: _Optional[bool] = ..., open_world: _Optional[bool] = ..., default_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., compensable: _Optional[bool] = ...) -> None: ...

class ToolLoadError(_message.Message):
    __slots__ = ("entry_point", "message")
    ENTRY_POINT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    entry_point: str
    message: str
    def __init__(self, entry_point: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ExecutePlanRequest(_message.Message):
    __slots__ = ("plan", "options", "detach")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    plan: ActionPlan
    options: ExecutionOptions
    detach: bool
    def __init__(self, plan: _Optional[_Union[ActionPlan, _Mapping]] = ..., options: _Optional[_Union[ExecutionOptions, _Mapping]] = ..., detach: _Optional[bool] = ...) -> None: ...

class ExecutePlanResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ExecutionResult
    def __init__(self, result: _Optional[_Union[ExecutionResult, _Mapping]] = ...) -> None: ...

class ExecutionContext(_message.Message):
    __slots__ = ("plan_id", "step_outputs", "resource_limits", "timeout_policy", "retry_policy")
    class StepOutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_POLICY_FIELD_NUMBER: _ClassVar[int]
    RETRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    step_outputs: _containers.MessageMap[str, _struct_pb2.Value]
    resource_limits: ResourceLimits
    timeout_policy: TimeoutPolicy
    retry_policy: RetryPolicy
    def __init__(self, plan_id: _Optional[str] = ..., step_outputs: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., resource_limits: _Optional[_Union[ResourceLimits, _Mapping]] = ..., timeout_policy: _Optional[_Union[TimeoutPolicy, _Mapping]] = ..., retry_policy: _Optional[_Union[RetryPolicy, _Mapping]] = ...) -> None: ...

class ExecuteStepRequest(_message.Message):
    __slots__ = ("step", "context")
    STEP_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    step: ActionStep
    context: ExecutionContext
    def __init__(self, step: _Optional[_Union[ActionStep, _Mapping]] = ..., context: _Optional[_Union[ExecutionContext, _Mapping]] = ...) -> None: ...

class ExecuteStepResponse(_message.Message):
    __slots__ = ("result", "resource_usage")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_USAGE_FIELD_NUMBER: _ClassVar[int]
    result: StepResult
    resource_usage: ResourceUsage
    def __init__(self, result: _Optional[_Union[StepResult, _Mapping]] = ..., resource_usage: _Optional[_Union[ResourceUsage, _Mapping]] = ...) -> None: ...

class CancelExecutionRequest(_message.Message):
    __slots__ = ("plan_id", "reason")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    reason: str
    def __init__(self, plan_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelExecutionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ExecutionStatus
    def __init__(self, status: _Optional[_Union[ExecutionStatus, str]] = ...) -> None: ...

class PauseExecutionRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class PauseExecutionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ExecutionStatus
    def __init__(self, status: _Optional[_Union[ExecutionStatus, str]] = ...) -> None: ...

class ResumeExecutionRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class ResumeExecutionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ExecutionStatus
    def __init__(self, status: _Optional[_Union[ExecutionStatus, str]] = ...) -> None: ...

class GetExecutionStatusRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class GetExecutionStatusResponse(_message.Message):
    __slots__ = ("plan_id", "status", "progress", "step_results", "error", "resource_usage", "plan_name", "create_time", "start_time", "end_time", "execution_time", "last_sequence", "compensation_usage")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STEP_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_USAGE_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_USAGE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    status: ExecutionStatus
    progress: Progress
    step_results: _containers.RepeatedCompositeFieldContainer[StepResult]
    error: ExecutionError
    resource_usage: ResourceUsage
    plan_name: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    execution_time: _duration_pb2.Duration
    last_sequence: int
    compensation_usage: ResourceUsage
    def __init__(self, plan_id: _Optional[str] = ..., status: _Optional[_Union[ExecutionStatus, str]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., step_results: _Optional[_Iterable[_Union[StepResult, _Mapping]]] = ..., error: _Optional[_Union[ExecutionError, _Mapping]] = ..., resource_usage: _Optional[_Union[ResourceUsage, _Mapping]] = ..., plan_name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., execution_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., last_sequence: _Optional[int] = ..., compensation_usage: _Optional[_Union[ResourceUsage, _Mapping]] = ...) -> None: ...

class RollbackExecutionRequest(_message.Message):
    __slots__ = ("plan_id", "detach")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    detach: bool
    def __init__(self, plan_id: _Optional[str] = ..., detach: _Optional[bool] = ...) -> None: ...

class RollbackExecutionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ExecutionStatus
    def __init__(self, status: _Optional[_Union[ExecutionStatus, str]] = ...) -> None: ...

class WatchExecutionRequest(_message.Message):
    __slots__ = ("plan_id", "after_sequence")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    after_sequence: int
    def __init__(self, plan_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class WatchExecutionResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ExecutionEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[ExecutionEvent, _Mapping]]] = ...) -> None: ...

class ListToolsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListToolsResponse(_message.Message):
    __slots__ = ("tools", "next_page_token", "load_errors")
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOAD_ERRORS_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[ToolSpec]
    next_page_token: str
    load_errors: _containers.RepeatedCompositeFieldContainer[ToolLoadError]
    def __init__(self, tools: _Optional[_Iterable[_Union[ToolSpec, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., load_errors: _Optional[_Iterable[_Union[ToolLoadError, _Mapping]]] = ...) -> None: ...

class ExecutionSummary(_message.Message):
    __slots__ = ("plan_id", "plan_name", "status", "create_time", "end_time", "total_steps")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    plan_name: str
    status: ExecutionStatus
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    total_steps: int
    def __init__(self, plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., status: _Optional[_Union[ExecutionStatus, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_steps: _Optional[int] = ...) -> None: ...

class ListExecutionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "statuses", "created_after", "created_before", "plan_name")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    statuses: _containers.RepeatedScalarFieldContainer[ExecutionStatus]
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    plan_name: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[ExecutionStatus, str]]] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., plan_name: _Optional[str] = ...) -> None: ...

class ListExecutionsResponse(_message.Message):
    __slots__ = ("executions", "next_page_token")
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    executions: _containers.RepeatedCompositeFieldContainer[ExecutionSummary]
    next_page_token: str
    def __init__(self, executions: _Optional[_Iterable[_Union[ExecutionSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteExecutionRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class DeleteExecutionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ApproveStepRequest(_message.Message):
    __slots__ = ("plan_id", "step", "decision", "arguments", "comment")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    step: str
    decision: ApprovalDecision
    arguments: _struct_pb2.Struct
    comment: str
    def __init__(self, plan_id: _Optional[str] = ..., step: _Optional[str] = ..., decision: _Optional[_Union[ApprovalDecision, str]] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., comment: _Optional[str] = ...) -> None: ...

class ApproveStepResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: StepResult
    def __init__(self, result: _Optional[_Union[StepResult, _Mapping]] = ...) -> None: ...

class SignalExecutionRequest(_message.Message):
    __slots__ = ("plan_id", "name", "payload")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    name: str
    payload: _struct_pb2.Value
    def __init__(self, plan_id: _Optional[str] = ..., name: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class SignalExecutionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ExecutionStatus
    def __init__(self, status: _Optional[_Union[ExecutionStatus, str]] = ...) -> None: ...

class ListApprovalsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "plan_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    plan_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., plan_id: _Optional[str] = ...) -> None: ...

class PendingApproval(_message.Message):
    __slots__ = ("plan_id", "plan_name", "step_id", "step_name", "tool_name", "prompt", "arguments", "wait_start_time", "deadline", "on_timeout", "allow_edit")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    WAIT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    ON_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_EDIT_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    plan_name: str
    step_id: str
    step_name: str
    tool_name: str
    prompt: str
    arguments: _struct_pb2.Struct
    wait_start_time: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    on_timeout: ApprovalDecision
    allow_edit: bool
    def __init__(self, plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., step_id: _Optional[str] = ..., step_name: _Optional[str] = ..., tool_name: _Optional[str] = ..., prompt: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., wait_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., on_timeout: _Optional[_Union[ApprovalDecision, str]] = ..., allow_edit: _Optional[bool] = ...) -> None: ...

class ListApprovalsResponse(_message.Message):
    __slots__ = ("approvals", "next_page_token")
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    approvals: _containers.RepeatedCompositeFieldContainer[PendingApproval]
    next_page_token: str
    def __init__(self, approvals: _Optional[_Iterable[_Union[PendingApproval, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RetryExecutionRequest(_message.Message):
    __slots__ = ("plan_id", "detach", "resource_limits")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    detach: bool
    resource_limits: ResourceLimits
    def __init__(self, plan_id: _Optional[str] = ..., detach: _Optional[bool] = ..., resource_limits: _Optional[_Union[ResourceLimits, _Mapping]] = ...) -> None: ...

class RetryExecutionResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ExecutionResult
    def __init__(self, result: _Optional[_Union[ExecutionResult, _Mapping]] = ...) -> None: ...
