"""Smoke test of the generated gRPC code shipped in executor_client._gen."""

from executor_client._gen.executor.v1 import executor_pb2, executor_pb2_grpc

EXPECTED_METHODS = [
    "ExecutePlan",
    "ExecuteStep",
    "CancelExecution",
    "PauseExecution",
    "ResumeExecution",
    "GetExecutionStatus",
    "RollbackExecution",
    "WatchExecution",
    "ListTools",
    "ListExecutions",
    "DeleteExecution",
    "ApproveStep",
    "SignalExecution",
    "ListApprovals",
    "RetryExecution",
]


def test_service_has_expected_methods() -> None:
    service = executor_pb2.DESCRIPTOR.services_by_name["ExecutorService"]
    assert service.full_name == "executor.v1.ExecutorService"
    assert [m.name for m in service.methods] == EXPECTED_METHODS


def test_only_watch_execution_streams() -> None:
    service = executor_pb2.DESCRIPTOR.services_by_name["ExecutorService"]
    streaming = {m.name for m in service.methods if m.server_streaming or m.client_streaming}
    assert streaming == {"WatchExecution"}


def test_grpc_stub_and_servicer_expose_every_method() -> None:
    for name in EXPECTED_METHODS:
        assert callable(getattr(executor_pb2_grpc.ExecutorServiceServicer, name))
    assert hasattr(executor_pb2_grpc, "ExecutorServiceStub")
    assert callable(executor_pb2_grpc.add_ExecutorServiceServicer_to_server)
