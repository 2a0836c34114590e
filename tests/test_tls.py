"""TLS and mutual TLS handshakes, with certificates each test makes (trustme)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from tests.support.tools import make_registry

from executor_client import (
    AsyncExecutorClient,
    ExecutorClient,
    UnavailableError,
    executor_pb2,
    plan,
    status_name,
    step,
)
from executor_server.domain.access import parse_tokens
from executor_server.engine.executor import Executor
from executor_server.rpc.server import ExecutorServer
from executor_server.rpc.tls import TlsFiles, TlsMaterial
from executor_server.store.memory import MemoryStore

pb = executor_pb2
Serve = Callable[..., "AsyncIterator[str]"]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _server_material(ca: trustme.CA, client_ca: trustme.CA | None = None) -> TlsMaterial:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    return TlsMaterial(
        cert_chain=b"".join(p.bytes() for p in cert.cert_chain_pems),
        private_key=cert.private_key_pem.bytes(),
        client_ca=client_ca.cert_pem.bytes() if client_ca else None,
    )


async def _serve(tmp_path: Path, tls: TlsMaterial, tokens: str = "") -> tuple[ExecutorServer, str]:
    executor = Executor(make_registry(), MemoryStore(), workspace_root=tmp_path)
    table = parse_tokens(tokens.splitlines(), "tokens") or None
    server = ExecutorServer(executor, MemoryStore(), address="127.0.0.1:0", tokens=table, tls=tls)
    port = await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
async def tls_server(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[str]:
    server, address = await _serve(tmp_path, _server_material(ca))
    try:
        yield address
    finally:
        await server.stop(grace_seconds=1)


@pytest.fixture
async def mtls_server(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[str]:
    server, address = await _serve(tmp_path, _server_material(ca, client_ca=ca))
    try:
        yield address
    finally:
        await server.stop(grace_seconds=1)


async def test_a_client_that_trusts_the_ca_speaks_tls(tls_server: str, ca: trustme.CA) -> None:
    async with AsyncExecutorClient(tls_server, tls_ca=ca.cert_pem.bytes()) as client:
        result = await client.execute_plan(plan(step("echo", {"x": 1})))
    assert status_name(result.status) == "COMPLETED"


async def test_the_blocking_client_takes_the_same_options(
    tls_server: str, ca: trustme.CA, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def names() -> set[str]:  # in a thread: the server runs on this test's loop
        with ExecutorClient(tls_server, tls_ca=ca_file) as client:
            return {t.name for t in client.list_tools()}

    assert await asyncio.to_thread(names) >= {"echo"}


@pytest.mark.parametrize("how", ["untrusted CA", "plaintext", "system roots"])
async def test_a_client_that_cannot_verify_the_server_is_refused(tls_server: str, how: str) -> None:
    other = trustme.CA()
    choices: dict[str, dict[str, Any]] = {
        "untrusted CA": {"tls_ca": other.cert_pem.bytes()},
        "plaintext": {},
        "system roots": {"tls": True},
    }
    kwargs = choices[how]
    async with AsyncExecutorClient(tls_server, timeout=5, **kwargs) as client:
        with pytest.raises(UnavailableError):
            await client.list_tools()


async def test_mutual_tls_admits_a_client_with_a_certificate_from_the_ca(
    mtls_server: str, ca: trustme.CA
) -> None:
    cert = ca.issue_cert("planner@example.com", common_name="planner")
    async with AsyncExecutorClient(
        mtls_server,
        tls_ca=ca.cert_pem.bytes(),
        tls_cert=b"".join(p.bytes() for p in cert.cert_chain_pems),
        tls_key=cert.private_key_pem.bytes(),
    ) as client:
        p = plan(step("echo", {"x": 1}))
        result = await client.execute_plan(p)
        assert status_name(result.status) == "COMPLETED"
        events = [e async for e in client.watch(p.id)]
    # The certificate's common name is the caller's name.
    assert events[0].actor == "planner"


@pytest.mark.parametrize("how", ["no certificate", "untrusted CA", "expired"])
async def test_mutual_tls_refuses_a_client_without_a_good_certificate(
    mtls_server: str, ca: trustme.CA, how: str
) -> None:
    if how == "untrusted CA":
        cert: trustme.LeafCert | None = trustme.CA().issue_cert("intruder")
    elif how == "expired":
        now = datetime.datetime.now(datetime.UTC)
        cert = ca.issue_cert(
            "late",
            not_before=now - datetime.timedelta(days=10),
            not_after=now - datetime.timedelta(days=1),
        )
    else:
        cert = None
    kwargs: dict[str, Any] = (
        {
            "tls_cert": b"".join(p.bytes() for p in cert.cert_chain_pems),
            "tls_key": cert.private_key_pem.bytes(),
        }
        if cert
        else {}
    )
    async with AsyncExecutorClient(
        mtls_server, tls_ca=ca.cert_pem.bytes(), timeout=5, **kwargs
    ) as client:
        with pytest.raises(UnavailableError):
            await client.list_tools()


async def test_a_server_with_an_expired_certificate_is_refused(
    tmp_path: Path, ca: trustme.CA
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    cert = ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=10),
        not_after=now - datetime.timedelta(days=1),
    )
    material = TlsMaterial(
        b"".join(p.bytes() for p in cert.cert_chain_pems), cert.private_key_pem.bytes()
    )
    server, address = await _serve(tmp_path, material)
    try:
        async with AsyncExecutorClient(address, tls_ca=ca.cert_pem.bytes(), timeout=5) as client:
            with pytest.raises(UnavailableError):
                await client.list_tools()
    finally:
        await server.stop(grace_seconds=1)


async def test_tokens_still_decide_the_role_over_mutual_tls(tmp_path: Path, ca: trustme.CA) -> None:
    server, address = await _serve(
        tmp_path, _server_material(ca, client_ca=ca), tokens="v-token viewer vera"
    )
    cert = ca.issue_cert("planner")
    client_kwargs: dict[str, Any] = {
        "tls_ca": ca.cert_pem.bytes(),
        "tls_cert": b"".join(p.bytes() for p in cert.cert_chain_pems),
        "tls_key": cert.private_key_pem.bytes(),
    }
    try:
        async with AsyncExecutorClient(address, token="v-token", **client_kwargs) as client:
            assert {t.name for t in await client.list_tools()} >= {"echo"}
        async with AsyncExecutorClient(address, **client_kwargs) as client:
            with pytest.raises(Exception, match="UNAUTHENTICATED"):
                await client.list_tools()
    finally:
        await server.stop(grace_seconds=1)


def test_tls_files_must_be_pem_of_their_kind(tmp_path: Path, ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    assert not TlsFiles(cert_file, key_file).load().mutual
    with pytest.raises(ValueError, match=r"--tls-key .*: not a PEM file holding a private key"):
        TlsFiles(cert_file, cert_file).load()
    with pytest.raises(FileNotFoundError):
        TlsFiles(cert_file, key_file, tmp_path / "missing.pem").load()
