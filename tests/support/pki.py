"""Certificate files for TLS tests, as an operator would have them on disk (trustme)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (common
    name `client`) it issued, and a CA nobody trusts; each a PEM file in `root`."""

    root: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path

    def serve_flags(self, *, mutual: bool) -> list[str]:
        """`executor serve` flags for TLS, or mutual TLS with this CA."""
        flags = ["--tls-cert", str(self.server_cert), "--tls-key", str(self.server_key)]
        return [*flags, "--tls-client-ca", str(self.ca)] if mutual else flags


def _write(path: Path, leaf: trustme.LeafCert) -> tuple[Path, Path]:
    cert, key = path.with_suffix(".pem"), path.with_suffix(".key")
    cert.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    # PKCS#8 ("BEGIN PRIVATE KEY"), what openssl genpkey writes and every client reads
    # (Java's wants exactly this).
    private = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def make_pki(root: Path) -> Pki:
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    other.cert_pem.write_to_path(str(root / "other-ca.pem"))
    server_cert, server_key = _write(root / "server", ca.issue_cert("127.0.0.1", "localhost"))
    # Java refuses a certificate whose subjectAltName is empty: the client has an address.
    client = ca.issue_cert("client@example.com", common_name="client")
    client_cert, client_key = _write(root / "client", client)
    return Pki(
        root,
        root / "ca.pem",
        server_cert,
        server_key,
        client_cert,
        client_key,
        root / "other-ca.pem",
    )
