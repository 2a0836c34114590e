"""Installed like a user installs it: `uv build` wheels into fresh virtual environments
(no repository, no dev tools), then `executor serve` from one and `executor run` from both,
the client-only one included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.cli import EXAMPLES, executor, serving
from tests.support.proc import ROOT

pytestmark = pytest.mark.timeout(300)

UV = ROOT / ".tools" / "bin" / "uv"


def _uv(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(UV), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env=_env(),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _env() -> dict[str, str]:
    """The machine's settings (certificates, the package index), none of this checkout's."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def _venv(where: Path, *wheels: Path, constraints: Path) -> Path:
    _uv("venv", "--quiet", "--python", sys.executable, where, cwd=where.parent)
    python = where / "bin" / "python"
    _uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "-c",
        constraints,
        *wheels,
        cwd=where.parent,
    )
    return where / "bin" / "executor"


def test_wheels_install_and_run_without_the_repository(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _uv("build", "--all-packages", "--wheel", "--quiet", "--out-dir", dist, cwd=ROOT)
    wheels = {w.name.split("-")[0]: w for w in dist.glob("*.whl")}
    assert set(wheels) == {"executor", "executor_client", "executor_example_tools"}
    # The same versions as the lock file, nothing else: runtime dependencies only.
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(
        _uv("export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-hashes", cwd=ROOT)
    )
    server_bin = _venv(
        tmp_path / "server-env",
        wheels["executor"],
        wheels["executor_client"],
        wheels["executor_example_tools"],
        constraints=constraints,
    )
    client_bin = _venv(tmp_path / "client-env", wheels["executor_client"], constraints=constraints)
    assert not (tmp_path / "client-env" / "bin" / "pytest").exists()

    version = executor("--version", server=None, executable=client_bin)
    assert version.code == 0 and "0.1.0" in version.stdout
    no_server = executor("serve", server=None, executable=client_bin)
    assert no_server.code == 2 and "comes with the server package" in no_server.stderr

    plan = tmp_path / "hello.yaml"
    plan.write_text("name: hello\nsteps:\n  - {name: greet, tool: echo, arguments: {hi: 1}}\n")
    with serving(tmp_path / "data", executable=server_bin) as (address, _log):
        remote = executor("run", plan, server=address, executable=client_bin)
        assert remote.code == 0, remote.stdout + remote.stderr
        assert "(hello): COMPLETED" in remote.stdout
        # The example plugin, installed beside the server from its wheel, is offered.
        local = executor(
            "run", EXAMPLES / "fan-out-files.yaml", server=address, executable=server_bin
        )
        assert local.code == 0, local.stdout + local.stderr
        assert '"words":15' in local.stdout
