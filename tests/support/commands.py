"""Running the project's other programs (example clients, grpcurl, ghz) from async tests."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


async def run(
    *args: str, cwd: Path = ROOT, time_limit: float, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Runs a command without blocking the loop: (exit code, stdout, stderr). Killed, and the
    test failed, if it outlives `time_limit` seconds."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
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


def find(tool: str | Path) -> str | None:
    """The path of `tool`: a name on PATH, or a path relative to the repository. Blocking:
    call it at import time, not on the event loop."""
    if isinstance(tool, Path):
        return str(ROOT / tool) if (ROOT / tool).exists() else None
    return shutil.which(tool)


def need(found: str | None, what: str) -> str:
    """`found` (from find()); a missing tool skips the test, except in CI, where every tool
    is required."""
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing; it is required when CI is set")
        pytest.skip(f"{what} is missing")
    return found
