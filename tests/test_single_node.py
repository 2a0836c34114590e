"""One server per journal and per port, tried as a user would: a second `executor serve`
on the same database or the same port refuses to start, says why, and leaves the first
one serving."""

from __future__ import annotations

from pathlib import Path

from tests.support.proc import ServerProcess, free_port

from executor_client import AsyncExecutorClient, plan, status_name, step


async def _still_serving(server: ServerProcess) -> None:
    async with AsyncExecutorClient(server.address, timeout=20.0) as client:
        result = await client.execute_plan(plan(step("echo", {"n": 1})))
        assert status_name(result.status) == "COMPLETED"


async def test_a_second_server_on_the_same_database_refuses_naming_the_file_and_holder(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "executor.db"
    first = ServerProcess(port=free_port(), data_dir=tmp_path / "data", log=tmp_path / "1.log")
    second = ServerProcess(port=free_port(), data_dir=tmp_path / "data", log=tmp_path / "2.log")
    try:
        await first.start()
        await first.wait_serving()
        await second.start()
        assert await second.wait_exit(within=30) == 1
        assert first.process is not None
        errors = [r for r in second.log_records() if r.get("event") == "cannot serve"]
        assert len(errors) == 1, second.log_text()
        message = errors[0]["error"]
        assert str(db) in message
        assert f"process {first.process.pid}" in message
        await _still_serving(first)
    finally:
        await second.kill()
        await first.kill()


async def test_a_database_is_free_again_once_its_server_is_killed(tmp_path: Path) -> None:
    first = ServerProcess(port=free_port(), data_dir=tmp_path, log=tmp_path / "1.log")
    second = ServerProcess(port=free_port(), data_dir=tmp_path, log=tmp_path / "2.log")
    try:
        await first.start()
        await first.wait_serving()
        await first.kill()  # SIGKILL: no clean-up ran, the kernel dropped the lock
        await second.start()
        await second.wait_serving()
        await _still_serving(second)
    finally:
        await second.kill()
        await first.kill()


async def test_a_second_server_on_the_same_port_refuses_and_the_first_keeps_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = ServerProcess(port=port, data_dir=tmp_path / "a", log=tmp_path / "1.log")
    second = ServerProcess(port=port, data_dir=tmp_path / "b", log=tmp_path / "2.log")
    try:
        await first.start()
        await first.wait_serving()
        await second.start()
        assert await second.wait_exit(within=30) == 1
        errors = [r for r in second.log_records() if r.get("event") == "cannot serve"]
        assert len(errors) == 1, second.log_text()
        assert f"cannot listen on 127.0.0.1:{port}" in errors[0]["error"]
        for _ in range(3):  # every connection reaches the first server, none a ghost
            await _still_serving(first)
    finally:
        await second.kill()
        await first.kill()
