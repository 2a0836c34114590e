"""The gRPC server: ExecutorService plus standard health and reflection (v1 and v1alpha,
with the proto's comments: see reflection.py).

Health reports NOT_SERVING until the server is ready and again as soon as it starts to shut
down, so a load balancer drains it before the listener closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_client._gen.executor.v1 import executor_pb2_grpc as pb_grpc
from executor_server.domain.access import TokenTable
from executor_server.domain.limits import Limits
from executor_server.engine.executor import Executor
from executor_server.observability.telemetry import Telemetry
from executor_server.rpc.admission import ConcurrencyLimit
from executor_server.rpc.auth import Access
from executor_server.rpc.decoding import SafeDecoding
from executor_server.rpc.reflection import enable_reflection
from executor_server.rpc.servicer import ExecutorServicer
from executor_server.rpc.telemetry import TelemetryInterceptor
from executor_server.rpc.tls import ServerTls, TlsMaterial
from executor_server.store.protocol import Store

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ExecutorService"].full_name

log = logging.getLogger(__name__)


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Keep idle connections (long ExecutePlan calls, quiet watches) alive through
        # proxies, and accept clients that ping as often as every 10 s.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Rebalance long-lived connections across replicas; calls in flight get a long
        # grace, and a client cut off re-attaches by resubmitting the same plan.
        ("grpc.max_connection_age_ms", 3_600_000),
        ("grpc.max_connection_age_grace_ms", 600_000),
        # grpcio turns SO_REUSEPORT on by default, which lets a second server bind the same
        # port and silently take half the connections: a port in use must be an error.
        ("grpc.so_reuseport", 0),
    ]


class ExecutorServer:
    def __init__(
        self,
        executor: Executor,
        store: Store,
        *,
        address: str,
        limits: Limits | None = None,
        tokens: TokenTable | None = None,
        tls: TlsMaterial | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        """`tokens` (when there are any) close the service to callers without one; `tls`
        with a client CA admits only clients with a certificate from it."""
        limits = limits or executor.limits
        self.executor = executor
        self._store = store
        self.telemetry = telemetry
        self.address = address
        self.port: int | None = None
        #: None on a plaintext server.
        self.tls = ServerTls(tls) if tls is not None else None
        mutual = tls is not None and tls.mutual
        #: None on a server that authenticates nobody.
        self.access = Access(tokens, client_certificates=mutual) if tokens or mutual else None
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        interceptors: list[Any] = []  # grpc.aio.ServerInterceptor, generic only in the stubs
        if telemetry is not None and (telemetry.metrics is not None or telemetry.tracing):
            # Outermost, so that refused calls are counted too.
            interceptors.append(
                TelemetryInterceptor(telemetry.metrics, propagate_trace=telemetry.tracing)
            )
        if self.access is not None:
            # Who calls, before anything else: an anonymous call is refused before its body
            # is decoded, and before it takes a place among the calls in flight.
            interceptors.append(self.access)
        interceptors.append(ConcurrencyLimit(limits.max_concurrent_rpcs))
        interceptors.append(SafeDecoding())
        self._server = grpc.aio.server(
            options=channel_options(limits.max_message_bytes), interceptors=interceptors
        )
        pb_grpc.add_ExecutorServiceServicer_to_server(  # type: ignore[no-untyped-call]
            ExecutorServicer(executor, limits), self._server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        enable_reflection(self._server, [SERVICE_NAME, health.SERVICE_NAME])

    async def start(self) -> int:
        """Listen and report SERVING; returns the bound port. Raises RuntimeError if the
        address cannot be bound."""
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.telemetry is not None:
            await self.telemetry.start()
        try:
            if self.tls is None:
                self.port = self._server.add_insecure_port(self.address)
            else:
                credentials = self.tls.credentials()
                self.port = self._server.add_secure_port(self.address, credentials)
        except RuntimeError as exc:
            raise RuntimeError(f"cannot listen on {self.address}: {exc}") from exc
        await self._server.start()
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": self.address, "port": self.port, **self.security})
        if self.access is None:
            log.warning(
                "the service is open: every caller may do everything",
                extra={"address": self.address},
            )
        return self.port

    @property
    def security(self) -> dict[str, str]:
        """How callers are authenticated and their traffic protected, for the logs."""
        transport = "plaintext" if self.tls is None else "tls"
        kinds = []
        if self.access is not None and self.access.tokens is not None:
            kinds.append(f"tokens ({len(self.access.tokens)})")
        if self.tls is not None and self.tls.material.mutual:
            transport = "mutual tls"
            kinds.append("client certificates")
        return {"transport": transport, "authentication": " and ".join(kinds) or "none"}

    async def stop(self, *, drain_seconds: float = 0.0, grace_seconds: float = 5.0) -> None:
        """Report NOT_SERVING, give balancers `drain_seconds` to notice, refuse new plans,
        let calls in flight finish for `grace_seconds`, then stop the executions (a durable
        store resumes them on the next start). A replica hands its executions over to the
        others at once, and queues new plans for them while it drains."""
        await self._health.enter_graceful_shutdown()
        await self.executor.hand_over()
        if drain_seconds > 0:
            await asyncio.sleep(drain_seconds)
        self.executor.start_closing()
        await self._server.stop(grace_seconds)
        await self.executor.close()
        await self._store.close()
        if self.telemetry is not None:
            await self.telemetry.shutdown()  # after the executions, whose spans it exports
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()
