"""The Go, TypeScript and Java clients drive the real server: each example program, run the
way a user runs it (`make example-<language> ADDR=...`), submits a plan whose second step
uses the first one's output, prints every event WatchExecution delivers and the result, and
prints the BadRequest field violations of an invalid plan; it sends the bearer token
that EXECUTOR_TOKEN holds, and over mutual TLS the client certificate that
EXECUTOR_TLS_CA, EXECUTOR_TLS_CERT and EXECUTOR_TLS_KEY name.

The first run of each builds it (go build; npm ci and tsc; mvn package), from the lock files
(go.sum, client_ts/package-lock.json, the versions pinned in client_java/pom.xml).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.commands import find, need, run
from tests.support.pki import Pki, make_pki
from tests.support.tools import make_registry

from executor_client import AsyncExecutorClient, output, status_name
from executor_server.app import Config, build_server
from executor_server.domain.access import parse_tokens
from executor_server.rpc.tls import TlsFiles

# Each example needs its toolchain; make installs the rest.
TOOLCHAINS = {
    "go": (find("go"), "go (Go >= 1.26)"),
    "ts": (find("node"), "node (Node.js >= 20)"),
    "java": (find("mvn"), "mvn (Maven, with a JDK >= 17)"),
}

EVENT = re.compile(
    r"event (?P<sequence>\d+) (?P<type>\S+) execution=(?P<status>\S+)"
    r"(?: step=(?P<step>[^:\s]+):(?P<step_status>\S+))?(?: - (?P<message>.*))?"
)
STEP = re.compile(r"step (?P<name>\S+) (?P<status>\S+) (?P<output>.*)")
REJECTED = re.compile(r"invalid plan rejected: (?P<code>\S+) (?P<reason>\S*), (?P<count>\d+) field")


@dataclass
class Run:
    """What an example printed, line by line."""

    plan_id: str = ""
    events: list[dict[str, str | None]] = field(default_factory=list)
    result: str = ""
    steps: dict[str, tuple[str, Any]] = field(default_factory=dict)
    rejection: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def parse(stdout: str) -> Run:
    parsed = Run()
    for line in stdout.splitlines():
        if m := re.fullmatch(r"plan (\S+) submitted: fetch -> bill", line):
            parsed.plan_id = m[1]
        elif m := EVENT.fullmatch(line):
            parsed.events.append(m.groupdict())
        elif m := re.fullmatch(r"result (\S+)", line):
            parsed.result = m[1]
        elif m := STEP.fullmatch(line):
            parsed.steps[m["name"]] = (m["status"], json.loads(m["output"]))
        elif m := REJECTED.match(line):
            parsed.rejection = m.groupdict()
        elif line.startswith("  ") and parsed.rejection:
            parsed.violations.append(line.strip())
    return parsed


async def example(
    language: str, port: int, token: str | None = None, tls: dict[str, Path] | None = None
) -> tuple[int, str, str]:
    """`make example-<language> ADDR=127.0.0.1:<port>`, with EXECUTOR_TOKEN set to `token`
    and the EXECUTOR_TLS_* variables to `tls`."""
    need(*TOOLCHAINS[language])
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}
    if token is not None:
        env["EXECUTOR_TOKEN"] = token
    env |= {f"EXECUTOR_TLS_{name.upper()}": str(path) for name, path in (tls or {}).items()}
    target, address = f"example-{language}", f"ADDR=127.0.0.1:{port}"
    return await run("make", "-s", "--no-print-directory", target, address, env=env, time_limit=840)


@pytest.mark.timeout(900)  # a first build on a fresh machine downloads the dependencies
@pytest.mark.parametrize("language", ["go", "ts", "java"])
async def test_example_runs_a_plan_and_reads_a_rejection(
    language: str, port: int, client: AsyncExecutorClient
) -> None:
    code, out, err = await example(language, port)
    assert code == 0, f"example-{language} failed:\n{out}\n{err}"
    printed = parse(out)

    sequences = [int(str(e["sequence"])) for e in printed.events]
    assert sequences == list(range(1, len(sequences) + 1)), out
    assert (printed.events[0]["type"], printed.events[0]["status"]) == (
        "EXECUTION_STATUS_CHANGED",
        "PENDING",
    )
    assert (printed.events[-1]["type"], printed.events[-1]["status"]) == (
        "EXECUTION_STATUS_CHANGED",
        "COMPLETED",
    )
    step_events = [(e["step"], e["step_status"]) for e in printed.events if e["step"]]
    assert step_events == [
        ("fetch", "RUNNING"),
        ("fetch", "COMPLETED"),
        ("bill", "RUNNING"),
        ("bill", "COMPLETED"),
    ]

    assert printed.result == "COMPLETED"
    assert printed.steps == {
        "fetch": ("COMPLETED", {"order": 42, "items": ["tea", "cake"]}),
        "bill": ("COMPLETED", {"order": 42, "summary": "order 42: tea and cake"}),
    }

    assert printed.rejection == {"code": "INVALID_ARGUMENT", "reason": "INVALID_PLAN", "count": "3"}
    assert printed.violations == [
        "plan.steps[0].tool_execution.tool_name: unknown tool 'no.such.tool'",
        "plan.steps[1].dependencies[0]: unknown step 'ghost'",
        "plan.steps[1].tool_execution.arguments: references step 'fetch', which is not among"
        " its dependencies",
    ]

    # The server agrees: the execution the example ran, as the Python client sees it.
    status = await client.get_execution_status(printed.plan_id)
    assert status_name(status.status) == "COMPLETED"
    assert status.plan_name == "checkout"
    assert status.last_sequence == sequences[-1]
    assert [output(s.output) for s in status.step_results] == [
        printed.steps["fetch"][1],
        printed.steps["bill"][1],
    ]


TOKEN = "correct-horse-battery-staple"


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[int]:
    """A server that wants a bearer token on every call; its port."""
    tokens = parse_tokens([TOKEN], "test")
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, auth_tokens=tokens)
    server = await build_server(config, tools=make_registry())
    port = await server.start()
    try:
        yield port
    finally:
        await server.stop(drain_seconds=0, grace_seconds=1)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("language", ["go", "ts", "java"])
async def test_example_sends_the_token_from_the_environment(language: str, secured: int) -> None:
    code, out, err = await example(language, secured)
    assert code != 0, out  # make exits 2 when the example exits 1
    assert "submitted" not in out
    assert "unauthenticated" in err.lower(), err

    code, out, err = await example(language, secured, token=TOKEN)
    assert code == 0, f"{out}\n{err}"
    assert parse(out).result == "COMPLETED"


@pytest.fixture
async def mutual_tls(tmp_path: Path) -> AsyncIterator[tuple[int, Pki]]:
    """A server that admits only clients with a certificate from its CA; its port, and
    the certificate files."""
    pki = make_pki(tmp_path)
    tls = TlsFiles(pki.server_cert, pki.server_key, client_ca=pki.ca).load()
    config = Config(address="127.0.0.1:0", data_dir=tmp_path, tls=tls)
    server = await build_server(config, tools=make_registry())
    port = await server.start()
    try:
        yield port, pki
    finally:
        await server.stop(drain_seconds=0, grace_seconds=1)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("language", ["go", "ts", "java"])
async def test_example_speaks_mutual_tls_with_the_certificate_from_the_environment(
    language: str, mutual_tls: tuple[int, Pki]
) -> None:
    port, pki = mutual_tls
    code, out, err = await example(
        language, port, tls={"ca": pki.ca, "cert": pki.client_cert, "key": pki.client_key}
    )
    assert code == 0, f"{out}\n{err}"
    assert parse(out).result == "COMPLETED"

    # Without the client certificate the handshake is refused: nothing is submitted.
    code, out, err = await example(language, port, tls={"ca": pki.ca})
    assert code != 0, out
    assert "submitted" not in out
    assert "error:" in err, err  # the example's own report of the failed call
