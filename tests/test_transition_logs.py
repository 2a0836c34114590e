"""The log of `executor serve --log-format json`: one JSON line per execution and step
transition, with the fields an operator greps for; `--log-level warning` silences them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.proc import ServerProcess, free_port

from executor_client import AsyncExecutorClient, plan, retry_policy, status_name, step

EVENTS_LOGGER = "executor_server.events"


async def run_plan(tmp_path: Path, *flags: str) -> tuple[Any, list[dict[str, Any]]]:
    """Runs a plan with a retried step and a failing one; returns it with the server's
    transition log lines."""
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "server.log",
        extra=("--in-memory", *flags),
    )
    flaky = step(
        "fail", {"succeed_on_attempt": 2}, name="flaky", retry=retry_policy(2, initial_backoff=0.01)
    )
    boom = step(
        "fail", {"retryable": False, "message": "out of tea"}, name="boom", depends_on=[flaky]
    )
    p = plan(flaky, boom, name="tea")
    try:
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(server.address, timeout=20.0) as client:
            result = await client.execute_plan(p)
    finally:
        await server.kill()
    assert status_name(result.status) == "FAILED"
    return p, [r for r in server.log_records() if r.get("logger") == EVENTS_LOGGER]


async def test_each_transition_is_one_json_line(tmp_path: Path) -> None:
    p, lines = await run_plan(tmp_path)
    flaky, boom = p.steps
    assert all(line["level"] == "info" and line["plan_id"] == p.id for line in lines)
    assert all(line["plan_name"] == "tea" for line in lines)
    assert [line["sequence"] for line in lines] == list(range(1, len(lines) + 1))
    summary = [
        (line["event"], line.get("step_name"), line.get("attempt"), line.get("status"))
        for line in lines
    ]
    assert summary == [
        ("execution pending", None, None, "PENDING"),
        ("execution running", None, None, "RUNNING"),
        ("step running", "flaky", 1, "RUNNING"),
        ("step retry scheduled", "flaky", 1, None),
        ("step running", "flaky", 2, "RUNNING"),
        ("step completed", "flaky", 2, "COMPLETED"),
        ("step running", "boom", 1, "RUNNING"),
        ("step failed", "boom", 1, "FAILED"),
        ("execution failed", None, None, "FAILED"),
    ]
    retry = lines[3]
    assert retry["step_id"] == flaky.id and retry["tool"] == "fail"
    assert retry["error_type"] == "TOOL_FAILED" and retry["retry_delay"] > 0
    failed = lines[7]
    assert failed["step_id"] == boom.id
    assert failed["error_type"] == "TOOL_FAILED" and "out of tea" in failed["error"]
    assert "trace_id" not in failed  # tracing is off


async def test_warning_level_silences_them(tmp_path: Path) -> None:
    _, lines = await run_plan(tmp_path, "--log-level=warning")
    assert lines == []


async def test_an_elements_lines_name_its_item(tmp_path: Path) -> None:
    server = ServerProcess(
        port=free_port(), data_dir=tmp_path, log=tmp_path / "server.log", extra=("--in-memory",)
    )
    source = step("echo", {"xs": ["a", "b"]}, name="source")
    each = step(
        "echo",
        {"x": "${item}"},
        name="each",
        depends_on=[source],
        for_each="${steps.source.output.xs}",
    )
    try:
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(server.address, timeout=20.0) as client:
            result = await client.execute_plan(plan(source, each, name="fan"))
    finally:
        await server.kill()
    assert status_name(result.status) == "COMPLETED"
    lines = [r for r in server.log_records() if r.get("step_name") == "each"]
    summary = [(line["event"], line.get("item_index")) for line in lines]
    # The step's own lines, and between them its elements' (which run side by side).
    assert summary[0] == ("step running", None) and summary[-1] == ("step completed", None)
    assert sorted(summary[1:-1]) == [
        ("step completed", 0),
        ("step completed", 1),
        ("step running", 0),
        ("step running", 1),
    ]
