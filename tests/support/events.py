"""Reading executions back over the wire: events, step results and their invariants."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import pytest
from google.protobuf.json_format import MessageToDict

from executor_client import AsyncExecutorClient, executor_pb2, status_name, step_status_name

pb = executor_pb2

#: Runs a test once per store: in memory and SQLite (overrides the `store_kind` fixture).
both_stores = pytest.mark.parametrize("store_kind", ["memory", "sqlite", "postgres"])

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "ROLLED_BACK", "ROLLBACK_FAILED"}

STATUS_CHANGED = pb.EXECUTION_EVENT_TYPE_EXECUTION_STATUS_CHANGED
STEP_CHANGED = pb.EXECUTION_EVENT_TYPE_STEP_STATUS_CHANGED
RETRY_SCHEDULED = pb.EXECUTION_EVENT_TYPE_STEP_RETRY_SCHEDULED


async def collect(
    client: AsyncExecutorClient, plan_id: str, after: int = 0, within: float = 30.0
) -> list[pb.ExecutionEvent]:
    """Every event after `after` until the stream ends (after the terminal event)."""
    async with asyncio.timeout(within):
        return [e async for e in client.watch(plan_id, after, reconnect=False)]


async def collect_batches(
    client: AsyncExecutorClient, plan_id: str, after: int = 0, within: float = 30.0
) -> list[list[pb.ExecutionEvent]]:
    async with asyncio.timeout(within):
        return [b async for b in client.watch_batches(plan_id, after, reconnect=False)]


async def wait_for_event(
    client: AsyncExecutorClient,
    plan_id: str,
    *,
    step_id: str = "",
    step_status: str = "",
    status: str = "",
    after: int = 0,
    within: float = 10.0,
) -> pb.ExecutionEvent:
    """The first event after `after` that matches; fails if the stream ends first."""
    async with asyncio.timeout(within):
        async for event in client.watch(plan_id, after, reconnect=False):
            if step_id and event.step_id != step_id:
                continue
            if step_status and step_status_name(event.step_status) != step_status:
                continue
            if status and not (
                event.type == STATUS_CHANGED and status_name(event.status) == status
            ):
                continue
            return event
    raise AssertionError(f"no event matched in {plan_id}")


def assert_gap_free(events: Sequence[pb.ExecutionEvent], first: int = 1) -> None:
    """Sequences are first, first+1, ... without gaps or duplicates, all of one plan."""
    sequences = [e.sequence for e in events]
    assert sequences == list(range(first, first + len(events))), sequences
    assert len({e.plan_id for e in events}) <= 1


def assert_well_formed(events: Sequence[pb.ExecutionEvent], *, rollback: bool = False) -> None:
    """A whole event log: 1..N, PENDING first, terminal last and only last (with a
    `rollback`, the FAILED or CANCELLED before it is the one other terminal status)."""
    assert_gap_free(events)
    assert events, "no events"
    first, last = events[0], events[-1]
    assert first.type == STATUS_CHANGED and status_name(first.status) == "PENDING"
    assert last.type == STATUS_CHANGED and status_name(last.status) in TERMINAL
    ends = [
        status_name(e.status)
        for e in events[:-1]
        if e.type == STATUS_CHANGED and status_name(e.status) in TERMINAL
    ]
    assert ends == (ends[:1] if rollback else []), ends
    if rollback:
        assert ends and ends[0] in ("FAILED", "CANCELLED"), ends


def statuses(events: Iterable[pb.ExecutionEvent]) -> list[str]:
    """The execution statuses the log passes through, in order."""
    return [status_name(e.status) for e in events if e.type == STATUS_CHANGED]


def step_transitions(events: Iterable[pb.ExecutionEvent], step_id: str) -> list[str]:
    """A step's status changes, in order, e.g. ["RUNNING", "COMPLETED"]."""
    return [
        step_status_name(e.step_status)
        for e in events
        if e.type == STEP_CHANGED and e.step_id == step_id
    ]


def first_index(events: Sequence[pb.ExecutionEvent], **match: object) -> int:
    """Position of the first event whose fields equal `match` (enum fields as numbers)."""
    for i, event in enumerate(events):
        if all(getattr(event, k) == v for k, v in match.items()):
            return i
    raise AssertionError(f"no event with {match}")


def result_by_id(
    results: Iterable[pb.StepResult],
) -> dict[str, pb.StepResult]:
    return {r.step_id: r for r in results}


def step_statuses(results: Iterable[pb.StepResult]) -> list[str]:
    return [step_status_name(r.status) for r in results]


def error_type_name(value: int) -> str:
    return pb.ExecutionErrorType.Name(value).removeprefix("EXECUTION_ERROR_TYPE_")


def as_dict(message: object) -> dict[str, object]:
    return MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[arg-type]


async def raw_watch(
    port: int, plan_id: str, after: int = 0, within: float = 30.0
) -> list[list[pb.ExecutionEvent]]:
    """The batches exactly as the server sends them, without the client's de-duplication."""
    import grpc.aio

    from executor_client import executor_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)  # type: ignore[no-untyped-call]
        request = pb.WatchExecutionRequest(plan_id=plan_id, after_sequence=after)
        async with asyncio.timeout(within):
            return [list(response.events) async for response in stub.WatchExecution(request)]
