"""A program in another language drives the server: the Go client in examples/go-client,
built from stubs generated from our proto, runs against the in-process server.

The Go build downloads its modules from the module proxy on first use; the module and build
caches (Go's defaults, under $HOME) make later runs take about a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import trustme
from tests.support.tools import make_registry

from executor_client import AsyncExecutorClient, output, status_name
from executor_server.engine.executor import Executor
from executor_server.rpc.server import ExecutorServer
from executor_server.rpc.tls import TlsMaterial
from executor_server.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "go-client"
BUF = ROOT / "node_modules" / ".bin" / "buf"
_DEFAULT_GO = Path("/usr/local/go/bin/go")
GO = shutil.which("go") or (str(_DEFAULT_GO) if _DEFAULT_GO.exists() else None)

if GO is None and not os.environ.get("CI"):
    pytest.skip(
        "`go` is not on PATH (Go >= 1.26 builds examples/go-client); it is required when CI is set",
        allow_module_level=True,
    )


async def run(
    *args: str, cwd: Path, time_limit: float, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Runs a command without blocking the loop: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(time_limit):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def build(tmp_path: Path) -> Path:
    """`go build` of the example (the module's go.sum pins every download)."""
    assert GO is not None, "`go` is required when CI is set"
    binary = tmp_path / "executor-go-client"
    code, out, err = await run(
        GO, "build", "-buildvcs=false", "-o", str(binary), ".", cwd=EXAMPLE, time_limit=240
    )
    assert code == 0, f"go build failed:\n{out}\n{err}"
    return binary


@pytest.mark.timeout(300)
async def test_go_client_drives_the_server(
    tmp_path: Path, port: int, client: AsyncExecutorClient
) -> None:
    binary = await build(tmp_path)
    code, out, err = await run(
        str(binary), "-addr", f"127.0.0.1:{port}", "-timeout", "30s", cwd=tmp_path, time_limit=45
    )
    assert code == 0, f"the Go client failed:\n{err}"
    summary: dict[str, Any] = json.loads(out)

    assert summary["health"] == "SERVING"
    assert "echo" in summary["tools"]
    assert summary["tools"] == sorted(summary["tools"])

    assert summary["plan_status"] == "EXECUTION_STATUS_COMPLETED"
    assert summary["final_status"] == "EXECUTION_STATUS_COMPLETED"
    assert summary["step_statuses"] == {
        "greet": "STEP_STATUS_COMPLETED",
        "shout": "STEP_STATUS_COMPLETED",
    }
    assert summary["step_outputs"] == {
        "greet": {"message": "hello from Go"},
        "shout": {"text": "hello from Go!"},
    }

    sequences = summary["event_sequences"]
    assert sequences == list(range(1, len(sequences) + 1)), sequences
    assert len(sequences) >= 7  # pending, running, 2 x (step running, completed), completed
    last = summary["events"][-1]
    assert last["sequence"] == sequences[-1] == summary["last_sequence"]
    assert last["type"] == "EXECUTION_EVENT_TYPE_EXECUTION_STATUS_CHANGED"
    assert last["status"] == "EXECUTION_STATUS_COMPLETED"
    assert all(e["status"] != "EXECUTION_STATUS_COMPLETED" for e in summary["events"][:-1])

    invalid = summary["invalid_plan"]
    assert invalid["code"] == "INVALID_ARGUMENT"
    assert invalid["code_number"] == 3
    assert invalid["reason"] == "INVALID_PLAN"
    assert "plan.steps" in [v["field"] for v in invalid["field_violations"]]

    # The Python client sees the execution the Go client ran.
    status = await client.get_execution_status(summary["plan_id"])
    assert status_name(status.status) == "COMPLETED"
    assert status.plan_name == "go-client-example"
    assert [output(s.output) for s in status.step_results] == [
        {"message": "hello from Go"},
        {"text": "hello from Go!"},
    ]


@pytest.mark.timeout(300)
async def test_generated_go_code_is_up_to_date() -> None:
    """gen/ is what the pinned plugins generate from proto/ (cheap once the plugins are in
    examples/go-client/.bin: one `buf generate` into a temporary directory)."""
    if not BUF.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BUF} is missing (run `make install`)")
        pytest.skip(f"{BUF} is missing (run `make install`); it is required when CI is set")
    assert GO is not None, "`go` is required when CI is set"
    # generate.sh runs `go install`: the same go as the build, found on PATH.
    env = {**os.environ, "PATH": f"{Path(GO).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    code, out, err = await run("./generate.sh", "--check", cwd=EXAMPLE, time_limit=240, env=env)
    assert code == 0, f"{out}\n{err}"


@pytest.mark.timeout(300)
async def test_go_client_speaks_mutual_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    tls = TlsMaterial(
        b"".join(p.bytes() for p in server_cert.cert_chain_pems),
        server_cert.private_key_pem.bytes(),
        client_ca=ca.cert_pem.bytes(),
    )
    executor = Executor(make_registry(), MemoryStore(), workspace_root=tmp_path / "ws")
    server = ExecutorServer(executor, MemoryStore(), address="127.0.0.1:0", tls=tls)
    port = await server.start()
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client_cert = ca.issue_cert("go-client@example.com", common_name="go-client")
    client_cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client_cert.private_key_pem.write_to_path(str(files["key"]))
    try:
        binary = await build(tmp_path)
        address = ("-addr", f"127.0.0.1:{port}", "-timeout", "30s")
        code, out, err = await run(
            str(binary),
            *address,
            "-tls-ca", str(files["ca"]),
            "-tls-cert", str(files["cert"]),
            "-tls-key", str(files["key"]),
            cwd=tmp_path,
            time_limit=45,
        )  # fmt: skip
        assert code == 0, f"the Go client failed:\n{err}"
        summary = json.loads(out)
        assert summary["final_status"] == "EXECUTION_STATUS_COMPLETED"
        assert summary["events"][0]["actor"] == "go-client"
        # Without its certificate the handshake fails.
        code, _, err = await run(
            str(binary), *address, "-tls-ca", str(files["ca"]), cwd=tmp_path, time_limit=45
        )
        assert code != 0
    finally:
        await server.stop(grace_seconds=1)
