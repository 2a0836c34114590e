"""`http.request`: one HTTP request (and its redirects) to a host the network policy allows.

SSRF defence. Before each hop the host is resolved with `loop.getaddrinfo` (in the
executor, never blocking the loop) and every address it resolves to is checked against the
operator's `NetworkPolicy`; the request is then sent to one of those checked addresses, the
URL's host replaced by the address while the `Host` header and the TLS server name (SNI and
certificate check, httpx's `sni_hostname` extension) keep the original name. So a second,
different DNS answer (rebinding) is never used, and a refused address sees no traffic at
all. Redirects are followed here, not by httpx, so every hop is checked the same way.
Proxies from the environment are ignored (`trust_env=False`): they would hide the real
destination from the check.

Failures: connection errors, 429 and 5xx are NETWORK and retryable (`HttpStatusError`
carries the server's `Retry-After`); other 4xx are TOOL_FAILED and not retryable; a refused
destination is TOOL_FAILED and not retryable.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import ipaddress
import json
import math
import socket
import ssl
import time
from datetime import timedelta
from typing import Any

import httpx

from executor_server.domain.errors import ToolError
from executor_server.domain.models import JsonObject
from executor_server.domain.status import ExecutionErrorType
from executor_server.tools.protocol import ToolContext, ToolSpec
from executor_server.tools.settings import HttpSettings, IPAddress, ToolSettings

__all__ = ["HttpRequest", "HttpStatusError"]

_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Methods whose repetition has no further effect (RFC 9110 §9.2.2): only they are retried
# after a request that may have reached the server (a read timeout, a dropped connection).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SCALAR = {"type": ["string", "number", "boolean"]}
#: Reported at most this often while a body downloads.
_PROGRESS_STEP = 0.1


class HttpStatusError(ToolError):
    """The server answered with an error status. `retry_after` is the delay in seconds the
    server asked for (`Retry-After`), or None."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None,
        error_type: ExecutionErrorType,
        retryable: bool,
    ) -> None:
        super().__init__(
            message, error_type=error_type, retryable=retryable, retry_after=retry_after
        )
        self.status = status


def _refused(message: str) -> ToolError:
    return ToolError(message, error_type=ExecutionErrorType.TOOL_FAILED, retryable=False)


def _network(message: str, *, retryable: bool = True) -> ToolError:
    return ToolError(message, error_type=ExecutionErrorType.NETWORK, retryable=retryable)


class HttpRequest:
    spec = ToolSpec(
        name="http.request",
        title="HTTP request",
        description=(
            "Sends one HTTP request and returns the status, headers and body (parsed when "
            "the response is JSON, else text, else base64), the body cut at "
            "`max_response_bytes`. Redirects are followed. Connection errors, 429 and 5xx "
            "fail retryably (NETWORK, honouring Retry-After); other 4xx fail for good "
            "(TOOL_FAILED) unless `fail_on_status` is false. Only public internet "
            "addresses are reachable unless the operator allows more; each request, "
            "redirects included, counts toward max_network_requests."
        ),
        input_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "method": {"enum": _METHODS, "default": "GET"},
                "url": {
                    "type": "string",
                    "pattern": "^[hH][tT][tT][pP][sS]?://",
                    "description": "An absolute http:// or https:// URL.",
                },
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "query": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]
                    },
                    "description": "Added to the URL's query string.",
                },
                "json": {"description": "A JSON request body (sets Content-Type)."},
                "body": {"type": "string", "description": "A text request body (UTF-8)."},
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "default": 30,
                    "description": "Seconds for each of connect, write, read and pool wait.",
                },
                "max_response_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Body bytes kept (default 1 MiB; the operator sets a cap).",
                },
                "follow_redirects": {"type": "boolean", "default": True},
                "fail_on_status": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail the step on a 4xx or 5xx; false returns it as data.",
                },
            },
            "required": ["url"],
            "not": {"required": ["json", "body"]},
            "additionalProperties": False,
        },
        output_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "reason": {"type": "string"},
                "url": {"type": "string", "description": "The final URL, after redirects."},
                "headers": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Lower-cased names; repeated headers joined with ', '.",
                },
                "body": {"description": "JSON value, text, or base64 (see body_encoding)."},
                "body_encoding": {"enum": ["json", "text", "base64"]},
                "truncated": {"type": "boolean"},
                "redirects": {"type": "integer", "minimum": 0},
                "elapsed_ms": {"type": "number", "minimum": 0},
            },
            "required": [
                "status",
                "reason",
                "url",
                "headers",
                "body",
                "body_encoding",
                "truncated",
                "redirects",
                "elapsed_ms",
            ],
            "additionalProperties": False,
        },
        destructive=True,
        idempotent=False,
        open_world=True,
        default_timeout=timedelta(seconds=60),
    )

    def __init__(self, settings: HttpSettings | None = None) -> None:
        self.settings = settings or HttpSettings()
        self._ssl_context: ssl.SSLContext | None = None

    def configure(self, settings: ToolSettings) -> None:
        self.settings = settings.http

    async def _ssl(self) -> ssl.SSLContext:
        # Loading the CA bundle reads files: do it once, off the loop.
        if self._ssl_context is None:
            self._ssl_context = await asyncio.to_thread(httpx.create_ssl_context)
        return self._ssl_context

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        """Raises ToolError as described in the module docstring; HttpStatusError for an
        error status; ToolError(RESOURCE_EXHAUSTED) past max_network_requests."""
        started = time.monotonic()
        method = str(arguments.get("method", "GET")).upper()
        try:
            url = httpx.URL(str(arguments["url"]))
            if arguments.get("query"):
                url = url.copy_merge_params(arguments["query"])
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise _refused(f"invalid url: {exc}") from None
        headers = dict(arguments.get("headers") or {})
        if any(name.lower() == "host" for name in headers):
            raise _refused("the Host header comes from the url and cannot be set")
        # The attempt's trace continues at the other end, unless the plan set its own.
        given = {name.lower() for name in headers}
        headers.update((k, v) for k, v in context.trace_context.items() if k not in given)
        content: bytes | None = None
        if "json" in arguments:
            content = json.dumps(arguments["json"], separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "body" in arguments:
            content = str(arguments["body"]).encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        limit = min(
            int(arguments.get("max_response_bytes", self.settings.default_response_bytes)),
            self.settings.max_response_bytes,
        )
        follow = bool(arguments.get("follow_redirects", True))
        timeout = float(arguments.get("timeout", 30))

        async with httpx.AsyncClient(
            verify=await self._ssl(),
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
        ) as client:
            redirects = 0
            while True:
                addresses = await self._checked_addresses(url)
                context.count_network_request()
                response = await self._send(client, method, url, addresses, headers, content)
                location = response.headers.get("location")
                if not (follow and response.status_code in _REDIRECTS and location):
                    break
                await response.aclose()
                if redirects >= self.settings.max_redirects:
                    raise _refused(f"more than {self.settings.max_redirects} redirects")
                redirects += 1
                previous, url = url, url.join(location)
                if url.scheme not in ("http", "https"):
                    raise _refused(f"redirect to a non-HTTP url: {url}")
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method == "POST"
                ):
                    # As browsers do: the redirected request is a GET without a body.
                    method = "GET" if method != "HEAD" else method
                    content = None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                if (url.scheme, url.host, url.port) != (
                    previous.scheme,
                    previous.host,
                    previous.port,
                ):
                    # Credentials are for the origin they were given for.
                    headers = {
                        k: v
                        for k, v in headers.items()
                        if k.lower() not in ("authorization", "cookie", "proxy-authorization")
                    }
            try:
                data, truncated = await _read_body(
                    response, limit, context, retryable=method in _IDEMPOTENT_METHODS
                )
            finally:
                await response.aclose()
        result = _result(response, url, data, truncated, redirects, started)
        if response.status_code >= 400 and arguments.get("fail_on_status", True):
            raise _status_error(method, url, response, result)
        context.report_progress(1.0, f"HTTP {response.status_code}")
        return result

    async def _checked_addresses(self, url: httpx.URL) -> list[IPAddress]:
        """The addresses of the url's host, all of them permitted by the policy.

        Raises ToolError: TOOL_FAILED (not retryable) when refused or the url is unusable;
        NETWORK (retryable) when the name does not resolve.
        """
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise _refused(f"not an absolute http(s) url: {url}")
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except socket.gaierror as exc:
                raise _network(f"cannot resolve {host}: {exc.strerror}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        reason = self.settings.policy.refusal(host, addresses)
        if reason is not None:
            raise _refused(f"refused to connect to {url.scheme}://{host}:{port}: {reason}")
        return addresses

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: httpx.URL,
        addresses: list[IPAddress],
        headers: dict[str, str],
        content: bytes | None,
    ) -> httpx.Response:
        """Send to the first checked address that accepts a connection.

        Raises ToolError: NETWORK, retryable for a connection that could not be made, and
        for other transport failures only when the method is idempotent; TOOL_FAILED, not
        retryable, for a TLS certificate that fails verification.
        """
        assert url.raw_host
        host_header = url.netloc.decode("ascii")
        last_error: Exception | None = None
        for address in addresses:
            pinned = url.copy_with(host=str(address))
            request = client.build_request(
                method, pinned, headers={**headers, "Host": host_header}, content=content
            )
            if url.scheme == "https":
                request.extensions["sni_hostname"] = url.raw_host.decode("ascii")
            try:
                return await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if _is_certificate_error(exc):
                    # Not transient: another attempt meets the same certificate.
                    raise _refused(f"TLS certificate of {host_header} rejected: {exc}") from exc
                last_error = exc  # nothing was sent: the next address is safe to try
            except httpx.TransportError as exc:
                raise _network(
                    f"{method} {url} failed: {type(exc).__name__}: {exc}",
                    retryable=method in _IDEMPOTENT_METHODS,
                ) from exc
        raise _network(
            f"cannot connect to {url.scheme}://{host_header}: "
            f"{type(last_error).__name__}: {last_error}"
        ) from last_error


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


async def _read_body(
    response: httpx.Response, limit: int, context: ToolContext, *, retryable: bool
) -> tuple[bytes, bool]:
    """Up to `limit` body bytes (decompressed) and whether there was more.

    Raises ToolError(NETWORK) when the connection breaks mid-body, retryable as told (the
    request has reached the server).
    """
    total = _content_length(response)
    chunks: list[bytes] = []
    size = 0
    reported = 0.0
    try:
        async for chunk in response.aiter_bytes():
            if size + len(chunk) > limit:
                chunks.append(chunk[: limit - size])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
            if total:
                fraction = min(size / total, 1.0)
                if fraction - reported >= _PROGRESS_STEP:
                    reported = fraction
                    context.report_progress(fraction, f"received {size} of {total} bytes")
    except httpx.TransportError as exc:
        raise _network(
            f"the response body broke off: {type(exc).__name__}: {exc}", retryable=retryable
        ) from exc
    return b"".join(chunks), False


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _result(
    response: httpx.Response,
    url: httpx.URL,
    data: bytes,
    truncated: bool,
    redirects: int,
    started: float,
) -> JsonObject:
    body: Any
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    encoding = "text"
    try:
        text = data.decode(response.charset_encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        body, encoding = _b64(data), "base64"
    else:
        body = text
        if is_json and not truncated and text.strip():
            # ValueError: a server that mislabels its body; keep the text.
            with contextlib.suppress(ValueError):
                body, encoding = json.loads(text), "json"
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return {
        "status": response.status_code,
        "reason": response.reason_phrase,
        "url": str(url),
        "headers": headers,
        "body": body,
        "body_encoding": encoding,
        "truncated": truncated,
        "redirects": redirects,
        "elapsed_ms": round((time.monotonic() - started) * 1000.0, 3),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _status_error(
    method: str, url: httpx.URL, response: httpx.Response, result: JsonObject
) -> HttpStatusError:
    status = response.status_code
    snippet = result["body"] if isinstance(result["body"], str) else json.dumps(result["body"])
    snippet = snippet[:200] + ("…" if len(snippet) > 200 else "")
    message = f"HTTP {status} {response.reason_phrase} from {method} {url}"
    transient = status == 429 or status >= 500
    retry_after = _retry_after(response.headers.get("retry-after")) if transient else None
    if retry_after is not None:
        message += f"; the server asks to retry after {math.ceil(retry_after)}s"
    if snippet:
        message += f": {snippet}"
    return HttpStatusError(
        message,
        status=status,
        retry_after=retry_after,
        error_type=ExecutionErrorType.NETWORK if transient else ExecutionErrorType.TOOL_FAILED,
        retryable=transient,
    )
