"""Secrets that plans never see: `${secrets.NAME}` resolves only for the tool, and its value
appears nowhere a client, the journal file or the log could show it; `writeOnly` arguments
are masked the same way."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import ServerProcess, free_port, wait_until
from tests.support.tools import make_registry

from executor_client import (
    AsyncExecutorClient,
    InvalidArgumentError,
    approval,
    executor_pb2,
    output,
    plan,
    status_name,
    step,
)
from executor_server.app import Config, build_server
from executor_server.cli import configure_logging
from executor_server.engine.secrets import Secrets
from executor_server.rpc.server import ExecutorServer
from executor_server.tools.protocol import ToolContext, ToolError, ToolSpec

API_KEY = "sk-live-4f9a8b7c6d5e"
DB_PASSWORD = "hunter2-but-longer"
PASSWORD = "pa55w0rd-only-for-the-tool"


class Login:
    """Says what it got, password included: exactly what must not reach anyone."""

    spec = ToolSpec(
        name="login",
        description="Logs in.",
        input_schema={
            "type": "object",
            "properties": {
                "user": {"type": "string"},
                "password": {"type": "string", "writeOnly": True},
                "fail": {"type": "boolean"},
            },
            "required": ["user", "password"],
        },
    )

    async def invoke(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        if arguments.get("fail"):
            raise ToolError(f"login failed for {arguments['user']}:{arguments['password']}")
        return {"said": f"{arguments['user']}:{arguments['password']}"}


class Measure:
    """Tells how long its `value` is: which value it got, without showing it."""

    spec = ToolSpec(
        name="measure",
        description="Measures.",
        input_schema={"type": "object", "properties": {"value": {"type": "string"}}},
    )

    async def invoke(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        return {"length": len(arguments["value"])}


def _read_all(directory: Path, pattern: str) -> bytes:
    """The database with its WAL and shared-memory files."""
    return b"".join(f.read_bytes() for f in directory.glob(pattern))


def _leaks(blob: bytes) -> list[str]:
    return [s for s in (API_KEY, DB_PASSWORD, PASSWORD) if s.encode() in blob]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ExecutorServer]:
    secrets = Secrets({"api_key": API_KEY, "DB_PASSWORD": DB_PASSWORD})
    config = Config(
        address="127.0.0.1:0", data_dir=tmp_path, db_path=tmp_path / "x.db", secrets=secrets
    )
    srv = await build_server(config, tools=make_registry(Login(), Measure()))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(grace_seconds=1)


async def test_secrets_reach_the_tool_and_nothing_else(
    server: ExecutorServer, tmp_path: Path
) -> None:
    async with AsyncExecutorClient(f"127.0.0.1:{server.port}") as client:
        use = step(
            "login",
            {"user": "${secrets.DB_PASSWORD}", "password": "${secrets.api_key}"},
            name="use",
        )
        shout = step(
            "echo",
            {"header": "Bearer ${secrets.api_key}", "seen": "${steps.use.output.said}"},
            name="shout",
            depends_on=[use],
        )
        fail = step("fail", {"message": "rejected key ${secrets.api_key}"}, depends_on=[shout])
        p = plan(use, shout, fail)
        result = await client.execute_plan(p)
        assert status_name(result.status) == "FAILED"
        # The tool got the values (they are masked where they reappear).
        assert output(result.step_results[0].output) == {"said": "***:***"}
        assert output(result.step_results[1].output) == {"header": "Bearer ***", "seen": "***:***"}
        assert result.step_results[2].error == "rejected key ***"
        events = [e async for e in client.watch(p.id)]
        status = await client.get_execution_status(p.id)
        answers = b"".join(m.SerializeToString() for m in [result, status, *events])
    assert _leaks(answers) == []
    await server.stop(grace_seconds=1)  # everything on disk
    journal = await asyncio.to_thread(_read_all, tmp_path, "x.db*")
    assert b"${secrets.api_key}" in journal  # the journal keeps the reference
    assert _leaks(journal) == []


async def test_an_unknown_secret_is_refused_at_submission(server: ExecutorServer) -> None:
    async with AsyncExecutorClient(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(InvalidArgumentError) as caught:
            await client.execute_plan(plan(step("echo", {"x": "${secrets.nope}"})))
    assert caught.value.reason == "UNKNOWN_SECRET"
    assert [(v.field, v.description) for v in caught.value.field_violations] == [
        ("plan.steps[0].tool_execution.arguments", "unknown secret 'nope'")
    ]


async def test_write_only_arguments_are_masked_in_what_the_server_returns(
    server: ExecutorServer, tmp_path: Path
) -> None:
    async with AsyncExecutorClient(f"127.0.0.1:{server.port}") as client:
        ok = step("login", {"user": "ann", "password": PASSWORD})
        p = plan(ok)
        result = await client.execute_plan(p)
        assert output(result.step_results[0].output) == {"said": "ann:***"}
        failing = plan(step("login", {"user": "ann", "password": PASSWORD, "fail": True}))
        failed = await client.execute_plan(failing)
        assert failed.step_results[0].error == "login failed for ann:***"
        answer = await client.execute_step(step("login", {"user": "bo", "password": PASSWORD}))
        one = answer.result
        assert output(one.output) == {"said": "bo:***"}
        events = [e async for e in client.watch(p.id)] + [e async for e in client.watch(failing.id)]
        for m in [result, failed, one, *events]:
            assert _leaks(m.SerializeToString()) == [], m


def test_secrets_load_from_a_directory_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "api_key").write_text(API_KEY + "\n")
    (tmp_path / "..data").mkdir()  # Kubernetes' own entries are skipped
    monkeypatch.setenv("DB_PASSWORD", DB_PASSWORD)
    secrets = Secrets.load(tmp_path, ["DB_PASSWORD"])
    assert secrets.names == {"api_key", "DB_PASSWORD"}
    assert secrets.resolve({"a": ["${secrets.api_key}!"]}) == {"a": [API_KEY + "!"]}
    with pytest.raises(ValueError, match="no such environment variable"):
        Secrets.load(None, ["NOT_SET_ANYWHERE_42"])
    with pytest.raises(ValueError, match="shorter than 4"):
        Secrets({"pin": "123"})


def test_the_log_masks_every_secret(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("info", "json", Secrets({"api_key": API_KEY}))
        logging.getLogger("executor_server.test").error(
            "saw %s", API_KEY, extra={"detail": {"key": API_KEY}, "plain": f"x{API_KEY}y"}
        )
        for handler in root.handlers:
            handler.flush()
    finally:
        root.handlers[:], root.level = handlers, level
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert API_KEY not in line
    assert record["plain"] == "x***y" and record["detail"] == {"key": "***"}


async def test_the_served_process_keeps_secrets_out_of_its_log_and_journal(
    tmp_path: Path,
) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "api_key").write_text(API_KEY)
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "log",
        extra=("--secrets-dir", str(secrets_dir), "--log-level", "debug"),
    )
    rotated = "sk-live-rotated-0123456789"
    try:
        await server.start()
        await server.wait_serving()
        async with AsyncExecutorClient(server.address) as client:
            p = plan(
                step("echo", {"k": "${secrets.api_key}"}),
                step("fail", {"message": "${secrets.api_key}"}),
            )
            result = await client.execute_plan(p)
            assert output(result.step_results[0].output) == {"k": "***"}
            assert server.process is not None
            # SIGHUP re-reads the directory; a value too short to mask is not taken.
            (secrets_dir / "api_key").write_text("abc")
            server.process.send_signal(signal.SIGHUP)
            await wait_until(lambda: "secrets not reloaded" in server.log_text())
            (secrets_dir / "api_key").write_text(rotated)
            server.process.send_signal(signal.SIGHUP)
            await wait_until(lambda: "secrets reloaded" in server.log_text())
            again = plan(step("echo", {"k": "${secrets.api_key}"}))
            result = await client.execute_plan(again)
            assert output(result.step_results[0].output) == {"k": "***"}
        server.process.terminate()
        await server.wait_exit(30)
    finally:
        await server.kill()
    assert _leaks(server.log.read_bytes()) == []
    assert rotated.encode() not in server.log.read_bytes()
    journal = await asyncio.to_thread(_read_all, tmp_path, "executor.db*")
    assert journal and _leaks(journal) == [] and rotated.encode() not in journal


async def test_replaced_secrets_resolve_from_then_on_and_the_old_values_stay_masked(
    server: ExecutorServer,
) -> None:
    rotated = "sk-live-rotated-0123456789"
    async with AsyncExecutorClient(f"127.0.0.1:{server.port}") as client:
        measure = plan(step("measure", {"value": "${secrets.api_key}"}))
        result = await client.execute_plan(measure)
        assert output(result.step_results[0].output) == {"length": len(API_KEY)}

        server.executor.secrets.replace(Secrets({"api_key": rotated}))  # what SIGHUP does
        result = await client.execute_plan(plan(step("measure", {"value": "${secrets.api_key}"})))
        assert output(result.step_results[0].output) == {"length": len(rotated)}
        echoed = await client.execute_plan(plan(step("echo", {"old": API_KEY, "new": rotated})))
        assert output(echoed.step_results[0].output) == {"old": "***", "new": "***"}
        with pytest.raises(InvalidArgumentError, match="unknown secret 'DB_PASSWORD'"):
            await client.execute_plan(plan(step("echo", {"x": "${secrets.DB_PASSWORD}"})))


async def test_a_gate_shows_no_secret_and_a_decision_cannot_carry_one(
    server: ExecutorServer, tmp_path: Path
) -> None:
    async with AsyncExecutorClient(f"127.0.0.1:{server.port}") as client:
        use = step(
            "login",
            {"user": "ops", "password": "${secrets.api_key}"},
            name="use",
            approval=approval("log in as ops?", allow_edit=True),
        )
        p = plan(use)
        await client.execute_plan(p, detach=True)
        async for event in client.watch(p.id):
            if event.step_status == executor_pb2.STEP_STATUS_WAITING:
                break
        (gate,) = await client.list_approvals(p.id)
        assert output(gate.arguments) == {"user": "ops", "password": "${secrets.api_key}"}
        with pytest.raises(InvalidArgumentError) as refused:
            await client.approve_step(p.id, "use", arguments={"user": "x", "password": PASSWORD})
        assert "write-only" in refused.value.field_violations[0].description
        await client.approve_step(p.id, "use")
        final = await client.wait(p.id, timeout=20)
        assert final.status == executor_pb2.EXECUTION_STATUS_COMPLETED
    assert _leaks(_read_all(tmp_path, "x.db*")) == []
