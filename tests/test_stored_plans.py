"""Stored plans carry a codec version, and a journal written before versions existed still
loads: `fixtures/journal-v1.db` was written by the server as it was then (main at 0eb8f74:
the finished plan below, run to its end, then a second execution cut off while its `nap`
step ran, by closing the executor under it)."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from tests.support.events import assert_well_formed, collect
from tests.support.tools import make_registry

from executor_client import AsyncExecutorClient, output, status_name, step_status_name
from executor_server.app import Config, build_server
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    Compensation,
    Event,
    ExecutionOptions,
    ForEach,
    ResourceLimits,
    RetryPolicy,
    TimeoutPolicy,
    ToolExecution,
    ValidationRule,
)
from executor_server.domain.status import (
    DependencyRule,
    EventType,
    ExecutionErrorType,
    ExecutionStatus,
    StepStatus,
)
from executor_server.store.codec import (
    CodecError,
    decode_event,
    decode_options,
    decode_plan,
    encode_event,
    encode_options,
    encode_plan,
)
from executor_server.store.sqlite import SQLiteStore

FIXTURE = Path(__file__).parent / "fixtures" / "journal-v1.db"
FINISHED = "10000000-0000-4000-8000-000000000001"
UNFINISHED = "10000000-0000-4000-8000-000000000002"


def sid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


# The finished plan and options of the fixture, as they were submitted.
PLAN = ActionPlan(
    id=FINISHED,
    name="finished",
    metadata={"team": "fixtures"},
    steps=(
        ActionStep(
            id=sid(1),
            name="greet",
            tool_execution=ToolExecution(tool_name="echo", arguments={"message": "hello"}),
            expected_duration=timedelta(seconds=2),
            parameters={"p": 1},
            retry_policy=RetryPolicy(
                max_attempts=3,
                initial_backoff=timedelta(milliseconds=100),
                non_retryable_error_types=frozenset({ExecutionErrorType.VALIDATION}),
            ),
        ),
        ActionStep(
            id=sid(2),
            name="shout",
            dependencies=("greet",),
            tool_execution=ToolExecution(
                tool_name="echo", arguments={"text": "${steps.greet.output.message}!"}
            ),
            validation_rules=(
                ValidationRule(json_schema={"type": "object"}, description="an object"),
            ),
            compensation=Compensation(
                tool_name="echo",
                arguments={"undo": "${steps.self.output.text}"},
                timeout=timedelta(seconds=5),
            ),
        ),
    ),
)
OPTIONS = ExecutionOptions(
    max_concurrent_steps=2,
    resource_limits=ResourceLimits(
        max_tool_invocations=50, max_execution_time=timedelta(minutes=5)
    ),
    timeout_policy=TimeoutPolicy(default_step_timeout=timedelta(seconds=30)),
    retry_policy=RetryPolicy(jitter=0.1),
    auto_rollback=True,
)


def test_plans_and_options_round_trip_through_the_versioned_codec() -> None:
    stored = encode_plan(PLAN)
    assert stored.startswith('{"v":2,')
    assert decode_plan(stored) == PLAN
    assert decode_options(encode_options(OPTIONS)) == OPTIONS
    assert decode_options(encode_options(ExecutionOptions())) == ExecutionOptions()


def test_branching_round_trips_through_the_codec() -> None:
    """`when`, dependency rules and for_each in plans; what retries and fan-outs add to
    events: a plan stored without them (version 2 as it was) reads as their defaults."""
    branching = PLAN.model_copy(
        update={
            "steps": (
                PLAN.steps[0],
                PLAN.steps[1].model_copy(
                    update={
                        "when": 'steps.greet.status == "COMPLETED"',
                        "dependency_rule": DependencyRule.NONE_FAILED,
                        "for_each": ForEach(items="${steps.greet.output.list}", max_parallel=3),
                    }
                ),
            )
        }
    )
    assert decode_plan(encode_plan(branching)) == branching
    assert '"when"' not in encode_plan(PLAN) and '"for_each"' not in encode_plan(PLAN)
    assert decode_plan(encode_plan(PLAN)).steps[1].dependency_rule is DependencyRule.ALL_COMPLETED
    event = Event(
        sequence=7,
        plan_id=FINISHED,
        time=1.5,
        type=EventType.STEP_STATUS_CHANGED,
        status=ExecutionStatus.RUNNING,
        step_id=sid(2),
        step_status=StepStatus.RUNNING,
        item_index=4,
        item_count=9,
        limits=ResourceLimits(max_tool_invocations=3),
    )
    assert decode_event(FINISHED, 7, encode_event(event)) == event
    plain = Event(7, FINISHED, 1.5, EventType.STEP_PROGRESS, ExecutionStatus.RUNNING)
    assert '"ix"' not in encode_event(plain)
    assert decode_event(FINISHED, 7, encode_event(plain)) == plain


def test_a_newer_codec_version_is_refused_with_a_clear_error() -> None:
    with pytest.raises(CodecError, match="codec version 3"):
        decode_plan('{"v": 3, "plan": {}}')


async def test_a_version_1_journal_still_loads(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    shutil.copy(FIXTURE, db)
    store = await SQLiteStore.open(db)
    try:
        record = await store.get_execution(FINISHED)
        assert record is not None
        # Decoded field by field from pydantic's old JSON: the same plan, so resubmitting
        # it attaches instead of colliding.
        assert record.submitted_as(PLAN, OPTIONS)
    finally:
        await store.close()


async def test_a_version_1_journal_is_served_and_its_unfinished_execution_resumes(
    tmp_path: Path, no_blocking: object
) -> None:
    db = tmp_path / "journal.db"
    await asyncio.to_thread(shutil.copy, FIXTURE, db)
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=db)
    server = await build_server(config, tools=make_registry())
    port = await server.start()
    try:
        async with AsyncExecutorClient(f"127.0.0.1:{port}", timeout=20) as client:
            done = await client.get_execution_status(FINISHED)
            assert status_name(done.status) == "COMPLETED"
            assert output(done.step_results[1].output) == {"text": "hello!"}

            resumed = await client.wait(UNFINISHED, timeout=20)
            assert status_name(resumed.status) == "COMPLETED"
            assert [step_status_name(r.status) for r in resumed.step_results] == ["COMPLETED"] * 3
            assert resumed.step_results[1].retry_count == 1  # nap ran again after the cut
            assert_well_formed(await collect(client, UNFINISHED))

            page = await client.list_executions_page()
            assert {e.plan_id for e in page.executions} == {FINISHED, UNFINISHED}
    finally:
        await server.stop(drain_seconds=0, grace_seconds=1)
