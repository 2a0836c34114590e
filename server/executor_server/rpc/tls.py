"""TLS for the listener, and mutual TLS when a client CA is given; certificates can be
replaced while serving (the next handshakes use them)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import grpc


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: the server's certificate chain and key, and the CA that client
    certificates must chain to (None: clients need none)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def load(self) -> TlsMaterial:
        """Raises OSError when a file cannot be read, ValueError when one is not PEM of
        the kind it should be."""
        return TlsMaterial(
            _pem(self.cert, b"CERTIFICATE", "--tls-cert"),
            _pem(self.key, b"PRIVATE KEY", "--tls-key"),
            _pem(self.client_ca, b"CERTIFICATE", "--tls-client-ca") if self.client_ca else None,
        )


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self.private_key, self.cert_chain)], root_certificates=self.client_ca
        )


class ServerTls:
    """The listener's credentials. `replace` hands new certificates to the handshakes that
    follow; connections already open keep theirs."""

    def __init__(self, material: TlsMaterial) -> None:
        self.material = material
        self._next: grpc.ServerCertificateConfiguration | None = None
        self._lock = threading.Lock()  # gRPC asks for the next one from its own threads

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self.material.configuration(),
            self._fetch,  # type: ignore[arg-type]  # None keeps the current one (grpc docs)
            require_client_authentication=self.material.mutual,
        )

    def replace(self, material: TlsMaterial) -> None:
        """Raises ValueError when `material` would turn mutual TLS on or off: that changes
        who may call, and takes a restart."""
        if material.mutual != self.material.mutual:
            raise ValueError("client certificates cannot be turned on or off without a restart")
        configuration = material.configuration()
        with self._lock:
            self.material, self._next = material, configuration

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            configuration, self._next = self._next, None
        return configuration  # None: keep the current one


def _pem(path: Path, kind: bytes, flag: str) -> bytes:
    data = path.read_bytes()
    if b"-----BEGIN " not in data or kind not in data:
        raise ValueError(f"{flag} {path}: not a PEM file holding a {kind.decode().lower()}")
    return data
