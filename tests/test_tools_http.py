"""http.request through a real server against a real HTTP server on loopback (allowed
explicitly by the test's policy), and the default policy that refuses internal addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from blockbuster import BlockBuster
from tests.support.events import collect, error_type_name
from tests.support.tools import make_registry

from executor_client import (
    AsyncExecutorClient,
    executor_pb2,
    output,
    plan,
    retry_policy,
    status_name,
    step,
)
from executor_server.tools.http import HttpRequest
from executor_server.tools.registry import ToolRegistry
from executor_server.tools.settings import HttpSettings, NetworkPolicy

pb = executor_pb2
PROGRESS = pb.EXECUTION_EVENT_TYPE_STEP_PROGRESS


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalHttp:
    """A minimal HTTP/1.1 server on 127.0.0.1 with a few canned routes."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.rstrip("\r\n").split("\r\n")
            method, target, _ = request_line.split(" ")
            headers = dict(line.split(": ", 1) for line in lines)
            headers = {k.lower(): v for k, v in headers.items()}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            url = urlsplit(target)
            seen = Seen(method, url.path, parse_qs(url.query), headers, body)
            self.seen.append(seen)
            if url.path == "/slow":
                await reader.read()  # until the client goes away
                return
            status, extra, payload = self.route(seen)
            reason = {200: "OK", 302: "Found", 404: "Not Found", 429: "Too Many Requests"}
            out = [f"HTTP/1.1 {status} {reason.get(status, 'Error')}"]
            out += [f"{k}: {v}" for k, v in extra.items()]
            out += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
            writer.write("\r\n".join(out).encode("latin-1"))
            # In pieces, so a download has progress to report.
            for i in range(0, len(payload), 16 * 1024):
                writer.write(payload[i : i + 16 * 1024])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def route(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        path = seen.path
        if path == "/json":
            payload = {
                "method": seen.method,
                "query": seen.query,
                "content_type": seen.headers.get("content-type"),
                "host": seen.headers.get("host"),
                "body": seen.body.decode(),
            }
            return (
                200,
                {"Content-Type": "application/json", "X-Test": "yes"},
                json.dumps(payload).encode(),
            )
        if path == "/text":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, "hé there".encode()
        if path == "/binary":
            return 200, {"Content-Type": "application/octet-stream"}, b"\xff\xfe\x00"
        if path == "/big":
            return 200, {"Content-Type": "text/plain"}, b"a" * 200_000
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            extra = {"Retry-After": "1"} if code in (429, 503) else {}
            return code, {"Content-Type": "text/plain", **extra}, f"status {code}".encode()
        if path == "/redirect":
            return 302, {"Location": seen.query["to"][0]}, b""
        return 404, {}, b"no such route"


@pytest.fixture
async def http(no_blocking: BlockBuster) -> AsyncIterator[LocalHttp]:
    local = LocalHttp()
    srv = await asyncio.start_server(local.handle, "127.0.0.1", 0)
    local.port = srv.sockets[0].getsockname()[1]
    try:
        yield local
    finally:
        srv.close()
        await srv.wait_closed()


LOOPBACK_ONLY = HttpSettings(policy=NetworkPolicy(allow=("127.0.0.1",)))


@pytest.fixture
def tools(request: pytest.FixtureRequest) -> ToolRegistry:
    """http.request with the test's policy: loopback is refused by default, so unless a
    test says otherwise (`with_http_settings`) the operator allows exactly 127.0.0.1."""
    settings: HttpSettings = getattr(request, "param", LOOPBACK_ONLY)
    return make_registry(HttpRequest(settings))


def with_http_settings(settings: HttpSettings) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("tools", [settings], indirect=True, ids=[""])


async def run(
    client: AsyncExecutorClient, *steps: pb.ActionStep, **options: Any
) -> pb.ExecutionResult:
    return await client.execute_plan(
        plan(*steps), pb.ExecutionOptions(**options) if options else None
    )


async def test_json_request_and_response(client: AsyncExecutorClient, http: LocalHttp) -> None:
    s = step(
        "http.request",
        {
            "method": "POST",
            "url": f"{http.base}/json?a=1",
            "query": {"b": ["x", "y"], "n": 3},
            "json": {"k": [1, 2]},
            "headers": {"X-Caller": "test"},
        },
    )
    result = await run(client, s)
    assert status_name(result.status) == "COMPLETED", result.error.message
    out = output(result.step_results[0].output)
    assert out["status"] == 200
    assert out["reason"] == "OK"
    assert out["body_encoding"] == "json"
    assert out["body"] == {
        "method": "POST",
        "query": {"a": ["1"], "b": ["x", "y"], "n": ["3"]},
        "content_type": "application/json",
        # The request went to the checked address with the original Host.
        "host": f"127.0.0.1:{http.port}",
        "body": '{"k":[1,2]}',
    }
    assert out["headers"]["x-test"] == "yes"
    assert out["headers"]["content-type"] == "application/json"
    assert out["truncated"] is False and out["redirects"] == 0
    assert http.seen[0].headers["x-caller"] == "test"
    assert result.resource_usage.network_requests == 1


async def test_text_and_binary_bodies(client: AsyncExecutorClient, http: LocalHttp) -> None:
    text = step("http.request", {"url": f"{http.base}/text", "method": "PUT", "body": "hi"})
    binary = step("http.request", {"url": f"{http.base}/binary"})
    result = await run(client, text, binary)
    assert status_name(result.status) == "COMPLETED", result.error.message
    t, b = (output(r.output) for r in result.step_results)
    assert (t["body"], t["body_encoding"]) == ("hé there", "text")
    assert (b["body"], b["body_encoding"]) == ("//4A", "base64")
    sent = next(seen for seen in http.seen if seen.path == "/text")
    assert (sent.method, sent.body) == ("PUT", b"hi")
    assert sent.headers["content-type"] == "text/plain; charset=utf-8"


async def test_client_errors_fail_for_good(client: AsyncExecutorClient, http: LocalHttp) -> None:
    s = step("http.request", {"url": f"{http.base}/status/404"}, retry=retry_policy(3))
    result = await run(client, s)
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert not result.error.retryable
    assert "HTTP 404 Not Found" in result.error.message and "status 404" in result.error.message
    assert result.step_results[0].retry_count == 0
    assert len(http.seen) == 1

    # Unless the plan wants the status as data.
    s = step("http.request", {"url": f"{http.base}/status/404", "fail_on_status": False})
    result = await run(client, s)
    assert status_name(result.status) == "COMPLETED"
    assert output(result.step_results[0].output)["status"] == 404


@pytest.mark.parametrize("code", [429, 503])
async def test_throttling_and_server_errors_are_retryable_network_errors(
    client: AsyncExecutorClient, http: LocalHttp, code: int
) -> None:
    s = step(
        "http.request",
        {"url": f"{http.base}/status/{code}"},
        retry=retry_policy(2, initial_backoff=0.01),
    )
    result = await run(client, s)
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "NETWORK"
    assert result.error.retryable
    assert "retry after 1s" in result.error.message
    assert result.step_results[0].retry_count == 1
    assert len(http.seen) == 2


async def test_connection_refused_is_a_retryable_network_error(
    client: AsyncExecutorClient, http: LocalHttp
) -> None:
    # A port nobody listens on: take one and close it.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    result = await run(client, step("http.request", {"url": f"http://127.0.0.1:{port}/"}))
    assert error_type_name(result.error.error_type) == "NETWORK"
    assert result.error.retryable
    assert "cannot connect" in result.error.message


async def test_body_is_capped_and_download_reports_progress(
    client: AsyncExecutorClient, http: LocalHttp
) -> None:
    capped = step("http.request", {"url": f"{http.base}/big", "max_response_bytes": 100})
    whole = step("http.request", {"url": f"{http.base}/big"}, name="whole")
    p = plan(capped, whole)
    result = await client.execute_plan(p, pb.ExecutionOptions(progress_reporting=True))
    assert status_name(result.status) == "COMPLETED", result.error.message
    c, w = (output(r.output) for r in result.step_results)
    assert c["truncated"] is True and c["body"] == "a" * 100
    assert w["truncated"] is False and len(w["body"]) == 200_000
    events = await collect(client, p.id)
    progress = [e.progress for e in events if e.type == PROGRESS and e.step_id == whole.id]
    assert len(progress) >= 3 and progress == sorted(progress) and progress[-1] == 1.0


async def test_redirects_are_followed_and_each_hop_is_checked(
    client: AsyncExecutorClient, http: LocalHttp
) -> None:
    ok = step("http.request", {"url": f"{http.base}/redirect", "query": {"to": "/json"}})
    result = await run(client, ok)
    assert status_name(result.status) == "COMPLETED", result.error.message
    out = output(result.step_results[0].output)
    assert out["redirects"] == 1 and out["url"] == f"{http.base}/json"
    assert out["body"]["method"] == "GET"
    assert result.resource_usage.network_requests == 2

    # A redirect into the cloud metadata endpoint is refused before any connection.
    evil = step(
        "http.request",
        {"url": f"{http.base}/redirect", "query": {"to": "http://169.254.169.254/latest/"}},
    )
    result = await run(client, evil)
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert not result.error.retryable
    assert "169.254.169.254" in result.error.message and "refused" in result.error.message


async def test_network_request_budget(client: AsyncExecutorClient, http: LocalHttp) -> None:
    steps = [step("http.request", {"url": f"{http.base}/text"}, name=f"s{i}") for i in range(3)]
    for before, after in itertools.pairwise(steps):
        after.dependencies.append(before.id)
    limits = pb.ResourceLimits(max_network_requests=2)
    result = await run(client, *steps, resource_limits=limits)
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.step_results[2].error_type) == "RESOURCE_EXHAUSTED"
    assert "max_network_requests" in result.step_results[2].error
    assert len(http.seen) == 2  # the third was refused before it was sent


async def test_timeout_cuts_a_hanging_request_promptly(
    client: AsyncExecutorClient, http: LocalHttp
) -> None:
    s = step("http.request", {"url": f"{http.base}/slow"}, timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await run(client, s)
    assert error_type_name(result.error.error_type) == "TIMEOUT"
    assert loop.time() - started < 2.0
    # http.request is not idempotent: a cut-off attempt is not retried blindly.
    assert not result.error.retryable


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/text",
        "http://[::1]:{port}/text",
        "http://[::ffff:127.0.0.1]:{port}/text",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://0.0.0.0:{port}/",
        "http://[fd00::1]/",
    ],
)
@with_http_settings(HttpSettings())
async def test_default_policy_refuses_internal_addresses_without_traffic(
    client: AsyncExecutorClient, http: LocalHttp, url: str
) -> None:
    result = await run(client, step("http.request", {"url": url.format(port=http.port)}))
    assert status_name(result.status) == "FAILED"
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert not result.error.retryable
    assert "refused to connect" in result.error.message
    assert "must allow it explicitly" in result.error.message
    assert http.seen == []
    assert result.resource_usage.network_requests == 0


@with_http_settings(HttpSettings(policy=NetworkPolicy(allow=("127.0.0.0/8",), deny=("127.0.0.1",))))
async def test_deny_wins_over_allow(client: AsyncExecutorClient, http: LocalHttp) -> None:
    result = await run(client, step("http.request", {"url": f"{http.base}/text"}))
    assert "denied by the operator" in result.error.message
    assert http.seen == []


def test_policy_rules() -> None:
    ip = ipaddress.ip_address
    default = NetworkPolicy()
    assert default.refusal("example.com", [ip("93.184.215.14")]) is None
    # Every address must pass: one internal answer refuses the host.
    assert default.refusal("mixed.test", [ip("93.184.215.14"), ip("10.1.2.3")]) is not None
    assert default.refusal("x", [ip("::ffff:10.0.0.1")]) is not None
    assert default.refusal("x", [ip("100.64.0.1")]) is not None  # carrier-grade NAT
    assert default.refusal("x", [ip("224.0.0.1")]) is not None

    named = NetworkPolicy(allow=("*.internal.test", "db.test"), deny=("bad.internal.test",))
    assert named.refusal("api.internal.test", [ip("10.0.0.5")]) is None
    assert named.refusal("db.test", [ip("10.0.0.6")]) is None
    assert named.refusal("internal.test", [ip("10.0.0.5")]) is not None
    assert named.refusal("bad.internal.test", [ip("10.0.0.5")]) is not None

    only = NetworkPolicy(allow=("93.184.215.0/24",), allowlist_only=True)
    assert only.refusal("example.com", [ip("93.184.215.14")]) is None
    assert only.refusal("other.com", [ip("8.8.8.8")]) is not None

    with pytest.raises(ValueError, match="not an address"):
        NetworkPolicy(allow=("http://x/",))
