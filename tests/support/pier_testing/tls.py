"""Certificates for TLS tests, made with the openssl command: a CA, a server certificate
for 127.0.0.1, a client certificate, laid out as the docker CLI's DOCKER_CERT_PATH
expects (ca.pem, cert.pem, key.pem)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Authority:
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str = "ca") -> Authority:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN=pier test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return Authority(cert=cert, key=key)


def issue(ca: Authority, directory: Path, name: str, *, server: bool) -> Pair:
    """A certificate signed by `ca`: for serving on 127.0.0.1, or for a client."""
    directory.mkdir(parents=True, exist_ok=True)
    key, csr, cert = (directory / f"{name}{suffix}" for suffix in ("-key.pem", ".csr", ".pem"))
    ext = directory / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    lines = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature"]
    if server:
        lines.append("subjectAltName=IP:127.0.0.1,DNS:localhost")
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    return Pair(cert=cert, key=key)


def docker_cert_path(ca: Authority, client: Pair, directory: Path) -> Path:
    """The docker CLI's certificate directory: ca.pem, cert.pem, key.pem."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.cert.read_bytes())
    (directory / "cert.pem").write_bytes(client.cert.read_bytes())
    (directory / "key.pem").write_bytes(client.key.read_bytes())
    return directory
