"""Defects a probe of the engine found in process (issue 10), each through the wire.

Every test here failed on the engine as it was before the machine and runner.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.support.events import (
    STATUS_CHANGED,
    STEP_CHANGED,
    assert_well_formed,
    collect,
    wait_for_event,
)
from tests.support.tools import Gate, make_registry

from executor_client import (
    AsyncExecutorClient,
    executor_pb2,
    output,
    plan,
    retry_policy,
    status_name,
    step,
    step_status_name,
)
from executor_server.app import Config, build_server
from executor_server.domain.models import JsonObject
from executor_server.domain.status import (
    EXECUTION_TRANSITIONS,
    ExecutionStatus,
    StepStatus,
    can_step_transition,
)
from executor_server.tools.protocol import ToolContext, ToolSpec
from executor_server.tools.registry import ToolRegistry

pb = executor_pb2


class Meddle:
    """Tries to change what it was given in place; says what it managed."""

    spec = ToolSpec(name="meddle", description="Changes its arguments in place, if it can.")

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        refused = []
        for attempt in (
            lambda: arguments.__setitem__("added", True),
            lambda: arguments["items"].append("extra"),
            lambda: arguments["nested"].update(key="changed"),
        ):
            try:
                attempt()
            except TypeError:
                refused.append(True)
        mine = dict(arguments)  # a copy is the tool's own to change
        mine["added"] = True
        return {"refused": len(refused), "copy": mine}


@pytest.fixture
def tools(gate: Gate) -> ToolRegistry:
    return make_registry(gate, Meddle())


# ---------------------------------------------------------------- arguments are read-only


async def test_a_tool_cannot_change_the_plan_through_its_arguments(
    client: AsyncExecutorClient,
) -> None:
    source = step("echo", {"items": ["a"], "nested": {"key": "v"}}, name="source")
    p = plan(
        step("meddle", {"items": ["a"], "nested": {"key": "v"}}, name="direct"),
        source,
        # An earlier step's output, reached through references, is read-only too.
        step(
            "meddle",
            {"items": "${steps.source.output.items}", "nested": "${steps.source.output.nested}"},
            name="referenced",
            depends_on=[source],
        ),
    )
    first = await client.execute_plan(p)
    assert status_name(first.status) == "COMPLETED"
    direct, src, referenced = first.step_results
    for meddled in (direct, referenced):
        got = output(meddled.output)
        assert got["refused"] == 3
        assert got["copy"] == {"items": ["a"], "nested": {"key": "v"}, "added": True}
    assert output(src.output) == {"items": ["a"], "nested": {"key": "v"}}

    # The stored plan is what was sent: the same plan attaches to its execution.
    again = await client.execute_plan(p)
    assert [r.start_time for r in again.step_results] == [r.start_time for r in first.step_results]
    assert output(again.step_results[1].output) == {"items": ["a"], "nested": {"key": "v"}}


# ---------------------------------------------------------------- synchronous plugins


def test_a_plugin_with_a_synchronous_invoke_is_refused_at_load_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    dist = site / "executor_sync_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: executor-sync-plugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[executor.tools]\nsync.tool = executor_sync_plugin_mod:SyncTool\n"
    )
    (site / "executor_sync_plugin_mod.py").write_text(
        textwrap.dedent(
            """\
            from executor_server.tools.protocol import ToolSpec

            class SyncTool:
                spec = ToolSpec(name="sync.tool", description="forgot async")

                def invoke(self, arguments, context):
                    return {}
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    registry = ToolRegistry.from_entry_points()
    assert "sync.tool" not in registry
    (error,) = [e for e in registry.load_errors if e.entry_point.startswith("sync.tool")]
    assert "SyncTool.invoke is not async" in error.message

    with pytest.raises(TypeError, match="not async"):
        ToolRegistry().register(_SyncByHand())


class _SyncByHand:
    spec = ToolSpec(name="by.hand", description="forgot async")

    def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        return {}


# ---------------------------------------------------------------- recovery without its tool


async def test_a_paused_execution_whose_tool_is_gone_fails_through_allowed_transitions(
    tmp_path: Path, gate: Gate, no_blocking: object
) -> None:
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=tmp_path / "x.db")
    held = step("gate", {"key": "held"}, name="held")
    p = plan(held, step("echo", {}, name="after", depends_on=[held]))

    first = await build_server(config, tools=make_registry(gate))
    port = await first.start()
    async with AsyncExecutorClient(f"127.0.0.1:{port}", timeout=20) as client:
        await client.execute_plan(p, detach=True)
        await gate.started("held")
        assert status_name(await client.pause_execution(p.id)) == "PAUSED"
    await first.stop(drain_seconds=0, grace_seconds=1)  # the gate is still running

    second = await build_server(config, tools=make_registry())  # no gate tool any more
    port = await second.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{port}", timeout=20) as client:
            final = await client.get_execution_status(p.id)
            assert status_name(final.status) == "FAILED"
            assert [step_status_name(r.status) for r in final.step_results] == [
                "FAILED",
                "SKIPPED",
            ]
            assert "gate" in final.error.message
            events = await collect(client, p.id)
    finally:
        await second.stop(drain_seconds=0, grace_seconds=1)
    assert_well_formed(events)
    status = ExecutionStatus.PENDING
    steps: dict[str, StepStatus] = {}
    for event in events[1:]:
        if event.type == STATUS_CHANGED:
            new = ExecutionStatus(event.status)
            assert new in EXECUTION_TRANSITIONS[status], (status.name, new.name)
            status = new
        elif event.type == STEP_CHANGED:
            new_step = StepStatus(event.step_status)
            old = steps.get(event.step_id, StepStatus.PENDING)
            assert can_step_transition(old, new_step), (old.name, new_step.name)
            steps[event.step_id] = new_step


# ---------------------------------------------------------------- a backoff frees its slot


async def test_a_step_waiting_to_retry_does_not_hold_its_concurrency_slot(
    client: AsyncExecutorClient,
) -> None:
    flaky = step(
        "fail",
        {"retryable": True, "succeed_on_attempt": 2},
        name="flaky",
        retry=retry_policy(2, initial_backoff=30),
    )
    other = step("echo", {"n": 1}, name="other")
    p = plan(flaky, other)
    await client.execute_plan(p, pb.ExecutionOptions(max_concurrent_steps=1), detach=True)
    # With one slot, `other` runs while `flaky` waits out its 30 s backoff.
    await wait_for_event(client, p.id, step_id=other.id, step_status="COMPLETED")
    status = await client.get_execution_status(p.id)
    assert step_status_name(status.step_results[0].status) == "RUNNING"  # still backing off
    assert status.step_results[0].retry_count == 0
    assert status_name(await client.cancel_execution(p.id)) == "CANCELLED"
    events = await asyncio.wait_for(collect(client, p.id), 10)
    flaky_events = [
        step_status_name(e.step_status)
        for e in events
        if e.step_id == flaky.id and e.type == STEP_CHANGED
    ]
    assert flaky_events == ["RUNNING", "CANCELLED"]
