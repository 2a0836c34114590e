"""Python client for the Executor gRPC service (``executor.v1.ExecutorService``).

Usage::

    from executor_client import AsyncExecutorClient, plan, step, status_name

    async with AsyncExecutorClient("127.0.0.1:50051") as client:
        hello = step("echo", {"message": "hello"}, name="hello")
        world = step("echo", {"message": "${steps.hello.output}"}, depends_on=[hello])
        p = plan(hello, world, name="demo")
        await client.execute_plan(p, detach=True)
        async for event in client.watch(p.id):
            print(event.sequence, status_name(event.status), event.step_name)
        print(status_name((await client.get_execution_status(p.id)).status))

:class:`ExecutorClient` is the blocking twin with the same methods. Requests and
results are the generated protobuf messages (``executor_client.executor_pb2``);
failed requests raise :class:`ExecutorClientError` subclasses (see
:mod:`executor_client.errors`).
"""

from executor_client._common import DEFAULT_CHANNEL_OPTIONS
from executor_client._gen.executor.v1 import executor_pb2, executor_pb2_grpc
from executor_client.aio import AsyncExecutorClient
from executor_client.errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    ExecutorClientError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    from_rpc_error,
)
from executor_client.planfile import LoadedPlan, PlanFileError, load_plan, parse_plan
from executor_client.plans import (
    approval,
    compensation,
    output,
    plan,
    retry_policy,
    sleep,
    status_name,
    step,
    step_status_name,
    wait_for_signal,
)
from executor_client.sync import ExecutorClient

__all__ = [
    "DEFAULT_CHANNEL_OPTIONS",
    "AlreadyExistsError",
    "AsyncExecutorClient",
    "DeadlineExceededError",
    "ExecutorClient",
    "ExecutorClientError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "LoadedPlan",
    "NotFoundError",
    "PermissionDeniedError",
    "PlanFileError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "approval",
    "compensation",
    "executor_pb2",
    "executor_pb2_grpc",
    "from_rpc_error",
    "load_plan",
    "output",
    "parse_plan",
    "plan",
    "retry_policy",
    "sleep",
    "status_name",
    "step",
    "step_status_name",
    "wait_for_signal",
]
