"""IPv6 as dockerd 28 has it: `--ipv6` networks with a given or a ULA subnet, the
default bridge with `ipv6` and `fixed-cidr-v6`, addresses usable at once and a
default route in the container, AAAA answers from the embedded DNS, masquerade and
isolation in Pier's ip6 table, published ports on "::" DNATed to the container's
IPv6 address. Traffic stays on the test daemon's bridges."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope
from pier_testing.netcli import Docker


def _v6net(docker: Docker, name: str, sub: int = 1) -> str:
    subnet = f"fd00:{docker.daemon.net:x}:{sub:x}::/64"
    docker.ok("network", "create", "--ipv6", "--subnet", subnet, name)
    return subnet


def test_an_ipv6_network_gives_addresses_routes_names_and_nat(docker: Docker) -> None:
    subnet = _v6net(docker, "six")
    prefix = subnet.split("::")[0]
    net = json.loads(docker.ok("network", "inspect", "six"))[0]
    assert net["EnableIPv6"] is True
    pools = {c["Subnet"]: c.get("Gateway") for c in net["IPAM"]["Config"]}
    assert pools[subnet] == f"{prefix}::1"
    docker.ok("run", "-d", "--name", "peer6", "--network", "six", "busybox", "sleep", "120")
    ip6 = docker.inspect("peer6", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}")
    assert ip6.startswith(prefix + "::")
    assert docker.inspect("peer6", "{{.NetworkSettings.Networks.six.GlobalIPv6PrefixLen}}") == "64"
    assert docker.inspect("peer6", "{{.NetworkSettings.Networks.six.IPv6Gateway}}") == (
        f"{prefix}::1"
    )
    out = docker.ok(
        "run", "--rm", "--network", "six", "busybox", "sh", "-c",
        "ip -6 addr show eth0; ip -6 route; "
        f"ping -c1 -W3 {ip6} >/dev/null && echo ping6-ok; "
        "nslookup -type=aaaa peer6 127.0.0.11",
    )  # fmt: skip
    mine = next(line for line in out.splitlines() if f"inet6 {prefix}::" in line)
    assert "tentative" not in mine, out  # usable at once: no duplicate address detection
    assert f"default via {prefix}::1 dev eth0" in out, out
    assert "ping6-ok" in out, out
    assert ip6 in out.split("ping6-ok")[1], out  # the AAAA answer
    assert f"{ip6}\t" in docker.ok("exec", "peer6", "cat", "/etc/hosts")
    table = subprocess.run(
        ["nft", "list", "table", "ip6", docker.daemon.nft_table],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"ip6 saddr {subnet} oifname != " in table and "masquerade" in table, table


def test_ipv6_networks_are_isolated_and_without_a_subnet_take_a_ula_prefix(
    docker: Docker,
) -> None:
    _v6net(docker, "east", 1)
    docker.ok("network", "create", "--ipv6", "west")
    west = json.loads(docker.ok("network", "inspect", "west"))[0]
    v6 = [c["Subnet"] for c in west["IPAM"]["Config"] if ":" in c["Subnet"]]
    assert len(v6) == 1 and v6[0].startswith("fd") and v6[0].endswith("::/64"), west
    docker.ok("run", "-d", "--name", "e1", "--network", "east", "busybox", "sleep", "120")
    ip6 = docker.inspect("e1", "{{.NetworkSettings.Networks.east.GlobalIPv6Address}}")
    other = docker("run", "--rm", "--network", "west", "busybox", "ping", "-c1", "-W2", ip6)
    assert other.returncode != 0 and "1 packets received" not in other.stdout
    # Static addresses: inside the subnet, not one in use.
    taken = docker("run", "--rm", "--network", "east", "--ip6", ip6, "busybox", "true")
    assert taken.returncode != 0 and "Address already in use" in taken.stderr, taken.stderr
    docker.ok("rm", "-f", "e1")
    docker.ok("network", "rm", "east", "west")
    # The last IPv6 network gone, Pier's ip6 table goes too.
    gone = subprocess.run(
        ["nft", "list", "table", "ip6", docker.daemon.nft_table], capture_output=True
    )
    assert gone.returncode != 0


def test_published_ports_reach_an_ipv6_container_over_ipv6(docker: Docker) -> None:
    subnet = _v6net(docker, "pub6")
    gateway = subnet.split("::")[0] + "::1"
    docker.ok(
        "run", "-d", "--name", "web6", "--network", "pub6", "-p", "80",
        "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    )  # fmt: skip
    ports = json.loads(docker.inspect("web6", "{{json .NetworkSettings.Ports}}"))["80/tcp"]
    by_ip = {p["HostIp"]: p["HostPort"] for p in ports}
    assert set(by_ip) == {"0.0.0.0", "::"} and by_ip["::"] == by_ip["0.0.0.0"], ports
    assert f"[::]:{by_ip['::']}" in docker.ok("port", "web6", "80")
    cid = docker.inspect("web6", "{{.Id}}")
    out = docker.ok(
        "run", "--rm", "--network", "pub6", "busybox", "sh", "-c",
        f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {gateway} {by_ip['::']}",
    )  # fmt: skip
    assert cid[:12] in out, out  # through the host's IPv6 address, DNATed


@pytest.fixture
def v6_daemon(leak_scope: Scope, busybox_tar: Path) -> Iterator[PierDaemon]:
    daemon = PierDaemon(leak_scope)
    config = json.loads(daemon.config_file.read_text())
    config.update({"ipv6": True, "fixed-cidr-v6": f"fd00:{daemon.net:x}:ff::/64"})
    daemon.config_file.write_text(json.dumps(config))
    try:
        daemon.start()
        Docker(daemon).ok("import", str(busybox_tar), "busybox:latest")
        yield daemon
    finally:
        daemon.destroy()


def test_the_default_bridge_with_fixed_cidr_v6(v6_daemon: PierDaemon) -> None:
    docker = Docker(v6_daemon)
    prefix = f"fd00:{v6_daemon.net:x}:ff:"
    bridge = json.loads(docker.ok("network", "inspect", "bridge"))[0]
    assert bridge["EnableIPv6"] is True
    assert f"{prefix}:/64" in [c["Subnet"] for c in bridge["IPAM"]["Config"]]
    docker.ok("run", "-d", "--name", "b6", "busybox", "sleep", "120")
    try:
        ip6 = docker.inspect("b6", "{{.NetworkSettings.GlobalIPv6Address}}")
        assert ip6.startswith(prefix), ip6
        assert docker.inspect("b6", "{{.NetworkSettings.IPv6Gateway}}") == f"{prefix}:1"
        out = docker.ok(
            "run", "--rm", "busybox", "sh", "-c", f"ping -c1 -W3 {ip6} >/dev/null && echo ok"
        )
        assert "ok" in out
    finally:
        docker.ok("rm", "-f", "b6")


def test_ipv6_survives_kill9_of_pierd(docker: Docker) -> None:
    subnet = _v6net(docker, "keep6")
    gateway = subnet.split("::")[0] + "::1"
    docker.ok(
        "run", "-d", "--name", "svc6", "--network", "keep6", "-p", "80",
        "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    )  # fmt: skip
    ip6 = docker.inspect("svc6", "{{.NetworkSettings.Networks.keep6.GlobalIPv6Address}}")
    port = docker.ok("port", "svc6", "80/tcp").split()[-1].rsplit(":", 1)[1]
    docker.daemon.kill9()
    # Rules a crash left behind are replaced at start, not added to.
    docker.daemon.start()
    assert docker.inspect("svc6", "{{.NetworkSettings.Networks.keep6.GlobalIPv6Address}}") == ip6
    table = subprocess.run(
        ["nft", "list", "table", "ip6", docker.daemon.nft_table],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert table.count(f"dnat to [{ip6}]:80") == 1, table
    cid = docker.inspect("svc6", "{{.Id}}")
    out = docker.ok(
        "run", "--rm", "--network", "keep6", "busybox", "sh", "-c",
        f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {gateway} {port}; "
        "ip -6 -o addr show eth0",
    )  # fmt: skip
    assert cid[:12] in out, out
    assert f"inet6 {ip6}/" not in out  # the adopted address is not handed out again
