"""Fixtures of the integration tests: a real server on 127.0.0.1:0, driven over the wire
through the project's own client.

Every in-process server runs its executions on the test's event loop, under blockbuster:
a blocking call made on the loop by the server, the client or the test tools fails the test.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Helpers are imported as `tests.support`, the name mypy gives them; pytest's default
# import mode only puts tests/ itself on sys.path, so add the project root too.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from blockbuster import BlockBuster, blockbuster_ctx  # noqa: E402
from tests.support.tools import BadOutput, Crash, Gate, Record, Slow, make_registry  # noqa: E402

from executor_client import AsyncExecutorClient  # noqa: E402
from executor_server.app import Config, build_server  # noqa: E402
from executor_server.rpc.server import ExecutorServer  # noqa: E402
from executor_server.tools.registry import ToolRegistry  # noqa: E402


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def recorder() -> Record:
    return Record()


@pytest.fixture
def slow() -> Slow:
    return Slow()


@pytest.fixture
def tools(gate: Gate, recorder: Record, slow: Slow) -> ToolRegistry:
    """Built-ins (echo, sleep, fail) plus the test tools (gate, record, slow, bad_output,
    crash)."""
    return make_registry(gate, recorder, slow, BadOutput(), Crash())


@pytest.fixture
def store_kind() -> str:
    """Which store the server journals to; parametrize with `both_stores` to run both."""
    return "memory"


@pytest.fixture
def no_blocking() -> Iterator[BlockBuster]:
    with blockbuster_ctx() as bb:
        # grpc's aio layer joins its poller thread on the loop when the last channel or
        # server of the process goes away (often during garbage collection, in whatever test
        # runs next); that join is grpc's, not a blocking call of ours.
        for name in ("threading.Lock.acquire", "threading.Lock.acquire_lock"):
            bb.functions[name].can_block_in("threading.py", "_wait_for_tstate_lock")
        yield bb


@pytest.fixture
async def server(
    tmp_path: Path, tools: ToolRegistry, store_kind: str, no_blocking: BlockBuster
) -> AsyncIterator[ExecutorServer]:
    db_path = tmp_path / "x.db" if store_kind == "sqlite" else None
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, db_path=db_path)
    srv = await build_server(config, tools=tools)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(drain_seconds=0, grace_seconds=1)


@pytest.fixture
def port(server: ExecutorServer) -> int:
    assert server.port is not None
    return server.port


@pytest.fixture
async def client(port: int) -> AsyncIterator[AsyncExecutorClient]:
    async with AsyncExecutorClient(f"127.0.0.1:{port}", timeout=20.0) as c:
        yield c


@pytest.fixture(scope="session")
def executor_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`executor serve` as a child process, shared by the command-line tests; its address.
    http.request may reach loopback, for the local HTTP example."""
    from tests.support.cli import serving

    with serving(tmp_path_factory.mktemp("executor-serve"), "--http-allow", "127.0.0.1") as (
        address,
        _log,
    ):
        yield address
