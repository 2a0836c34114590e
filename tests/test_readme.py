"""The README's snippets run as written: every Python block, and the command-line
walkthrough's shell blocks, against a real server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from tests.support.cli import cli_env
from tests.support.proc import ROOT

pytestmark = pytest.mark.timeout(120)

README = (ROOT / "README.md").read_text(encoding="utf-8")
# The address the snippets use; the test's server listens elsewhere.
WRITTEN_ADDRESS = "127.0.0.1:50051"


def _blocks(language: str, text: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


PYTHON = _blocks("python", README)
COMMAND_LINE = _blocks("sh", _section("The command line"))


@pytest.fixture
def server(executor_serve: str) -> str:
    return executor_serve


def test_there_are_snippets_to_run() -> None:
    assert len(PYTHON) >= 2 and len(COMMAND_LINE) >= 2


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_snippet(code: str, server: str, tmp_path: Path) -> None:
    assert "..." not in code and "{...}" not in code
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(WRITTEN_ADDRESS, server), encoding="utf-8")
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=cli_env(None),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", COMMAND_LINE, ids=[f"sh-{i}" for i in range(len(COMMAND_LINE))])
def test_command_line_snippet(script: str, server: str) -> None:
    env = cli_env(server)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
