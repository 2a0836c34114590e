"""`executor` over TLS and mutual TLS, as a user runs it: the command line in a child
process against `executor serve --tls-cert/--tls-key [--tls-client-ca]` in another, with
certificates the test makes; refusals are exit 2 with a hint, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from tests.support.cli import EXAMPLES, executor, serving
from tests.support.pki import Pki, make_pki

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    probe = grpc.ssl_channel_credentials(pki.ca.read_bytes())
    data = tmp_path_factory.mktemp("tls-serve")
    with serving(data, *pki.serve_flags(mutual=False), credentials=probe) as (address, _log):
        yield address


@pytest.fixture(scope="module")
def mtls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    probe = grpc.ssl_channel_credentials(
        pki.ca.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes()
    )
    data = tmp_path_factory.mktemp("mtls-serve")
    with serving(data, *pki.serve_flags(mutual=True), credentials=probe) as (address, _log):
        yield address


def test_tls_with_the_ca_from_the_environment(tls_server: str, pki: Pki) -> None:
    result = executor("tools", server=tls_server, env={"EXECUTOR_TLS_CA": str(pki.ca)})
    assert result.code == 0, result.stderr
    assert "echo" in result.stdout


@pytest.mark.parametrize(
    ("flags", "hint"),
    [
        (["--tls-ca", "OTHER"], "is not trusted: pass the CA that signed it with --tls-ca"),
        (["--tls"], "is not trusted"),  # the system's CAs never signed the test's
        ([], "if it speaks TLS, pass --tls-ca"),
        (["--tls-ca", "CA", "--tls-server-name", "elsewhere.example"], "--tls-server-name"),
    ],
    ids=["untrusted CA", "system CAs", "plaintext", "another name"],
)
def test_a_server_the_client_cannot_verify_is_refused(
    tls_server: str, pki: Pki, flags: list[str], hint: str
) -> None:
    files = {"OTHER": str(pki.other_ca), "CA": str(pki.ca)}
    result = executor("tools", *(files.get(f, f) for f in flags), server=tls_server)
    assert result.code == 2, result.stdout
    assert "error: UNAVAILABLE" in result.stderr and hint in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_mutual_tls_runs_a_plan_with_the_client_certificate(mtls_server: str, pki: Pki) -> None:
    result = executor(
        "run",
        EXAMPLES / "fan-out-files.yaml",
        "--tls-ca",
        pki.ca,
        "--tls-cert",
        pki.client_cert,
        "--tls-key",
        pki.client_key,
        server=mtls_server,
    )
    assert result.code == 0, result.stderr
    assert "(word-count): COMPLETED" in result.stdout


def test_mutual_tls_refuses_a_client_without_a_certificate(mtls_server: str, pki: Pki) -> None:
    result = executor("list", "--tls-ca", pki.ca, server=mtls_server)
    assert result.code == 2, result.stdout
    assert "asks for a client certificate (mutual TLS), pass --tls-cert and --tls-key" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "error"),
    [
        (
            {"EXECUTOR_TLS_CA": "missing.pem"},
            "Invalid value for --tls-ca (env EXECUTOR_TLS_CA): cannot read missing.pem: "
            "No such file or directory",
        ),
        (
            {"EXECUTOR_TLS_CA": "KEY"},
            "Invalid value for --tls-ca (env EXECUTOR_TLS_CA): KEY is not a PEM file holding a "
            "certificate",
        ),
        ({"EXECUTOR_TLS_CERT": "CERT"}, "--tls-cert and --tls-key go together"),
    ],
    ids=["missing file", "a key for a certificate", "a certificate without its key"],
)
def test_bad_tls_options_are_usage_errors(
    pki: Pki, tmp_path: Path, env: dict[str, str], error: str
) -> None:
    # Checked before any connection: no server needed.
    files = {"KEY": str(pki.client_key), "CERT": str(pki.client_cert)}
    env = {k: files.get(v, v) for k, v in env.items()}
    result = executor("status", "x", server="127.0.0.1:1", env=env)
    assert result.code == 2
    assert error.replace("KEY", str(pki.client_key)) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
