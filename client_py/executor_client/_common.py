"""What the async and sync clients share: defaults, timeouts and the watch resume logic.

The logic lives here in I/O-free form so that the two clients only differ in
how they wait (``await`` versus blocking).
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Final

import grpc
from google.protobuf import struct_pb2

from executor_client._gen.executor.v1 import executor_pb2
from executor_client.errors import ExecutorClientError

DEFAULT_TARGET: Final = "127.0.0.1:50051"

_MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024

DEFAULT_CHANNEL_OPTIONS: Final[tuple[tuple[str, int], ...]] = (
    # Plans, results and tool schemas can be large; gRPC's 4 MiB default is too tight.
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    # Ping during long silent calls (a blocking ExecutePlan, a quiet watch) so a dead
    # peer is noticed. Not more often than every 5 minutes: that is gRPC servers'
    # default minimum ping interval, and pinging faster gets the connection closed
    # with GOAWAY "too_many_pings".
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
)


_Option = tuple[str, int | str]

#: PEM data, or the path of a file holding it.
Pem = bytes | str | PathLike[str]


def _pem(value: Pem | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def channel_security(
    *,
    token: str | None,
    metadata: Sequence[tuple[str, str]],
    tls: bool,
    tls_ca: Pem | None,
    tls_cert: Pem | None,
    tls_key: Pem | None,
    tls_server_name: str | None,
    options: Sequence[_Option],
) -> tuple[
    grpc.ChannelCredentials | None, tuple[tuple[str, str], ...], list[tuple[str, int | str]]
]:
    """The channel credentials (None: plaintext), call metadata and channel options the
    client's security arguments ask for. Raises ValueError for a certificate without its
    key (or the reverse), OSError when a PEM file cannot be read."""
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("tls_cert and tls_key go together")
    metadata = tuple(metadata)
    if token is not None:
        metadata += (("authorization", f"Bearer {token}"),)
    options = list(options)
    if tls_server_name is not None:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    if not (tls or tls_ca is not None or tls_cert is not None):
        return None, metadata, options
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_pem(tls_ca),
        private_key=_pem(tls_key),
        certificate_chain=_pem(tls_cert),
    )
    return credentials, metadata, options


class _Default(enum.Enum):
    DEFAULT = enum.auto()


DEFAULT: Final = _Default.DEFAULT
"""Per-call ``timeout`` value meaning "use the client's default" (``None`` means no deadline)."""

Timeout = float | None | _Default


class ClientBase:
    """Holds the per-client call settings."""

    def __init__(self, timeout: float | None, metadata: Sequence[tuple[str, str]]) -> None:
        self._timeout = timeout
        self._metadata = tuple(metadata)

    def _resolve(self, timeout: Timeout) -> float | None:
        return self._timeout if timeout is DEFAULT else timeout


# Codes after which a watch stream is worth reopening: the connection or the server
# went away (UNAVAILABLE), or the stream broke mid-way (INTERNAL/UNKNOWN, e.g. an
# RST_STREAM; CANCELLED when the transport dropped it, as the caller's own
# cancellation surfaces as asyncio.CancelledError / GeneratorExit instead).
_TRANSIENT_WATCH_CODES: Final = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)

_INITIAL_RECONNECT_DELAY: Final = 0.1


class WatchCursor:
    """The state of one logical watch across reconnects.

    Tracks the last delivered sequence (so a reconnect resumes after it and a
    replayed event is never delivered twice), the reconnect backoff, and the
    optional overall deadline.
    """

    def __init__(
        self,
        plan_id: str,
        after_sequence: int,
        *,
        reconnect: bool,
        max_reconnect_delay: float,
        timeout: float | None,
    ) -> None:
        self._plan_id = plan_id
        self.last_sequence = after_sequence
        self._reconnect = reconnect
        self._max_delay = max_reconnect_delay
        self._backoff = min(_INITIAL_RECONNECT_DELAY, max_reconnect_delay)
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def request(self) -> executor_pb2.WatchExecutionRequest:
        """The request that (re)opens the stream after the last delivered event."""
        return executor_pb2.WatchExecutionRequest(
            plan_id=self._plan_id, after_sequence=self.last_sequence
        )

    def remaining(self) -> float | None:
        """The timeout for the next stream: what is left of the overall deadline."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def accept(
        self, response: executor_pb2.WatchExecutionResponse
    ) -> list[executor_pb2.ExecutionEvent]:
        """The events of ``response`` not delivered before."""
        # The stream is healthy again, so the next failure starts a fresh backoff.
        self._backoff = min(_INITIAL_RECONNECT_DELAY, self._max_delay)
        fresh = []
        for event in response.events:
            if event.sequence > self.last_sequence:
                fresh.append(event)
                self.last_sequence = event.sequence
        return fresh

    def reconnect_delay(self, error: ExecutorClientError) -> float | None:
        """Seconds to wait before reopening the stream after ``error``, or None to give up."""
        if not self._reconnect or error.code not in _TRANSIENT_WATCH_CODES:
            return None
        if error.retry_delay is not None:
            delay = error.retry_delay.total_seconds()  # the server knows best
        else:
            # Jitter so that many watchers of a restarted server do not reconnect in step.
            delay = self._backoff * random.uniform(0.5, 1.0)
            self._backoff = min(self._backoff * 2, self._max_delay)
        if self._deadline is not None and time.monotonic() + delay >= self._deadline:
            return None
        return delay


def to_struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    """A JSON-like mapping as a Struct; None stays None (the field unset)."""
    if value is None:
        return None
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct
