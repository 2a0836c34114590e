"""`executor serve` as users run it: the start-up refusal of an open network listener, the
mode it logs, and the token file re-read on SIGHUP."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trustme
from tests.support.proc import ServerProcess, free_port, wait_until

from executor_client import (
    AsyncExecutorClient,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)


def _ready(server: ServerProcess) -> dict[str, object]:
    return next(
        r for r in server.log_records() if str(r.get("event")).startswith("executor serving on")
    )


async def test_an_open_listener_on_the_network_is_refused_at_start(tmp_path: Path) -> None:
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "log",
        extra=("--in-memory",),
        bind="0.0.0.0",
    )
    try:
        await server.start()
        assert await server.wait_exit(30) == 2
        refusal = next(r for r in server.log_records() if r.get("event") == "cannot serve")
        assert "refusing to serve 0.0.0.0:" in refusal["error"]
        assert "--allow-unauthenticated" in refusal["error"]
    finally:
        await server.kill()


async def test_allow_unauthenticated_serves_and_the_log_says_so(tmp_path: Path) -> None:
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "log",
        extra=("--in-memory", "--allow-unauthenticated"),
        bind="0.0.0.0",
    )
    try:
        await server.start()
        await server.wait_serving()
        ready = _ready(server)
        assert (ready["transport"], ready["authentication"]) == ("plaintext", "none")
        warnings = [r["event"] for r in server.log_records() if r.get("level") == "warning"]
        assert any("the service is open" in w for w in warnings)
        # SIGHUP with no token file to re-read does not stop the server.
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        await wait_until(
            lambda: "no token file, certificates or secrets to reload" in server.log_text()
        )
        await server.wait_serving()
    finally:
        await server.kill()


async def test_sighup_reloads_the_token_file_and_a_broken_one_keeps_the_old(
    tmp_path: Path,
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("tok-alpha-9f2 viewer alice\n")
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "log",
        extra=("--in-memory", "--auth-token-file", str(tokens)),
    )
    try:
        await server.start()
        await server.wait_serving()
        ready = _ready(server)
        assert (ready["transport"], ready["authentication"]) == ("plaintext", "tokens (1)")
        assert server.process is not None

        async def reload(expect: str) -> None:
            before = server.log_text().count(expect)
            server.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            await wait_until(lambda: server.log_text().count(expect) > before)

        async with AsyncExecutorClient(server.address, token="tok-alpha-9f2") as first:
            await first.list_tools()
            with pytest.raises(PermissionDeniedError):
                await first.delete_execution("00000000-0000-4000-8000-000000000001")

            tokens.write_text("tok-alpha-9f2 operator alice\ntok-beta-7c1 viewer bob\n")
            await reload("token file reloaded")
            # alice is an operator now: the delete is refused for what it names, not her role
            with pytest.raises(Exception, match="NOT_FOUND"):
                await first.delete_execution("00000000-0000-4000-8000-000000000001")

            tokens.write_text("tok-beta-7c1 admin bob\n")  # no such role: not taken
            await reload("token file not reloaded")
            await first.list_tools()
            tokens.write_text("")  # no tokens at all would lock everyone out: not taken
            await reload("token file not reloaded")
            await first.list_tools()

            tokens.write_text("tok-beta-7c1 viewer bob\n")
            await reload("token file reloaded")
            with pytest.raises(UnauthenticatedError):
                await first.list_tools()
        async with AsyncExecutorClient(server.address, token="tok-beta-7c1") as second:
            await second.list_tools()
        refused = [r for r in server.log_records() if r["event"].startswith("token file not")]
        assert "unknown role 'admin'" in refused[0]["error"]
        assert "tok-alpha" not in server.log_text() and "tok-beta" not in server.log_text()
    finally:
        await server.kill()


async def test_a_token_file_without_tokens_is_refused_at_start(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# nothing here yet\n")
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "log",
        extra=("--in-memory", "--auth-token-file", str(tokens)),
    )
    try:
        await server.start()
        assert await server.wait_exit(30) == 2
        assert "has no tokens" in server.log_text()
    finally:
        await server.kill()


def _write_cert(ca: trustme.CA, cert: Path, key: Path) -> None:
    issued = ca.issue_cert("127.0.0.1")
    cert.write_bytes(b"".join(p.bytes() for p in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())


async def test_sighup_reloads_the_certificates_for_new_connections(tmp_path: Path) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    _write_cert(old_ca, cert, key)
    server = ServerProcess(
        port=free_port(),
        data_dir=tmp_path,
        log=tmp_path / "log",
        extra=("--in-memory", "--tls-cert", str(cert), "--tls-key", str(key)),
    )
    try:
        await server.start()
        await wait_until(lambda: "executor serving on" in server.log_text())
        assert _ready(server)["transport"] == "tls"
        assert server.process is not None

        async def reload(expect: str) -> None:
            before = server.log_text().count(expect)
            server.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            await wait_until(lambda: server.log_text().count(expect) > before)

        async def works(ca: trustme.CA) -> bool:
            async with AsyncExecutorClient(
                server.address, tls_ca=ca.cert_pem.bytes(), timeout=5
            ) as client:
                try:
                    await client.list_tools()
                except UnavailableError:
                    return False
                return True

        assert await works(old_ca)
        _write_cert(new_ca, cert, key)
        await reload("certificates reloaded")
        assert await works(new_ca)
        assert not await works(old_ca)
        key.write_text("not a key")
        await reload("certificates not reloaded")
        assert await works(new_ca)
    finally:
        await server.kill()
