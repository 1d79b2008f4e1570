"""After kill -9 of pierd and a restart: running containers keep their addresses,
published ports and names; allocations are not handed out twice; what the crash left
stale (a namespace, a link, a rule) is reconciled at start."""

from __future__ import annotations

import socket
import subprocess
import time

from pier_testing.daemon import PierDaemon
from pier_testing.netcli import Docker


def _get(port: int) -> str:
    end = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
                conn.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                return data.decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def test_kill9_and_restart_keeps_addresses_ports_and_names(
    docker: Docker, pier: PierDaemon
) -> None:
    docker.ok("network", "create", "keep")
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    cid = docker.ok("run", "-d", "--name", "svc", "--network", "keep", "-p", f"{port}:80",
                    "busybox", "httpd", "-f", "-p", "80", "-h", "/etc").strip()  # fmt: skip
    ip = docker.inspect("svc", "{{.NetworkSettings.Networks.keep.IPAddress}}")
    assert cid[:12] in _get(port)
    pier.kill9()
    assert cid[:12] in _get(port)  # the kernel's path needs no pierd
    # A stale namespace and a stale link of this daemon, as a crash mid-start leaves.
    stale = pier.exec_root / "netns" / ("f" * 64)
    stale.touch()
    subprocess.run(["ip", "link", "add", "vethdead0", "type", "veth", "peer", "name",
                    "vethdead1"], check=True)  # fmt: skip
    subprocess.run(["ip", "link", "set", "vethdead0", "alias", f"pier {pier.exec_root}"],
                   check=True)  # fmt: skip
    pier.start()
    assert not stale.exists()
    gone = subprocess.run(["ip", "link", "show", "vethdead0"], capture_output=True)
    assert gone.returncode != 0
    assert docker.inspect("svc", "{{.NetworkSettings.Networks.keep.IPAddress}}") == ip
    assert cid[:12] in _get(port)
    out = docker.ok("run", "--rm", "--network", "keep", "busybox", "sh", "-c",
                    "nslookup svc 127.0.0.11; ip -o -4 addr show eth0")  # fmt: skip
    assert ip in out.split("Name:")[1]
    # The new container's address is not the adopted one's.
    assert f"inet {ip}/" not in out
    taken = docker("run", "--rm", "-p", f"{port}:80", "busybox", "true")
    assert "port is already allocated" in taken.stderr
