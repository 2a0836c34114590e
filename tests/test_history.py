"""History over the wire: listing with filters and pages, deleting, retention, restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from tests.support.events import collect
from tests.support.tools import Gate, make_registry

from executor_client import (
    AsyncExecutorClient,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    executor_pb2,
    status_name,
)
from executor_client.plans import plan, step
from executor_server.app import Config, build_server
from executor_server.domain.models import ActionPlan, ActionStep, ExecutionOptions, ToolExecution
from executor_server.engine.executor import Executor
from executor_server.rpc.server import ExecutorServer
from executor_server.store.memory import MemoryStore

pb = executor_pb2


def _names(response: pb.ListExecutionsResponse) -> list[str]:
    return [e.plan_name for e in response.executions]


async def test_listing_is_newest_first_filtered_and_paged(client: AsyncExecutorClient) -> None:
    for n in range(5):
        await client.execute_plan(plan(step("echo", {"n": n}), name=f"p{n}"))
    await client.execute_plan(plan(step("fail", {"retryable": False}), name="broken"))

    everything = await client.list_executions_page()
    assert _names(everything) == ["broken", "p4", "p3", "p2", "p1", "p0"]
    assert everything.next_page_token == ""
    first = everything.executions[-1]
    assert status_name(first.status) == "COMPLETED" and first.total_steps == 1
    assert first.end_time.ToDatetime() >= first.create_time.ToDatetime()

    seen: list[str] = []
    request = pb.ListExecutionsRequest(page_size=2)
    while True:
        page = await client.list_executions_page(request)
        assert len(page.executions) <= 2
        seen.extend(_names(page))
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert seen == _names(everything)

    failed = await client.list_executions_page(
        pb.ListExecutionsRequest(statuses=[pb.EXECUTION_STATUS_FAILED])
    )
    assert _names(failed) == ["broken"]
    by_name = await client.list_executions_page(pb.ListExecutionsRequest(plan_name="p3"))
    assert _names(by_name) == ["p3"]

    middle = everything.executions[3].create_time  # p2
    window = await client.list_executions_page(
        pb.ListExecutionsRequest(
            created_after=middle, created_before=everything.executions[1].create_time
        )
    )
    assert _names(window) == ["p3", "p2"]


async def test_a_page_token_only_fits_the_filter_it_was_issued_for(
    client: AsyncExecutorClient,
) -> None:
    for n in range(3):
        await client.execute_plan(plan(step("echo", {}), name=f"q{n}"))
    page = await client.list_executions_page(pb.ListExecutionsRequest(page_size=1))
    changed = pb.ListExecutionsRequest(page_size=1, page_token=page.next_page_token, plan_name="q0")
    with pytest.raises(InvalidArgumentError) as caught:
        await client.list_executions_page(changed)
    assert caught.value.field_violations[0].field == "page_token"
    with pytest.raises(InvalidArgumentError):
        await client.list_executions_page(pb.ListExecutionsRequest(page_token="garbage"))
    with pytest.raises(InvalidArgumentError):
        await client.list_executions_page(pb.ListExecutionsRequest(page_size=-1))
    with pytest.raises(InvalidArgumentError):
        await client.list_executions_page(pb.ListExecutionsRequest(statuses=[42]))  # type: ignore[list-item]


async def test_delete_forgets_a_finished_execution_and_refuses_a_running_one(
    client: AsyncExecutorClient, gate: Gate, tmp_path: Path
) -> None:
    done = plan(step("echo", {}))
    await client.execute_plan(done)
    workspace = tmp_path / "workspaces" / done.id
    await asyncio.to_thread(workspace.mkdir, parents=True)

    await client.delete_execution(done.id)
    with pytest.raises(NotFoundError):
        await client.get_execution_status(done.id)
    with pytest.raises(NotFoundError):
        await client.delete_execution(done.id)
    assert not await asyncio.to_thread(workspace.exists)
    listed = await client.list_executions_page()
    assert done.id not in [e.plan_id for e in listed.executions]

    running = plan(step("gate", {"key": "hold"}))
    await client.execute_plan(running, detach=True)
    await gate.started("hold")
    with pytest.raises(FailedPreconditionError) as caught:
        await client.delete_execution(running.id)
    assert caught.value.status == pb.EXECUTION_STATUS_RUNNING
    gate.open("hold")
    await client.wait(running.id)
    await client.delete_execution(running.id)


async def test_retention_purges_expired_executions_with_their_workspaces(tmp_path: Path) -> None:
    store = MemoryStore()
    executor = Executor(
        make_registry(),
        store,
        workspace_root=tmp_path,
        retention=timedelta(seconds=0.2),
    )
    await executor.start()
    try:
        kept = "00000000-0000-4000-8000-000000000001"
        one = ActionPlan(
            id=kept,
            steps=(
                ActionStep(
                    id="00000000-0000-4000-8000-0000000000a1",
                    tool_execution=ToolExecution(tool_name="echo"),
                ),
            ),
        )
        await executor.execute_plan(one, ExecutionOptions())
        await asyncio.to_thread((tmp_path / kept).mkdir)
        async with asyncio.timeout(10):
            while await store.get_execution(kept) is not None:  # noqa: ASYNC110 - no event to await: the purge keeps its own schedule
                await asyncio.sleep(0.05)
        assert not await asyncio.to_thread((tmp_path / kept).exists)
    finally:
        await executor.close()


async def test_finished_executions_are_served_from_the_journal_after_a_restart(
    tmp_path: Path,
) -> None:
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=tmp_path / "j.db")
    p = plan(step("echo", {"v": 1}, name="a"), name="kept")

    async def serve() -> ExecutorServer:
        server = await build_server(config, tools=make_registry())
        await server.start()
        return server

    first = await serve()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{first.port}") as client:
            before = await client.execute_plan(p)
            events_before = await collect(client, p.id)
    finally:
        await first.stop(drain_seconds=0, grace_seconds=1)

    second = await serve()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{second.port}") as client:
            status = await client.get_execution_status(p.id)
            assert status_name(status.status) == "COMPLETED"
            assert status.step_results[0].output == before.step_results[0].output
            assert status.last_sequence == len(events_before)
            assert await collect(client, p.id) == events_before
            assert await collect(client, p.id, after=2) == events_before[2:]
            listed = await client.list_executions_page()
            assert [e.plan_name for e in listed.executions] == ["kept"]
            again = await client.execute_plan(p)  # attaches: nothing runs twice
            assert again.step_results[0].end_time == before.step_results[0].end_time
    finally:
        await second.stop(drain_seconds=0, grace_seconds=1)
