"""The README's "Calling it from the shell" commands, run exactly as written (the address
aside) against a live server: grpcurl, buf curl and a short ghz burst, with reflection
alone and no proto file.

grpcurl and ghz come from `make shell-tools` (the test target installs them), buf from
`make install`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from tests.support.commands import ROOT, find, need, run

from executor_client import AsyncExecutorClient, executor_pb2, status_name

TOOLS = {
    "$GRPCURL": find(ROOT / ".tools/go/bin/grpcurl"),
    "$GHZ": find(ROOT / ".tools/go/bin/ghz"),
    "$BUF": find(ROOT / "node_modules/.bin/buf"),
}
PLAN_ID = "6f1c2a9e-8a8e-4c5e-9d7e-1a2b3c4d5e6f"


def readme_commands() -> tuple[list[str], list[str]]:
    """(variable assignments, commands) of the section's shell block."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Calling it from the shell", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README: no sh block under 'Calling it from the shell'"
    assignments: list[str] = []
    commands: list[str] = []
    for line in block[1].splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        (assignments if re.match(r"^[A-Z_]+=", line) else commands).append(line)
    return assignments, commands


ASSIGNMENTS, COMMANDS = readme_commands()


def json_values(text: str) -> list[Any]:
    """The JSON values printed one after another (a stream prints one per message)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at = len(text) - len(text.lstrip())
    while at < len(text):
        value, end = decoder.raw_decode(text, at)
        values.append(value)
        at = end + len(text[end:]) - len(text[end:].lstrip())
    return values


def check(command: str, out: str) -> None:
    """What a user reads in each command's output."""
    if command.endswith(" list"):
        assert out.split() == [
            "executor.v1.ExecutorService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    elif " describe executor.v1.ExecutorService.ExecutePlan" in command:
        assert "executor.v1.ExecutorService.ExecutePlan is a method:" in out
        assert "// Validates and runs a plan." in out  # the proto's comment
        assert "rpc ExecutePlan ( .executor.v1.ExecutePlanRequest )" in out
    elif " describe executor.v1.ExecutorService" in command:
        assert "// ExecutorService runs action plans" in out
        assert "rpc WatchExecution ( .executor.v1.WatchExecutionRequest ) returns ( stream" in out
    elif " describe executor.v1.ActionPlan" in command:
        assert "message ActionPlan {" in out
        assert "// UUID chosen by the client" in out
    elif "--list-methods" in command:
        assert "executor.v1.ExecutorService/ExecutePlan" in out.split()
    elif "examples/plan.json" in command:
        (response,) = json_values(out)
        result = response["result"]
        assert result["planId"] == PLAN_ID
        assert result["status"] == "EXECUTION_STATUS_COMPLETED"
        outputs = [s["output"] for s in result["stepResults"]]
        assert outputs == [{"message": "hello"}, {"text": "hello!"}]
    elif command.endswith("/WatchExecution"):
        events = [e for batch in json_values(out) for e in batch["events"]]
        assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1))
        assert events[-1]["status"] == "EXECUTION_STATUS_COMPLETED"
    elif command.endswith("/GetExecutionStatus"):
        (status,) = json_values(out)
        assert status["status"] == "EXECUTION_STATUS_COMPLETED"
    elif "grpc.health.v1.Health/Check" in command:
        assert json_values(out) == [{"status": "SERVING"}]
    elif command.startswith("$GHZ"):
        total = int(re.search(r" -n (\d+)", command)[1])  # type: ignore[index]
        assert re.search(rf"\[OK\]\s+{total} responses", out), out
        assert "Error distribution" not in out, out
    else:
        pytest.fail(f"no check for the README command {command!r}: add one")


@pytest.mark.timeout(120)
async def test_readme_shell_commands(port: int, client: AsyncExecutorClient) -> None:
    for tool, path in TOOLS.items():
        need(path, f"{tool[1:].lower()} (make shell-tools / make install)")
    assert COMMANDS, "README: no commands under 'Calling it from the shell'"
    preamble = "\n".join(
        f"ADDR=127.0.0.1:{port}" if line.startswith("ADDR=") else line for line in ASSIGNMENTS
    )
    for command in COMMANDS:
        code, out, err = await run(
            "bash", "-euo", "pipefail", "-c", f"{preamble}\n{command}", time_limit=60
        )
        assert code == 0, f"{command}\n{out}\n{err}"
        check(command, out)

    # The ghz burst really ran plans, each once, and the plan submitted twice ran once.
    ghz = next(c for c in COMMANDS if c.startswith("$GHZ"))
    total = int(re.search(r" -n (\d+)", ghz)[1])  # type: ignore[index]
    burst = await client.list_executions_page(
        executor_pb2.ListExecutionsRequest(plan_name="ghz", page_size=1000)
    )
    assert len(burst.executions) == total
    assert {status_name(e.status) for e in burst.executions} == {"COMPLETED"}
    hello = await client.get_execution_status(PLAN_ID)
    assert hello.progress.completed_steps == 2
    assert hello.resource_usage.tool_invocations == 2
