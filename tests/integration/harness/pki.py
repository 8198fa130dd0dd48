"""A throw-away PKI for the tests and the demo: a CA, Envoy's server certificate and SPIFFE clients.

Client certificates carry exactly one SAN, the URI `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`, which is
what Istio's workload certificates carry and what the plugin turns into the peer principal.

    python -m tests.integration.harness.pki DIR   # writes ca.crt, server.crt, server.key and clients
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The clients `python -m ... DIR` writes besides the server certificate: (namespace, service account).
DEFAULT_CLIENTS = [("default", "frontend"), ("other", "frontend"), ("production", "frontend")]
SERVER_SPIFFE = "spiffe://cluster.local/ns/default/sa/backend"
# The ingress gateway's host (seed 000's `app-gateway`): envoy/gateway.yaml serves server.crt for it.
GATEWAY_HOST = "app.example.com"
_VALIDITY = datetime.timedelta(days=365)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshguard-test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


class TestPKI:
    """A CA kept in `directory`; server and client certificates are issued on demand and cached there."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_cert_path = self.dir / "ca.crt"
        ca_key_path = self.dir / "ca.key"
        if self.ca_cert_path.exists() and ca_key_path.exists():
            self._ca_cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
            self._ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        else:
            self._ca_key = _key()
            now = datetime.datetime.now(datetime.timezone.utc)
            self._ca_cert = (
                x509.CertificateBuilder()
                .subject_name(_name("meshguard test CA"))
                .issuer_name(_name("meshguard test CA"))
                .public_key(self._ca_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + _VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
                )
                .sign(self._ca_key, hashes.SHA256())
            )
            _write(ca_key_path, _pem_key(self._ca_key))
            _write(self.ca_cert_path, self._ca_cert.public_bytes(serialization.Encoding.PEM))

    def _issue(self, cert_path: Path, key_path: Path, cn: str, sans: list[x509.GeneralName], usage) -> CertPair:
        if cert_path.exists() and key_path.exists():
            return CertPair(cert_path, key_path)
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        _write(key_path, _pem_key(key))
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return CertPair(cert_path, key_path)

    def server_cert(self) -> CertPair:
        """Envoy's certificate: localhost, 127.0.0.1, the gateway's app.example.com and the backend's
        SPIFFE identity."""
        sans = [
            x509.DNSName("localhost"),
            x509.DNSName(GATEWAY_HOST),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.UniformResourceIdentifier(SERVER_SPIFFE),
        ]
        return self._issue(
            self.dir / "server.crt", self.dir / "server.key", "localhost", sans, ExtendedKeyUsageOID.SERVER_AUTH
        )

    def client_cert(self, ns: str, sa: str, trust_domain: str = "cluster.local") -> CertPair:
        """A workload certificate whose only SAN is `spiffe://<trust_domain>/ns/<ns>/sa/<sa>`."""
        return self.client_cert_uri(f"spiffe://{trust_domain}/ns/{ns}/sa/{sa}", f"{sa}.{ns}")

    def client_cert_uri(self, uri: str, cn: str = "workload") -> CertPair:
        """A client certificate whose only SAN is the URI `uri`, whatever it holds."""
        stem = "client-" + hashlib.sha256(uri.encode()).hexdigest()[:16]
        return self._issue(
            self.dir / f"{stem}.crt",
            self.dir / f"{stem}.key",
            cn,
            [x509.UniformResourceIdentifier(uri)],
            ExtendedKeyUsageOID.CLIENT_AUTH,
        )


def client_cert(ns: str, sa: str, trust_domain: str = "cluster.local", directory: str | Path = "envoy/certs") -> CertPair:
    """Module-level shortcut: a client certificate from the PKI kept in `directory`."""
    return TestPKI(directory).client_cert(ns, sa, trust_domain)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.integration.harness.pki DIR", file=sys.stderr)
        return 2
    pki = TestPKI(argv[1])
    pki.server_cert()
    for ns, sa in DEFAULT_CLIENTS:
        pki.client_cert(ns, sa)
    print(f"test PKI in {pki.dir}: ca.crt, server.crt/.key, clients {', '.join(f'{n}/{s}' for n, s in DEFAULT_CLIENTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
