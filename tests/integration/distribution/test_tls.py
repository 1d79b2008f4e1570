"""A registry that is not on loopback is spoken to over verified TLS only, with the CA and
client certificate of `/etc/docker/certs.d/<host:port>/` (Docker's layout: `*.crt` CAs,
`*.cert` + `*.key` client pairs). The registry is Debian's docker-registry serving TLS
and asking for a client certificate, in a network namespace the test makes (an address
that is not loopback is what makes pierd verify), reached over a veth pair."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pier_testing.daemon import PierDaemon
from pier_testing.netpool import claim_subnet, release_subnet
from pier_testing.registry import DOCKER_REGISTRY
from pier_testing.transfer import errors, pull, push, random_image, statuses

CERTS_D = Path("/etc/docker/certs.d")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _certificates(directory: Path, server_ip: str) -> dict[str, Path]:
    """A CA, a server certificate for `server_ip` and a client certificate it signed."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=pier tls test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    out = {"ca": ca}
    for name, ext in (
        ("server", f"extendedKeyUsage=serverAuth\nsubjectAltName=IP:{server_ip}\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        key, csr, cert = (directory / f"{name}{s}" for s in (".key", ".csr", ".cert"))
        (directory / f"{name}.ext").write_text(ext)
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(cert), "-days", "2",
            "-extfile", str(directory / f"{name}.ext"),
        )  # fmt: skip
        out[name], out[f"{name}_key"] = cert, key
    return out


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class TLSRegistry:
    address: str  # 10.N.0.2:5000
    certs: dict[str, Path]
    certs_d: Path  # /etc/docker/certs.d/<address>

    def trust(self, *, client: bool) -> None:
        """Lay out certs.d as a user would: the CA, and the client pair when asked."""
        shutil.rmtree(self.certs_d, ignore_errors=True)
        self.certs_d.mkdir(parents=True)
        shutil.copy(self.certs["ca"], self.certs_d / "ca.crt")
        if client:
            shutil.copy(self.certs["client"], self.certs_d / "client.cert")
            shutil.copy(self.certs["client_key"], self.certs_d / "client.key")


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[TLSRegistry]:
    tag = secrets.token_hex(3)
    net = claim_subnet(f"tls-registry-{tag}")
    ns, host_if, ns_if = f"ptls{tag}", f"ptl{tag}h", f"ptl{tag}n"
    server_ip = f"10.{net}.0.2"
    address = f"{server_ip}:5000"
    certs = _certificates(tmp_path / "certs", server_ip)
    storage = tmp_path / "storage"
    config = tmp_path / "config.yml"
    # JSON is YAML. The registry asks every client for a certificate signed by the CA.
    config.write_text(
        '{"version": 0.1, "log": {"level": "info"},'
        f' "storage": {{"filesystem": {{"rootdirectory": "{storage}"}}}},'
        f' "http": {{"addr": "{address}", "secret": "pier-tests", "tls": {{'
        f'"certificate": "{certs["server"]}", "key": "{certs["server_key"]}",'
        f' "clientcas": ["{certs["ca"]}"]}}}}}}'
    )
    proc: subprocess.Popen[bytes] | None = None
    certs_d = CERTS_D / address
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
        _ip("addr", "add", f"10.{net}.0.1/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", f"{server_ip}/24", "dev", ns_if)
        _ip("-n", ns, "link", "set", ns_if, "up")
        log = open(tmp_path / "registry.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, DOCKER_REGISTRY, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex((server_ip, 5000)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "registry.log").read_text()[-3000:])
            time.sleep(0.05)
        yield TLSRegistry(address=address, certs=certs, certs_d=certs_d)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(certs_d, ignore_errors=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        release_subnet(net)


def test_pull_and_push_over_tls_with_certs_d(
    pier: PierDaemon, tls_registry: TLSRegistry, tmp_path: Path
) -> None:
    repo = f"{tls_registry.address}/tls/img"
    tls_registry.trust(client=True)
    image_id = random_image(pier.client, tmp_path, repo, 100_000)
    pushed = statuses(push(pier.client, repo))
    assert pushed[-1].startswith("latest: digest: sha256:"), pushed
    pier.client.delete(f"/images/{repo}:latest")

    # Without the CA the registry's certificate is not trusted: no pull, no plain HTTP.
    shutil.rmtree(tls_registry.certs_d)
    message = _pull_error(pier, repo)
    assert f'Get "https://{tls_registry.address}/v2/"' in message, message
    assert "x509: certificate signed by unknown authority" in message, message

    # The CA alone: the registry refuses a client without a certificate.
    tls_registry.trust(client=False)
    message = _pull_error(pier, repo)
    # Go's words for the registry's alert (TLS 1.2: bad certificate; 1.3: required).
    assert f'Get "https://{tls_registry.address}/v2/": remote error: tls: ' in message, message
    assert message.endswith((": tls: bad certificate", ": tls: certificate required")), message

    # A key without its certificate is refused as dockerd refuses it.
    (tls_registry.certs_d / "client.key").write_bytes(tls_registry.certs["client_key"].read_bytes())
    message = _pull_error(pier, repo)
    assert "missing client certificate client.cert for key client.key" in message, message

    tls_registry.trust(client=True)
    pulled = statuses(pull(pier.client, repo))
    assert pulled[-1] == f"Status: Downloaded newer image for {repo}:latest"
    assert pier.client.get_json(f"/images/{repo}/json")["Id"] == image_id


def _pull_error(pier: PierDaemon, repo: str) -> str:
    from pier.client.errors import APIError

    try:
        messages = pull(pier.client, repo)
    except APIError as exc:
        return str(exc)
    failed = errors(messages)
    assert failed, messages
    return failed[0]
