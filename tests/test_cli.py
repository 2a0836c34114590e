"""`executor` commands as a user types them, each a child process against `executor serve`
in another: output, `--output json`, exit codes, the examples in examples/plans/."""

from __future__ import annotations

import contextlib
import http.server
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from tests.support.cli import (
    EXAMPLES,
    cli_env,
    executor,
    log_records,
    serving,
    status_of,
    wait_for_status,
)
from tests.support.proc import EXECUTOR, write_plugin

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(executor_serve: str) -> str:
    return executor_serve


def _events(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if "sequence" in line]


def test_version_and_help() -> None:
    version = executor("--version", server=None)
    assert version.code == 0 and "executor, version" in version.stdout
    usage = executor("help-me", server=None)
    assert usage.code == 2 and "No such command" in usage.stderr


def test_fan_out_over_files_runs_to_completion(server: str) -> None:
    result = executor("run", EXAMPLES / "fan-out-files.yaml", server=server)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    # Plain lines (stdout is a pipe): the plan, then one per event numbered from 1, then
    # the summary.
    plan_id, name = lines[0].split()
    assert name == "(word-count)" and status_of(plan_id, server)["planName"] == "word-count"
    assert lines[1].split()[0] == "1" and "execution PENDING" in lines[1]
    assert any("step count_all COMPLETED" in line for line in lines)
    summary = next(line for line in lines if "(word-count): COMPLETED" in line)
    assert "8/8 steps completed" in summary
    assert '"words":15' in result.stdout


def test_run_json_is_one_event_per_line_then_the_status(server: str) -> None:
    result = executor("run", EXAMPLES / "fan-out-files.yaml", "-o", "json", server=server)
    assert result.code == 0, result.stderr
    lines = result.json_lines()
    events, final = lines[:-1], lines[-1]
    assert [e["sequence"] for e in events] == [str(n) for n in range(1, len(events) + 1)]
    assert events[-1]["status"] == "EXECUTION_STATUS_COMPLETED"
    assert final["status"] == "EXECUTION_STATUS_COMPLETED"
    assert final["progress"]["completedSteps"] == 8


class _Prices(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        pass


def test_fan_out_over_http_against_a_local_server(server: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for name, price in (("tea", 3), ("cake", 5), ("jam", 2)):
        (site / f"{name}.json").write_text(json.dumps({"price": price}))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Prices, directory=str(site)))
    httpd.daemon_threads = False  # server_close() then waits for every request's thread
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        plan = tmp_path / "prices.yaml"
        text = (EXAMPLES / "fan-out-http.yaml").read_text()
        plan.write_text(text.replace("127.0.0.1:8000", f"127.0.0.1:{httpd.server_port}"))
        result = executor("run", plan, "-o", "json", server=server)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.code == 0, result.stdout + result.stderr
    final = result.json_lines()[-1]
    basket = next(s for s in final["stepResults"] if s["stepName"] == "basket")
    assert basket["output"] == {"tea": 3.0, "cake": 5.0, "jam": 2.0}
    assert final["resourceUsage"]["networkRequests"] == "3"


def test_saga_second_half_fails_and_rolls_back(server: str) -> None:
    result = executor("run", EXAMPLES / "saga.yaml", server=server)
    assert result.code == 1, result.stderr
    assert "(trip): ROLLED_BACK" in result.stdout
    assert "error at step charge_card: TOOL_FAILED: card declined" in result.stdout
    events = result.stdout.splitlines()
    undone = [line.split()[3] for line in events if "COMPENSATED" in line and "step" in line]
    # Reverse dependency order: the last booking is undone first.
    assert undone[:3] == ["notify", "book_hotel", "book_flight"]


def test_budget_is_enforced(server: str) -> None:
    result = executor("run", EXAMPLES / "budget.yaml", "-o", "json", server=server)
    assert result.code == 1
    final = result.json_lines()[-1]
    assert final["status"] == "EXECUTION_STATUS_FAILED"
    assert final["error"]["errorType"] == "EXECUTION_ERROR_TYPE_RESOURCE_EXHAUSTED"
    assert final["resourceUsage"]["toolInvocations"] == "3"


def _quick_long_job(tmp_path: Path) -> Path:
    """examples/plans/long-job.yaml with 2 s steps instead of 10 s ones."""
    plan = tmp_path / "long-job.yaml"
    text = (EXAMPLES / "long-job.yaml").read_text()
    assert "seconds: 10" in text
    plan.write_text(text.replace("seconds: 10", "seconds: 2"))
    return plan


@contextlib.contextmanager
def _running(plan: Path, server: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`executor run PLAN` in the background, once its first step runs; yields the process
    and the plan id (the first line it printed)."""
    process = subprocess.Popen(
        [str(EXECUTOR), "run", str(plan)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cli_env(server),
    )
    try:
        assert process.stdout is not None
        plan_id = process.stdout.readline().split()[0]
        for line in process.stdout:
            if "RUNNING" in line and " step " in line:
                break
        yield process, plan_id
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def _settled_steps(plan_id: str, server: str) -> dict[str, str]:
    """Every step's status by name, once none is running."""
    for _ in range(100):
        status = status_of(plan_id, server)
        steps = {s["stepName"]: s["status"] for s in status["stepResults"]}
        if "STEP_STATUS_RUNNING" not in steps.values():
            return steps
        time.sleep(0.1)
    raise AssertionError(f"steps still running: {steps}")


def test_long_job_paused_and_resumed_from_a_second_terminal(server: str, tmp_path: Path) -> None:
    with _running(_quick_long_job(tmp_path), server) as (first, plan_id):
        listed = executor(
            "list", "--status", "running", "--name", "nightly", "-o", "json", server=server
        )
        assert listed.code == 0, listed.stderr
        assert plan_id in [e["planId"] for e in listed.json_lines()]
        paused = executor("pause", plan_id, server=server)
        assert paused.code == 0 and "PAUSED" in paused.stdout
        # The running step finishes; no new one starts while paused.
        status = wait_for_status(plan_id, server, ["PAUSED"])
        steps = _settled_steps(plan_id, server)
        assert steps["load"] == "STEP_STATUS_PENDING", steps
        again = executor("pause", plan_id, server=server)  # already paused: no change
        assert again.code == 0
        resumed = executor("resume", plan_id, "-o", "json", server=server)
        assert resumed.code == 0
        assert resumed.json_lines() == [{"planId": plan_id, "status": "EXECUTION_STATUS_RUNNING"}]
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert status["status"] == "EXECUTION_STATUS_PAUSED"
    assert "execution PAUSED" in out and "(nightly): COMPLETED" in out


def test_submit_status_watch_list_delete(server: str, tmp_path: Path) -> None:
    plan = tmp_path / "hello.json"
    plan.write_text(
        json.dumps(
            {
                "name": "hello-json",
                "steps": [
                    {"name": "greet", "tool": "echo", "arguments": {"message": "hi"}},
                    {
                        "name": "shout",
                        "tool": "echo",
                        "dependencies": ["greet"],
                        "arguments": {"text": "${steps.greet.output.message}!"},
                        "timeout": 5,
                    },
                ],
            }
        )
    )
    submitted = executor("submit", plan, server=server)
    assert submitted.code == 0, submitted.stderr
    plan_id = submitted.stdout.strip()
    watched = executor("watch", plan_id, "-o", "json", server=server)
    assert watched.code == 0
    events = _events(watched.json_lines())
    assert events[0]["sequence"] == "1" and events[-1]["status"] == "EXECUTION_STATUS_COMPLETED"
    after = executor(
        "watch", plan_id, "--after", str(events[-2]["sequence"]), "-o", "json", server=server
    )
    assert [e["sequence"] for e in _events(after.json_lines())] == [events[-1]["sequence"]]
    status = status_of(plan_id, server)
    shout = next(s for s in status["stepResults"] if s["stepName"] == "shout")
    assert shout["output"] == {"text": "hi!"}
    text = executor("status", plan_id, server=server)
    assert text.code == 0 and "(hello-json): COMPLETED" in text.stdout
    listed = executor(
        "list", "--name", "hello-json", "--status", "COMPLETED", "-o", "json", server=server
    )
    assert [e["planId"] for e in listed.json_lines()] == [plan_id]
    # A second submission of the same file is a new execution (a fresh plan id).
    again = executor("submit", plan, server=server)
    assert again.code == 0 and again.stdout.strip() != plan_id
    deleted = executor("delete", plan_id, server=server)
    assert deleted.code == 0 and "deleted" in deleted.stdout
    gone = executor("status", plan_id, server=server)
    assert gone.code == 2
    assert "NOT_FOUND" in gone.stderr and "EXECUTION_NOT_FOUND" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_a_plan_piped_in(server: str) -> None:
    plan = '{"name": "piped", "steps": [{"name": "hi", "tool": "echo", "arguments": {"a": 1}}]}'
    ran = executor("run", "-", "-o", "json", server=server, stdin=plan)
    assert ran.code == 0, ran.stderr
    assert ran.json_lines()[-1]["planName"] == "piped"
    bad = executor("submit", "-", server=server, stdin="steps: [{tool: echo, timeout: x}]\n")
    assert bad.code == 2 and "<stdin>:1: steps[0].timeout: not a duration" in bad.stderr


def test_a_given_id_makes_resubmission_attach(server: str, tmp_path: Path) -> None:
    plan_id = "0b9d3c56-7f0e-4a36-9d3e-3d1f7a0c2b11"
    first = executor("run", EXAMPLES / "budget.yaml", "--id", plan_id, "-o", "json", server=server)
    second = executor("run", EXAMPLES / "budget.yaml", "--id", plan_id, "-o", "json", server=server)
    assert first.code == second.code == 1
    assert first.json_lines()[-1]["planId"] == second.json_lines()[-1]["planId"] == plan_id
    edited = tmp_path / "edited.yaml"
    edited.write_text((EXAMPLES / "budget.yaml").read_text().replace("n: 5", "n: 6"))
    clash = executor("submit", edited, "--id", plan_id, server=server)
    assert clash.code == 2 and "ALREADY_EXISTS" in clash.stderr


def test_control_of_an_ended_execution_is_refused_with_its_status(server: str) -> None:
    ran = executor("run", EXAMPLES / "budget.yaml", "-o", "json", server=server)
    plan_id = ran.json_lines()[-1]["planId"]
    refused = executor("pause", plan_id, "-o", "json", server=server)
    assert refused.code == 2
    error = refused.json_lines()[0]["error"]
    assert error["code"] == "FAILED_PRECONDITION"
    assert error["metadata"]["status"] == "FAILED"
    rolled = executor("rollback", plan_id, server=server)  # nothing to undo but allowed
    assert rolled.code == 0 and "ROLLED_BACK" in rolled.stdout


def test_cancel_a_running_execution(server: str) -> None:
    submitted = executor("run", "--detach", EXAMPLES / "long-job.yaml", server=server)
    assert submitted.code == 0
    plan_id = submitted.stdout.strip()
    assert status_of(plan_id, server)["status"] == "EXECUTION_STATUS_RUNNING"
    cancelled = executor("cancel", plan_id, "--reason", "not tonight", server=server)
    assert cancelled.code == 0 and "CANCELLED" in cancelled.stdout
    watched = executor("watch", plan_id, server=server)
    assert watched.code == 1 and "(nightly): CANCELLED" in watched.stdout


def test_tools_lists_and_describes(server: str) -> None:
    listed = executor("tools", "-o", "json", server=server)
    names = [t["name"] for t in listed.json_lines()]
    assert "echo" in names and "file.write" in names and "command.run" not in names
    sleep = executor("tools", "sleep", server=server)
    assert sleep.code == 0
    assert "read-only, idempotent" in sleep.stdout and '"seconds"' in sleep.stdout
    missing = executor("tools", "nope", server=server)
    assert missing.code == 2 and "no tool 'nope'" in missing.stderr


def test_validate_offline_names_each_problem_with_its_line(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text(
        "name: bad\n"
        "steps:\n"
        "  - name: fetch\n"
        "    tool: echo\n"
        "    timeout: soon\n"
        "  - name: parse\n"
        "    tool: echo\n"
        "    dependencies: [fetch, fech]\n"
        "    tmeout: 3\n"
    )
    result = executor("validate", plan, server=None)
    assert result.code == 2
    assert f"{plan}:5: steps[0].timeout: not a duration: 'soon'" in result.stderr
    assert f"{plan}:9: steps[1].tmeout: unknown field" in result.stderr
    assert "Traceback" not in result.stderr
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "steps:\n"
        "  - {name: a, tool: echo, dependencies: [b]}\n"
        "  - {name: b, tool: echo, dependencies: [a, c]}\n"
    )
    result = executor("validate", graph, "-o", "json", server=None)
    assert result.code == 2
    problems = result.json_lines()[0]["error"]["problems"]
    assert {
        "path": "steps[1].dependencies[1]",
        "message": "unknown step 'c'",
        "line": 3,
    } in problems
    examples = sorted(EXAMPLES.glob("*.yaml"))
    ok = executor("validate", *examples, server=None)
    assert ok.code == 0, ok.stderr
    assert ok.stdout.count(": valid (") == len(examples) >= 5


def test_validate_with_server_checks_tools_and_schemas(server: str, tmp_path: Path) -> None:
    plan = tmp_path / "tools.yaml"
    plan.write_text(
        "steps:\n"
        "  - name: nap\n"
        "    tool: sleep\n"
        "    arguments: {seconds: -1}\n"
        "  - name: mystery\n"
        "    tool: does.not.exist\n"
        "  - name: secret_nap\n"
        "    tool: sleep\n"
        '    arguments: {seconds: "${secrets.nap_seconds}"}\n'
    )
    offline = executor("validate", plan, server=None)
    assert offline.code == 0
    online = executor("validate", plan, "--server", server, server=None)
    assert online.code == 2
    assert f"{plan}:4: steps[0].tool_execution.arguments.seconds:" in online.stderr
    assert f"{plan}:6: steps[1].tool_execution.tool_name: the server has no tool" in online.stderr
    assert "steps[2]" not in online.stderr  # a secret is known when the step starts


def test_server_violations_point_at_the_file_line(server: str, tmp_path: Path) -> None:
    plan = tmp_path / "refused.yaml"
    plan.write_text("name: refused\nsteps:\n  - name: nap\n    tool: sleep\n    arguments: {}\n")
    result = executor("run", plan, server=server)
    assert result.code == 2
    assert "INVALID_ARGUMENT" in result.stderr
    assert f"{plan}:5: steps[0].tool_execution.arguments: " in result.stderr


def test_startup_line_unreachable_server_and_authentication(tmp_path: Path) -> None:
    nobody = executor("list", server="127.0.0.1:1")
    assert nobody.code == 2 and "UNAVAILABLE" in nobody.stderr and "Traceback" not in nobody.stderr
    # A plugin with a broken entry point (and two good ones) beside the server.
    plugins = write_plugin(tmp_path / "plugins")
    env = {"EXECUTOR_AUTH_TOKENS": "s3cret", "PYTHONPATH": str(plugins)}
    with serving(tmp_path / "d", env=env) as (address, log):
        denied = executor("list", server=address)
        assert denied.code == 2 and "UNAUTHENTICATED" in denied.stderr
        allowed = executor("--token", "s3cret", "list", server=address)
        assert allowed.code == 0
        from_env = executor("list", "-o", "json", server=address, env={"EXECUTOR_TOKEN": "s3cret"})
        assert from_env.code == 0 and from_env.stdout == ""
        ready = [r for r in log_records(log) if str(r["event"]).startswith("executor serving")]
    # The start-up line: address, journal, authentication, tools loaded and failed.
    assert len(ready) == 1, log.read_text()
    line = ready[0]
    assert line["address"] == address
    assert line["database"] == str(tmp_path / "d" / "executor.db")
    assert line["auth"] is True and "s3cret" not in log.read_text()
    assert "echo" in line["tools"] and "mark" in line["tools"]
    assert line["tools_failed"] == ["broken = crashtools:DoesNotExist"]
    assert line["event"].endswith("tools loaded; failed to load: broken = crashtools:DoesNotExist")
    assert f"on {address}; journal {tmp_path / 'd' / 'executor.db'}" in line["event"]
    assert f"{len(line['tools'])} tools loaded" in line["event"]


def test_interrupt_off_a_terminal_detaches(server: str) -> None:
    with _running(EXAMPLES / "long-job.yaml", server) as (run, plan_id):
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=20)
    assert run.returncode == 130
    assert f"detached; the execution goes on: executor watch {plan_id}" in out
    # The execution goes on without its watcher.
    assert status_of(plan_id, server)["status"] == "EXECUTION_STATUS_RUNNING"
    assert executor("cancel", plan_id, server=server).code == 0


def test_serve_help_keeps_its_flags() -> None:
    result = executor("serve", "--help", server=None)
    assert result.code == 0
    for flag in (
        "--address",
        "--db",
        "--in-memory",
        "--journal-sync",
        "--auth-token-file",
        "--http-allow",
        "--enable-command-run",
        "--drain-seconds",
    ):
        assert flag in result.stdout
    assert "per user" in result.stdout


def test_approvals_approve_reject_and_signal(server: str) -> None:
    submitted = executor("submit", EXAMPLES / "approval.yaml", server=server)
    assert submitted.code == 0, submitted.stderr
    plan_id = submitted.stdout.strip()
    deadline = time.monotonic() + 20
    while status_of(plan_id, server)["progress"].get("waitingSteps") != 2:
        assert time.monotonic() < deadline, "the gate and the signal never both waited"
        time.sleep(0.1)  # another process's execution: no event to await here
    inbox = executor("approvals", "--plan", plan_id, "-o", "json", server=server)
    assert inbox.code == 0, inbox.stderr
    (gate,) = inbox.json_lines()
    assert gate["stepName"] == "announce"
    assert gate["prompt"] == "Post the announcement for Release 1.4.2?"
    table = executor("approvals", server=server)
    assert "announce" in table.stdout and "Post the announcement" in table.stdout
    bad_edit = executor("approve", plan_id, "announce", "--arguments", "[1]", server=server)
    assert bad_edit.code == 2 and "JSON object" in bad_edit.stderr
    approved = executor(
        "approve",
        plan_id,
        "announce",
        "-m",
        "ship it",
        "--arguments",
        '{"post": "1.4.2 is out"}',
        server=server,
    )
    assert approved.code == 0, approved.stderr
    assert "announce approved" in approved.stdout
    again = executor("reject", plan_id, "announce", server=server)
    assert again.code == 2 and "GATE_DECIDED" in again.stderr
    unknown = executor("signal", plan_id, "nope", server=server)
    assert unknown.code == 2 and "UNKNOWN_SIGNAL" in unknown.stderr
    invalid = executor("signal", plan_id, "deployed", '{"v": 1}', server=server)
    assert invalid.code == 2 and "payload" in invalid.stderr
    signalled = executor("signal", plan_id, "deployed", '{"version": "1.4.2"}', server=server)
    assert signalled.code == 0, signalled.stderr
    followed = executor("watch", plan_id, server=server)
    assert followed.code == 0
    assert "step announce approved - ship it" in followed.stdout
    assert "step deployed got signal 'deployed'" in followed.stdout
    steps = {s["stepName"]: s for s in status_of(plan_id, server)["stepResults"]}
    assert steps["announce"]["output"] == {"post": "1.4.2 is out"}
    assert steps["announce"]["approval"]["comment"] == "ship it"
    assert steps["deployed"]["output"] == {"version": "1.4.2"}
    assert steps["cool_down"]["output"]["slept_until"].endswith("Z")


def test_a_plan_that_branches(server: str) -> None:
    result = executor("run", EXAMPLES / "branching.yaml", server=server)
    assert result.code == 0, result.stdout + result.stderr
    assert "(research): COMPLETED" in result.stdout
    assert "step fetch[2] COMPLETED" in result.stdout  # an element's event
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line[:1].isalpha()}
    assert "SKIPPED" in rows["ask"] and "condition false" in rows["ask"]
    assert "3 items: 3 COMPLETED" in rows["fetch"]
    assert "COMPLETED" in rows["summarize"] and "COMPLETED" in rows["cleanup"]


def test_retry_runs_a_failed_execution_again(server: str, tmp_path: Path) -> None:
    plan_id = "4f8e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    plan = tmp_path / "flaky.yaml"
    plan.write_text(
        "name: flaky\n"
        "steps:\n"
        "  - {name: first, tool: echo, arguments: {n: 1}}\n"
        "  - name: flaky\n"
        "    tool: fail\n"
        "    dependencies: [first]\n"
        "    arguments: {succeed_on_attempt: 2}\n"
        "    retry_policy: {max_attempts: 1}\n"
    )
    failed = executor("run", plan, "--id", plan_id, server=server)
    assert failed.code == 1, failed.stdout + failed.stderr

    retried = executor("retry", plan_id, server=server)

    assert retried.code == 0, retried.stdout + retried.stderr
    assert "(flaky): COMPLETED" in retried.stdout
    assert "execution RUNNING - retry started" in retried.stdout
    assert "step first" not in retried.stdout.split("(flaky): COMPLETED")[0]  # not re-run
    again = executor("retry", plan_id, server=server)
    assert again.code == 2
    assert "FAILED_PRECONDITION" in again.stderr and "COMPLETED" in again.stderr
