"""Tools we did not write talk to the server: `buf curl`, with server reflection and no
proto file, over plain HTTP/2 (gRPC protocol)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

BUF = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "buf"
SERVICE = "executor.v1.ExecutorService"

if not BUF.exists() and not os.environ.get("CI"):
    pytest.skip(
        f"{BUF} is missing (run `make install`); it is required when CI is set",
        allow_module_level=True,
    )


async def buf_curl(port: int, method: str, data: dict[str, Any]) -> tuple[int, Any, str]:
    """Runs `buf curl` against the in-process server: (exit code, parsed stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        str(BUF),
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--data",
        json.dumps(data),
        f"http://127.0.0.1:{port}/{method}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    text = out.decode()
    return process.returncode, json.loads(text) if text.strip() else None, err.decode()


async def test_list_tools_through_reflection(port: int) -> None:
    code, body, err = await buf_curl(port, f"{SERVICE}/ListTools", {})
    assert code == 0, err
    names = [t["name"] for t in body["tools"]]
    assert names == ["bad_output", "crash", "echo", "fail", "gate", "record", "sleep", "slow"]
    sleep = next(t for t in body["tools"] if t["name"] == "sleep")
    assert sleep["inputSchema"]["required"] == ["seconds"]
    assert sleep["readOnly"] is True and sleep["idempotent"] is True

    code, page, err = await buf_curl(port, f"{SERVICE}/ListTools", {"page_size": 2})
    assert code == 0, err
    assert len(page["tools"]) == 2
    assert page["nextPageToken"]


async def test_execute_a_plan_and_read_its_status(port: int) -> None:
    plan_id, hi, again = (str(uuid.uuid4()) for _ in range(3))
    request = {
        "plan": {
            "id": plan_id,
            "name": "via-buf",
            "metadata": {"from": "buf"},
            "steps": [
                {
                    "id": hi,
                    "name": "hi",
                    "toolExecution": {"toolName": "echo", "arguments": {"msg": "hello", "n": 2}},
                },
                {
                    "id": again,
                    "name": "again",
                    "dependencies": ["hi"],
                    "toolExecution": {
                        "toolName": "echo",
                        "arguments": {
                            "echoed": "${steps.hi.output.msg}",
                            "n": "${steps.hi.output.n}",
                        },
                    },
                },
            ],
        },
        "options": {"maxConcurrentSteps": 1},
    }
    code, body, err = await buf_curl(port, f"{SERVICE}/ExecutePlan", request)
    assert code == 0, err
    result = body["result"]
    assert result["planId"] == plan_id
    assert result["status"] == "EXECUTION_STATUS_COMPLETED"
    assert result["metadata"] == {"from": "buf"}
    steps = result["stepResults"]
    assert [s["stepId"] for s in steps] == [hi, again]
    assert [s["status"] for s in steps] == ["STEP_STATUS_COMPLETED"] * 2
    assert steps[1]["output"] == {"echoed": "hello", "n": 2}
    assert result["resourceUsage"]["toolInvocations"] == "2"  # uint64 travels as a string

    code, status, err = await buf_curl(port, f"{SERVICE}/GetExecutionStatus", {"planId": plan_id})
    assert code == 0, err
    assert status["status"] == "EXECUTION_STATUS_COMPLETED"
    assert status["planName"] == "via-buf"
    assert status["progress"]["completedSteps"] == 2
    assert int(status["lastSequence"]) >= 7


async def test_errors_come_back_as_grpc_statuses(port: int) -> None:
    missing = str(uuid.uuid4())
    code, _, err = await buf_curl(port, f"{SERVICE}/GetExecutionStatus", {"planId": missing})
    assert code != 0
    assert "not_found" in err.lower() or "not found" in err.lower()
    assert missing in err

    code, _, err = await buf_curl(port, f"{SERVICE}/ExecutePlan", {"plan": {"id": "nope"}})
    assert code != 0
    assert "invalid_argument" in err.lower() or "invalid argument" in err.lower()


async def test_health_check(port: int) -> None:
    for service in ("", SERVICE):
        code, body, err = await buf_curl(port, "grpc.health.v1.Health/Check", {"service": service})
        assert code == 0, err
        assert body == {"status": "SERVING"}
