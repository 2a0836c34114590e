"""`executor run` on a terminal: the live view under a pseudo-terminal, and Ctrl-C."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pexpect
import pytest
from tests.support.cli import EXAMPLES, cli_env, executor, status_of
from tests.support.proc import EXECUTOR

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def server(executor_serve: str) -> str:
    return executor_serve


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """`executor ARGS` on a pseudo-terminal; `expect` reads its screen as text, without the
    escape sequences that style it and redraw it in place."""

    def __init__(self, server: str, *args: str) -> None:
        env = cli_env(server, TERM="xterm-256color", COLUMNS="120", LINES="40")
        self.child = pexpect.spawn(
            str(EXECUTOR), list(args), env=env, dimensions=(40, 120), encoding="utf-8"
        )
        self.text = ""
        self.position = 0

    def expect(self, pattern: str, within: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + within
        while True:
            match = re.compile(pattern).search(self.text, self.position)
            if match:
                self.position = match.end()
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on the screen:\n{self.text[-3000:]}")
            try:
                chunk = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                if not re.compile(pattern).search(self.text, self.position):
                    raise AssertionError(f"{pattern!r} never shown:\n{self.text[-3000:]}") from None
                continue
            self.text += _CONTROL.sub("", chunk)

    def exit_code(self) -> int:
        self.child.expect(pexpect.EOF, timeout=20)
        self.child.close()
        code = self.child.exitstatus
        assert code is not None
        return code

    def close(self) -> None:
        if self.child.isalive():
            self.child.close(force=True)


def _quick_long_job(tmp_path: Path) -> Path:
    plan = tmp_path / "long-job.yaml"
    plan.write_text((EXAMPLES / "long-job.yaml").read_text().replace("seconds: 10", "seconds: 1"))
    return plan


def test_live_view_shows_rows_and_progress_then_the_result(server: str, tmp_path: Path) -> None:
    term = Terminal(server, "run", str(_quick_long_job(tmp_path)))
    try:
        plan_id = term.expect(r"nightly\s+([0-9a-f-]{36})").group(1)
        term.expect(r"extract\s+RUNNING\s+1\s+\d")  # a row: step, status, attempt, elapsed
        term.expect(r"━*─{40} 0/3 steps RUNNING")
        term.expect(r"extract\s+COMPLETED\s+1\s+1\.\ds")
        term.expect(r"transform\s+RUNNING")
        term.expect(r"━{13}─{27} 1/3 steps RUNNING")
        term.expect(r"━{40} 3/3 steps COMPLETED")
        term.expect(r"\(nightly\): COMPLETED")
        code = term.exit_code()
    finally:
        term.close()
    assert code == 0
    assert status_of(plan_id, server)["status"] == "EXECUTION_STATUS_COMPLETED"


def test_ctrl_c_then_cancel_cancels_the_execution(server: str) -> None:
    term = Terminal(server, "run", str(EXAMPLES / "long-job.yaml"))
    try:
        plan_id = term.expect(r"nightly\s+([0-9a-f-]{36})").group(1)
        term.expect(r"extract\s+RUNNING")
        term.child.sendintr()
        term.expect(r"detach .*cancel the execution.*\[d/c/w\]")
        term.child.sendline("c")
        term.expect(r"extract\s+CANCELLED")
        term.expect(r"\(nightly\): CANCELLED")
        code = term.exit_code()
    finally:
        term.close()
    assert code == 1
    assert status_of(plan_id, server)["status"] == "EXECUTION_STATUS_CANCELLED"


def test_ctrl_c_then_detach_leaves_it_running(server: str) -> None:
    term = Terminal(server, "run", str(EXAMPLES / "long-job.yaml"))
    try:
        plan_id = term.expect(r"nightly\s+([0-9a-f-]{36})").group(1)
        term.expect(r"extract\s+RUNNING")
        term.child.sendintr()
        term.expect(r"\[d/c/w\]")
        term.child.sendline("w")  # keep watching: the view comes back
        term.expect(r"extract\s+RUNNING")
        term.child.sendintr()
        term.expect(r"\[d/c/w\]")
        term.child.sendline("d")
        term.expect(f"detached; the execution goes on: executor watch {plan_id}")
        code = term.exit_code()
    finally:
        term.close()
    assert code == 130
    assert status_of(plan_id, server)["status"] == "EXECUTION_STATUS_RUNNING"
    assert executor("cancel", plan_id, server=server).code == 0
