"""file.read / file.write / file.delete / file.list through a real server, on real files:
confinement to the workspace, self-compensation through a real rollback, disk budget."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.support.events import error_type_name, result_by_id
from tests.support.tools import make_registry

from executor_client import AsyncExecutorClient, executor_pb2, output, plan, status_name, step
from executor_server.tools.files import FileDelete, FileList, FileRead, FileWrite
from executor_server.tools.registry import ToolRegistry

pb = executor_pb2


@pytest.fixture
def tools() -> ToolRegistry:
    return make_registry(FileRead(), FileWrite(), FileDelete(), FileList())


def workspace(tmp_path: Path, plan_id: str) -> Path:
    return tmp_path / "workspaces" / plan_id


async def run(
    client: AsyncExecutorClient, *steps: pb.ActionStep, **options: Any
) -> pb.ExecutionResult:
    p = plan(*steps)
    return await client.execute_plan(p, pb.ExecutionOptions(**options) if options else None)


async def run_one(client: AsyncExecutorClient, tool: str, arguments: dict[str, Any]) -> Any:
    """Output of a single step that must complete."""
    result = await run(client, step(tool, arguments))
    assert status_name(result.status) == "COMPLETED", result.error.message
    return output(result.step_results[0].output)


async def fail_one(client: AsyncExecutorClient, tool: str, arguments: dict[str, Any]) -> str:
    """Error message of a single step that must fail with a non-retryable TOOL_FAILED."""
    result = await run(client, step(tool, arguments))
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TOOL_FAILED", result.error.message
    assert not result.error.retryable
    return result.error.message


async def test_write_read_list_delete_round_trip(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    write = step("file.write", {"path": "out/a.txt", "content": "héllo\n"}, name="w")
    append = step(
        "file.write",
        {"path": "out/a.txt", "content": "again\n", "mode": "append"},
        name="app",
        depends_on=[write],
    )
    binary = step(
        "file.write",
        {"path": "b.bin", "content": base64.b64encode(b"\x00\xff").decode(), "encoding": "base64"},
        name="bin",
    )
    read = step("file.read", {"path": "out/a.txt"}, name="r", depends_on=[append])
    read_bin = step(
        "file.read", {"path": "b.bin", "encoding": "base64"}, name="rb", depends_on=[binary]
    )
    listing = step("file.list", {"recursive": True}, name="ls", depends_on=[read, read_bin])
    p = plan(write, append, binary, read, read_bin, listing)
    result = await client.execute_plan(p)
    assert status_name(result.status) == "COMPLETED", result.error.message
    out = {r.step_name: output(r.output) for r in result.step_results}

    assert out["w"] == {"path": "out/a.txt", "bytes_written": 7, "size": 7, "created": True}
    assert out["app"] == {"path": "out/a.txt", "bytes_written": 6, "size": 13, "created": False}
    assert out["r"]["content"] == "héllo\nagain\n"
    assert out["r"]["truncated"] is False
    assert base64.b64decode(out["rb"]["content"]) == b"\x00\xff"
    # The reserved undo area is not listed; the files are, with their sizes.
    assert out["ls"]["entries"] == [
        {"path": "b.bin", "type": "file", "size": 2},
        {"path": "out", "type": "directory", "size": 0},
        {"path": "out/a.txt", "type": "file", "size": 13},
    ]
    ws = workspace(tmp_path, p.id)
    assert await asyncio.to_thread((ws / "out" / "a.txt").read_bytes) == "héllo\nagain\n".encode()
    assert result.resource_usage.disk_writes == 3
    assert result.resource_usage.disk_reads == 3

    delete = step("file.delete", {"path": "out", "recursive": True}, name="rm")
    gone = step("file.list", {}, name="ls", depends_on=[delete])
    # A new plan has a new workspace: write first, then delete in the same plan.
    w2 = step("file.write", {"path": "out/x", "content": "x"}, name="w2")
    delete.dependencies.append(w2.id)
    result = await client.execute_plan(plan(w2, delete, gone))
    assert status_name(result.status) == "COMPLETED", result.error.message
    out = {r.step_name: output(r.output) for r in result.step_results}
    assert out["rm"] == {"path": "out", "deleted": True, "type": "directory"}
    assert out["ls"]["entries"] == []


async def test_read_truncates_and_create_mode_refuses_existing(
    client: AsyncExecutorClient,
) -> None:
    w = step("file.write", {"path": "big.txt", "content": "0123456789"}, name="w")
    r = step("file.read", {"path": "big.txt", "max_bytes": 4}, name="r", depends_on=[w])
    again = step(
        "file.write", {"path": "big.txt", "content": "x", "mode": "create"}, depends_on=[r]
    )
    result = await client.execute_plan(plan(w, r, again))
    assert status_name(result.status) == "FAILED"
    assert output(result.step_results[1].output) == {
        "path": "big.txt",
        "content": "0123",
        "encoding": "text",
        "size": 10,
        "truncated": True,
    }
    assert "already exists" in result.step_results[2].error
    assert error_type_name(result.step_results[2].error_type) == "TOOL_FAILED"


@pytest.mark.parametrize(
    ("tool", "path", "expected"),
    [
        ("file.read", "../outside.txt", "escapes the workspace"),
        ("file.read", "a/../../outside.txt", "escapes the workspace"),
        ("file.read", "/etc/passwd", "is absolute"),
        ("file.write", "/tmp/evil", "is absolute"),
        ("file.write", "../evil", "escapes the workspace"),
        ("file.delete", "../outside.txt", "escapes the workspace"),
        ("file.list", "..", "escapes the workspace"),
        ("file.write", ".executor/undo/x", "reserved"),
    ],
)
async def test_escapes_are_refused(
    client: AsyncExecutorClient, tmp_path: Path, tool: str, path: str, expected: str
) -> None:
    outside = tmp_path / "outside.txt"
    await asyncio.to_thread(outside.write_text, "secret")
    arguments: dict[str, Any] = {"path": path}
    if tool == "file.write":
        arguments["content"] = "pwned"
    message = await fail_one(client, tool, arguments)
    assert expected in message
    assert await asyncio.to_thread(outside.read_text) == "secret"


async def test_symlinks_out_of_the_workspace_are_refused(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    secret_dir = tmp_path / "secret"
    await asyncio.to_thread(secret_dir.mkdir)
    await asyncio.to_thread((secret_dir / "key").write_text, "secret")
    p_id = str(uuid.uuid4())
    ws = workspace(tmp_path, p_id)
    await asyncio.to_thread(ws.mkdir, parents=True)
    # Planted inside the workspace, as a command could: a file link and a directory link.
    await asyncio.to_thread(os.symlink, secret_dir / "key", ws / "link")
    await asyncio.to_thread(os.symlink, secret_dir, ws / "dirlink")

    steps = [
        step("file.read", {"path": "link"}, name="read_link"),
        step("file.read", {"path": "dirlink/key"}, name="read_through_dir"),
        step("file.write", {"path": "link", "content": "x"}, name="write_link"),
        step("file.write", {"path": "dirlink/new", "content": "x"}, name="write_through_dir"),
        step("file.list", {"path": "dirlink"}, name="list_through_dir"),
        step("file.list", {}, name="list_root"),
    ]
    p = plan(*steps, id=p_id)
    result = await client.execute_plan(p, pb.ExecutionOptions(continue_on_failure=True))
    by_name = {r.step_name: r for r in result.step_results}
    for name in ["read_link", "read_through_dir", "write_link", "write_through_dir"]:
        assert "symlink" in by_name[name].error, (name, by_name[name].error)
    assert "symlink" in by_name["list_through_dir"].error
    # Listing shows the links as links; nothing outside was touched.
    assert output(by_name["list_root"].output)["entries"] == [
        {"path": "dirlink", "type": "symlink", "size": 0},
        {"path": "link", "type": "symlink", "size": 0},
    ]
    assert await asyncio.to_thread((secret_dir / "key").read_text) == "secret"
    assert await asyncio.to_thread(lambda: sorted(os.listdir(secret_dir))) == ["key"]

    # Deleting the link removes the link, not its target.
    result = await client.execute_plan(plan(step("file.delete", {"path": "link"})), None)
    assert status_name(result.status) == "FAILED"  # a new plan: its workspace is empty


async def test_rollback_restores_previous_content_and_deletes_new_files(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    seed = step("file.write", {"path": "config.txt", "content": "v1"}, name="seed")
    seed_plan = plan(seed)
    first = await client.execute_plan(seed_plan)
    assert status_name(first.status) == "COMPLETED"

    # A second plan cannot see the first's workspace, so overwrite-and-undo runs in one
    # plan: v1 written, then v2 over it, then a new file, then a failure that rolls back
    # the last two (auto_rollback compensates every completed step, in reverse order).
    v1 = step("file.write", {"path": "config.txt", "content": "v1"}, name="v1")
    v2 = step("file.write", {"path": "config.txt", "content": "v2"}, name="v2", depends_on=[v1])
    new = step("file.write", {"path": "d/new.txt", "content": "n"}, name="new", depends_on=[v2])
    big = step(
        "file.write",
        {"path": "config.txt", "content": "more", "mode": "append"},
        name="append",
        depends_on=[new],
    )
    boom = step("fail", {"retryable": False}, name="boom", depends_on=[big])
    p = plan(v1, v2, new, big, boom)
    result = await client.execute_plan(p, pb.ExecutionOptions(auto_rollback=True))
    assert status_name(result.status) == "ROLLED_BACK", result.error.message
    ws = workspace(tmp_path, p.id)
    # Everything the plan wrote is undone: the file v1 created is gone again too.
    assert not await asyncio.to_thread((ws / "config.txt").exists)
    assert not await asyncio.to_thread((ws / "d" / "new.txt").exists)
    actions = {
        r.step_name: output(r.compensation.output)["action"]
        for r in result.step_results
        if r.step_name != "boom"
    }
    assert actions == {"v1": "deleted", "v2": "restored", "new": "deleted", "append": "restored"}
    # The undo area is cleaned up.
    assert await asyncio.to_thread(lambda: os.listdir(ws / ".executor" / "undo")) == []


async def test_rollback_undoes_each_element_of_a_fan_out_of_writes(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    """Each element keeps its own undo record: the file one element overwrote comes back,
    the file another created goes."""
    p_id = str(uuid.uuid4())
    ws = workspace(tmp_path, p_id)
    await asyncio.to_thread(ws.mkdir, parents=True)
    await asyncio.to_thread((ws / "kept.txt").write_text, "original")
    paths = step("echo", {"paths": ["new.txt", "kept.txt"]}, name="paths")
    writes = step(
        "file.write",
        {"path": "${item}", "content": "changed"},
        name="writes",
        depends_on=[paths],
        for_each="${steps.paths.output.paths}",
        max_parallel=1,
    )
    boom = step("fail", {"retryable": False}, name="boom", depends_on=[writes])
    result = await client.execute_plan(
        plan(paths, writes, boom, id=p_id), pb.ExecutionOptions(auto_rollback=True)
    )
    assert status_name(result.status) == "ROLLED_BACK", result.error.message
    assert not await asyncio.to_thread((ws / "new.txt").exists)
    assert await asyncio.to_thread((ws / "kept.txt").read_text) == "original"
    assert await asyncio.to_thread(lambda: os.listdir(ws / ".executor" / "undo")) == []


async def test_rollback_by_request_restores_overwritten_content(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    p_id = str(uuid.uuid4())
    ws = workspace(tmp_path, p_id)
    await asyncio.to_thread(ws.mkdir, parents=True)
    await asyncio.to_thread((ws / "notes.txt").write_text, "original")
    w = step("file.write", {"path": "notes.txt", "content": "changed"}, name="w")
    boom = step("fail", {"retryable": False}, name="boom", depends_on=[w])
    result = await client.execute_plan(plan(w, boom, id=p_id))
    assert status_name(result.status) == "FAILED"
    assert output(result.step_results[0].output)["created"] is False
    assert await asyncio.to_thread((ws / "notes.txt").read_text) == "changed"

    status = await client.rollback_execution(p_id)
    assert pb.ExecutionStatus.Name(status) == "EXECUTION_STATUS_ROLLED_BACK"
    assert await asyncio.to_thread((ws / "notes.txt").read_text) == "original"


async def test_disk_budget_is_enforced(client: AsyncExecutorClient, tmp_path: Path) -> None:
    mib = "x" * (1024 * 1024)
    a = step("file.write", {"path": "a", "content": mib}, name="a")
    b = step("file.write", {"path": "b", "content": mib}, name="b", depends_on=[a])
    p = plan(a, b)
    limits = pb.ResourceLimits(max_disk_space_mb=1)
    result = await client.execute_plan(p, pb.ExecutionOptions(resource_limits=limits))
    assert status_name(result.status) == "FAILED"
    by_id = result_by_id(result.step_results)
    assert status_name(result.status) == "FAILED"
    assert error_type_name(by_id[b.id].error_type) == "RESOURCE_EXHAUSTED"
    assert "max_disk_space_mb" in by_id[b.id].error
    # The refused write wrote nothing.
    assert not await asyncio.to_thread((workspace(tmp_path, p.id) / "b").exists)


async def test_refusals_for_missing_and_wrong_kinds(client: AsyncExecutorClient) -> None:
    assert "workspace is empty" in await fail_one(client, "file.read", {"path": "nope"})
    w = step("file.write", {"path": "dir/f", "content": "x"}, name="w")
    cases = [
        step("file.read", {"path": "dir"}, name="read_dir", depends_on=[w]),
        step("file.read", {"path": "missing"}, name="read_missing", depends_on=[w]),
        step("file.delete", {"path": "dir"}, name="rmdir_full", depends_on=[w]),
        step("file.delete", {"path": "x", "missing_ok": True}, name="rm_ok", depends_on=[w]),
        step("file.write", {"path": "dir", "content": "x"}, name="write_dir", depends_on=[w]),
        step("file.list", {"path": "dir/f"}, name="list_file", depends_on=[w]),
    ]
    result = await client.execute_plan(
        plan(w, *cases), pb.ExecutionOptions(continue_on_failure=True)
    )
    by_name = {r.step_name: r for r in result.step_results}
    assert "not a file" in by_name["read_dir"].error
    assert "no such file" in by_name["read_missing"].error
    assert "not empty" in by_name["rmdir_full"].error
    assert output(by_name["rm_ok"].output) == {"path": "x", "deleted": False, "type": "missing"}
    assert "not a file" in by_name["write_dir"].error
    assert "not a directory" in by_name["list_file"].error


async def test_arguments_are_validated_at_submission(client: AsyncExecutorClient) -> None:
    from executor_client import InvalidArgumentError

    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(plan(step("file.write", {"path": "a", "contents": "typo"})))
    assert "contents" in str(caught.value) or "content" in str(caught.value)


# ---------------------------------------------------------------- found by outside probing


@pytest.mark.parametrize("plan_id", ["/tmp/x", "/../../tmp/x", "a/../../x", "..", "x" * 300])
async def test_execute_step_cannot_choose_a_workspace_outside_the_root(
    client: AsyncExecutorClient, tmp_path: Path, plan_id: str
) -> None:
    from executor_client import InvalidArgumentError

    s = step("file.write", {"path": "planted.txt", "content": "x"})
    with pytest.raises(InvalidArgumentError) as refused:
        await client.execute_step(s, pb.ExecutionContext(plan_id=plan_id))
    assert [v.field for v in refused.value.field_violations] == ["context.plan_id"]
    planted = await asyncio.to_thread(
        lambda: [*tmp_path.rglob("planted.txt"), *Path("/tmp/x").glob("planted.txt")]
    )
    assert planted == []


async def test_execute_step_with_a_plan_id_writes_in_that_plans_workspace(
    client: AsyncExecutorClient, tmp_path: Path
) -> None:
    plan_id = str(uuid.uuid4())
    s = step("file.write", {"path": "here.txt", "content": "x"})
    response = await client.execute_step(s, pb.ExecutionContext(plan_id=plan_id))
    assert response.result.status == pb.STEP_STATUS_COMPLETED
    written = workspace(tmp_path, plan_id) / "here.txt"
    assert await asyncio.to_thread(written.read_text) == "x"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("file.read", {"path": "link.txt"}),
        ("file.write", {"path": "link.txt", "content": "pwned", "mode": "append"}),
        ("file.write", {"path": "link.txt", "content": "pwned"}),
    ],
)
async def test_a_hard_link_to_an_outside_file_is_neither_read_nor_written(
    client: AsyncExecutorClient, tmp_path: Path, tool: str, arguments: dict[str, Any]
) -> None:
    outside = tmp_path / "outside.txt"
    await asyncio.to_thread(outside.write_text, "secret\n")
    plan_id = str(uuid.uuid4())
    ws = workspace(tmp_path, plan_id)
    await asyncio.to_thread(ws.mkdir, parents=True)
    await asyncio.to_thread(os.link, outside, ws / "link.txt")  # as a command.run step could
    result = await client.execute_plan(plan(step(tool, arguments), id=plan_id))
    assert status_name(result.status) == "FAILED"
    assert "hard link" in result.error.message
    assert "secret" not in result.error.message
    assert await asyncio.to_thread(outside.read_text) == "secret\n"
    undo_copies = await asyncio.to_thread(lambda: list((ws / ".executor").rglob("content")))
    assert undo_copies == []  # no copy of it for a rollback to bring in either
