"""TLS for the listener, and mutual TLS when a client CA is given."""

from __future__ import annotations

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

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.mutual,
        )


def _pem(path: Path, kind: bytes, flag: str) -> bytes:
    data = path.read_bytes()
    if b"-----BEGIN " not in data or kind not in data:
        raise ValueError(f"{flag} {path}: not a PEM file holding a {kind.decode().lower()}")
    return data
