"""Network modes and names: host, none, container:<name>, --dns*, --add-host (with
host-gateway), --hostname/--domainname, --link, --sysctl net.*, and the embedded DNS
forwarding other names to the upstream resolvers (a fake one on loopback)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from pier_testing.daemon import PierDaemon
from pier_testing.netcli import Docker


def test_host_none_and_container_modes(docker: Docker) -> None:
    host = docker.ok("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link", "show",
                     "eth0")  # fmt: skip
    mac = Path("/sys/class/net/eth0/address").read_text().strip()  # the host's own link
    assert mac in host
    none = docker.ok("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in none.strip().splitlines()] == ["lo"]
    docker.ok("run", "-d", "--name", "owner", "busybox", "sleep", "60")
    ip = docker.inspect("owner", "{{.NetworkSettings.IPAddress}}")
    shared = docker.ok("run", "--rm", "--network", "container:owner", "busybox",
                       "ip", "-o", "-4", "addr", "show", "eth0")  # fmt: skip
    assert ip in shared


def test_names_and_resolver_options(docker: Docker) -> None:
    docker.ok("run", "-d", "--name", "peer", "busybox", "sleep", "60")
    peer_ip = docker.inspect("peer", "{{.NetworkSettings.IPAddress}}")
    out = docker.ok(
        "run", "--rm", "--hostname", "box", "--domainname", "example.test",
        "--dns", "192.0.2.53", "--dns-search", "corp.test", "--dns-option", "ndots:2",
        "--add-host", "db:192.0.2.7", "--add-host", "gw:host-gateway",
        "--link", "peer:pal", "--sysctl", "net.ipv4.ip_forward=1",
        "busybox", "sh", "-c",
        "cat /etc/hosts /etc/resolv.conf; hostname; cat /proc/sys/net/ipv4/ip_forward",
    )  # fmt: skip
    gateway = docker.inspect("peer", "{{.NetworkSettings.Gateway}}")
    assert "192.0.2.7\tdb" in out and f"{gateway}\tgw" in out
    assert f"{peer_ip}\tpal " in out and " peer" in out
    assert "box.example.test box" in out
    assert "nameserver 192.0.2.53" in out and "search corp.test" in out
    assert "options ndots:2" in out
    assert out.strip().splitlines()[-2:] == ["box", "1"]


class FakeUpstream:
    """A DNS server on a loopback address of the host answering one name."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for last in range(2, 250):
            try:
                self.sock.bind((f"127.53.{os.getpid() % 250}.{last}", 53))
                break
            except OSError:
                continue
        self.address = self.sock.getsockname()[0]
        self.sock.settimeout(0.2)
        self.asked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = DNSRecord.parse(data)
            name = str(query.q.qname)
            self.asked.append(name)
            reply = query.reply()
            if name == "outside.example." and query.q.qtype == QTYPE.A:
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("198.51.100.7"), ttl=60))
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    yield server
    server.close()


def test_embedded_dns_forwards_other_names(
    docker: Docker, pier: PierDaemon, upstream: FakeUpstream
) -> None:
    docker.ok("network", "create", "fwd")
    docker.ok("run", "-d", "--name", "local", "--network", "fwd", "busybox", "sleep", "60")
    out = docker.ok("run", "--rm", "--network", "fwd", "--dns", upstream.address, "busybox",
                    "sh", "-c", "nslookup outside.example; nslookup local")  # fmt: skip
    assert "198.51.100.7" in out
    assert docker.inspect("local", "{{.NetworkSettings.Networks.fwd.IPAddress}}") in out
    assert "outside.example." in upstream.asked
    assert not any(name.startswith("local") for name in upstream.asked)
