"""Published ports through the docker CLI: TCP and UDP reached from the host on
127.0.0.1 and the host's own address, from another container through the host, random
ports, ranges, -P; reported in inspect, ps and `port`; a taken port is a 500 that
leaves nothing behind; the rules go with the container."""

from __future__ import annotations

import json
import socket
import subprocess
import time

from pier_testing.netcli import Docker
from pier_testing.ports import free_port

HTTPD = ("busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
# A UDP echo server: busybox has none, so the host's python runs in the container.
UDP_ECHO = (
    "-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro", "busybox",
    "/usr/bin/python3", "-c",
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('0.0.0.0', 5000))\n"
    "while True:\n"
    "    data, peer = s.recvfrom(2048)\n"
    "    s.sendto(b'echo:' + data, peer)\n",
)  # fmt: skip


def _http(host: str, port: int, deadline: float = 10.0) -> str:
    """GET /hostname, retried until the server in the container listens."""
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=3) as conn:
                conn.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                if data:
                    return data.decode()
        except OSError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"nothing answered on {host}:{port}")
        time.sleep(0.05)


def _udp(host: str, port: int, deadline: float = 10.0) -> bytes:
    end = time.monotonic() + deadline
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        while time.monotonic() < end:
            sock.sendto(b"ping", (host, port))
            try:
                return sock.recv(100)
            except TimeoutError:
                continue
    raise AssertionError(f"no UDP answer from {host}:{port}")


def _host_address() -> str:
    out = subprocess.run(["ip", "-o", "-4", "route", "get", "192.0.2.1"],
                         capture_output=True, text=True).stdout  # fmt: skip
    return out.split(" src ")[1].split()[0]


def test_tcp_port_on_loopback_host_address_and_from_containers(docker: Docker) -> None:
    port = free_port()
    cid = docker.ok("run", "-d", "--name", "web", "-p", f"{port}:80", *HTTPD).strip()
    assert cid[:12] in _http("127.0.0.1", port)
    assert cid[:12] in _http(_host_address(), port)
    # Another container through the host: the default bridge's gateway.
    gateway = docker.inspect("web", "{{.NetworkSettings.Gateway}}")
    request = "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n'"
    out = docker.ok("run", "--rm", "busybox", "sh", "-c", f"{request} | nc -w 3 {gateway} {port}")
    assert cid[:12] in out
    ports = json.loads(docker.inspect("web", "{{json .NetworkSettings.Ports}}"))
    assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    bindings = json.loads(docker.inspect("web", "{{json .HostConfig.PortBindings}}"))
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert docker.ok("port", "web").strip() == f"80/tcp -> 0.0.0.0:{port}"
    assert f"0.0.0.0:{port}->80/tcp" in docker.ok("ps", "--format", "{{.Ports}}")
    docker.ok("rm", "-f", "web")
    with socket.socket() as probe:  # the port is free again, and nothing answers
        probe.bind(("0.0.0.0", port))


def test_udp_random_ports_ranges_and_publish_all(docker: Docker) -> None:
    docker.ok("run", "-d", "--name", "echo", "-p", "127.0.0.1::5000/udp", *UDP_ECHO)
    line = docker.ok("port", "echo", "5000/udp").strip()
    host_ip, _, host_port = line.rpartition(":")
    assert host_ip == "127.0.0.1" and int(host_port) > 1024
    assert _udp("127.0.0.1", int(host_port)) == b"echo:ping"
    base = free_port(2)
    docker.ok("run", "-d", "--name", "ranged", "-p", f"{base}-{base + 1}:80-81", *HTTPD)
    ports = json.loads(docker.inspect("ranged", "{{json .NetworkSettings.Ports}}"))
    assert ports["80/tcp"][0]["HostPort"] == str(base)
    assert ports["81/tcp"][0]["HostPort"] == str(base + 1)
    docker.ok("run", "-d", "--name", "all", "-P", "--expose", "80", "--expose", "90/udp", *HTTPD)
    ports = json.loads(docker.inspect("all", "{{json .NetworkSettings.Ports}}"))
    assert set(ports) == {"80/tcp", "90/udp"}
    published = int(ports["80/tcp"][0]["HostPort"])
    assert " 200 OK" in _http("127.0.0.1", published)


def test_taken_port_is_a_500_and_leaves_nothing(docker: Docker) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = docker("run", "-d", "--name", "clash", "-p", f"{port}:80", *HTTPD)
        assert out.returncode == 125
        assert "driver failed programming external connectivity on endpoint clash" in out.stderr
        assert f"0.0.0.0:{port}" in out.stderr and "address already in use" in out.stderr
    assert docker.inspect("clash", "{{.State.Status}}") == "created"
    assert docker.inspect("clash", "{{.NetworkSettings.SandboxKey}}") == ""
    first = free_port()
    docker.ok("run", "-d", "--name", "owner", "-p", f"{first}:80", *HTTPD)
    second = docker("run", "-d", "--name", "second", "-p", f"{first}:80", *HTTPD)
    assert f"Bind for 0.0.0.0:{first} failed: port is already allocated" in second.stderr
    bad = docker("run", "--rm", "-p", "70000:80", "busybox", "true")
    assert bad.returncode == 125 and "70000" in bad.stderr
