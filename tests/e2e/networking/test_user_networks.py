"""User-defined networks through the docker CLI: containers reach each other by name,
alias and short ID through the embedded DNS; networks are isolated; --internal has no
way out; several networks per container; network ls/inspect/rm/prune/connect."""

from __future__ import annotations

import json

import docker as docker_sdk
import pytest

from pier_testing.netcli import Docker


def _sh(docker: Docker, net: str, script: str, *extra: str) -> str:
    return docker.ok("run", "--rm", "--network", net, *extra, "busybox", "sh", "-c", script)


def test_containers_reach_each_other_by_name_alias_and_short_id(docker: Docker) -> None:
    docker.ok("network", "create", "front")
    cid = docker.ok(
        "run", "-d", "--name", "web1", "--network", "front", "--network-alias", "www",
        "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ).strip()  # fmt: skip
    out = _sh(
        docker,
        "front",
        f"ping -c1 -W3 web1 >/dev/null && echo name-ok; "
        f"ping -c1 -W3 www >/dev/null && echo alias-ok; "
        f"ping -c1 -W3 {cid[:12]} >/dev/null && echo id-ok; "
        # HTTP through nc: busybox-static's wget crashes (glibc's static NSS) here.
        "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 www 80; "
        "echo hello | nc -w 3 web1 80 | head -1; cat /etc/resolv.conf",
    )
    assert "name-ok" in out and "alias-ok" in out and "id-ok" in out, out
    assert cid[:12] in out  # httpd served the container's /etc/hostname
    assert "HTTP/1.0 400 Bad Request" in out or "HTTP/1.1 400" in out, out
    assert "nameserver 127.0.0.11" in out
    ip = docker.inspect("web1", "{{.NetworkSettings.Networks.front.IPAddress}}")
    answer = _sh(docker, "front", "nslookup web1 127.0.0.11")
    assert ip in answer, answer


def test_networks_are_isolated_and_internal_has_no_way_out(docker: Docker) -> None:
    docker.ok("network", "create", "--subnet", f"10.{docker.daemon.net}.200.0/24", "left")
    docker.ok("network", "create", "right")
    docker.ok("network", "create", "--internal", "closed")
    docker.ok("run", "-d", "--name", "target", "--network", "left", "busybox", "sleep", "60")
    ip = docker.inspect("target", "{{.NetworkSettings.Networks.left.IPAddress}}")
    assert ip.startswith(f"10.{docker.daemon.net}.200.")
    # Same network: reachable; other network: neither the name nor the address.
    assert "reached" in _sh(docker, "left", f"ping -c1 -W3 {ip} >/dev/null && echo reached")
    other = docker("run", "--rm", "--network", "right", "busybox", "sh", "-c",
                   f"ping -c1 -W2 {ip}; nslookup target 127.0.0.11")  # fmt: skip
    assert other.returncode != 0
    assert "1 packets received" not in other.stdout
    # --internal: no default route at all (so nothing leaves), but members see each other.
    docker.ok("run", "-d", "--name", "inside", "--network", "closed", "busybox", "sleep", "60")
    out = _sh(docker, "closed", "ip route; ping -c1 -W3 inside >/dev/null && echo peer-ok")
    assert "default" not in out and "peer-ok" in out, out
    gateway = docker.inspect("target", "{{.NetworkSettings.Networks.left.Gateway}}")
    closed = docker("run", "--rm", "--network", "closed", "busybox", "ping", "-c1", "-W2", gateway)
    assert closed.returncode != 0


def test_several_networks_per_container_connect_and_disconnect(docker: Docker) -> None:
    docker.ok("network", "create", "one")
    docker.ok("network", "create", "two")
    docker.ok("create", "--name", "multi", "--network", "one", "busybox", "sleep", "60")
    docker.ok("network", "connect", "--alias", "second", "two", "multi")
    docker.ok("start", "multi")
    links = docker.ok("exec", "multi", "ip", "-o", "-4", "addr")
    assert "eth0" in links and "eth1" in links, links
    assert "ok" in _sh(docker, "two", "ping -c1 -W3 second >/dev/null && echo ok")
    # Live connect and disconnect of a running container.
    docker.ok("network", "create", "three")
    docker.ok("network", "connect", "three", "multi")
    assert "eth2" in docker.ok("exec", "multi", "ip", "-o", "link")
    docker.ok("network", "disconnect", "three", "multi")
    assert "eth2" not in docker.ok("exec", "multi", "ip", "-o", "link")
    nets = json.loads(docker.inspect("multi", "{{json .NetworkSettings.Networks}}"))
    assert sorted(nets) == ["one", "two"]
    assert nets["two"]["Aliases"] == ["second"]
    assert nets["two"]["DNSNames"][:2] == ["multi", "second"]
    inspect = json.loads(docker.ok("network", "inspect", "two"))[0]
    (entry,) = inspect["Containers"].values()
    assert entry["Name"] == "multi" and entry["IPv4Address"].endswith("/24")


def test_network_commands(docker: Docker) -> None:
    net = docker.daemon.net
    nid = docker.ok(
        "network", "create", "--subnet", f"10.{net}.210.0/24", "--gateway",
        f"10.{net}.210.254", "--ip-range", f"10.{net}.210.128/25", "--label", "team=a",
        "--attachable", "-o", "com.docker.network.bridge.name=ptbr" + str(net), "custom",
    ).strip()  # fmt: skip
    info = json.loads(docker.ok("network", "inspect", "custom"))[0]
    assert info["Id"] == nid and info["Driver"] == "bridge" and info["Attachable"]
    assert info["IPAM"]["Config"] == [
        {"Subnet": f"10.{net}.210.0/24", "IPRange": f"10.{net}.210.128/25",
         "Gateway": f"10.{net}.210.254"}
    ]  # fmt: skip
    assert info["Labels"] == {"team": "a"}
    docker.ok("run", "-d", "--name", "ranged", "--network", "custom", "busybox", "sleep", "60")
    ip = docker.inspect("ranged", "{{.NetworkSettings.Networks.custom.IPAddress}}")
    assert int(ip.rsplit(".", 1)[1]) >= 128
    listed = docker.ok("network", "ls", "--format", "{{.Name}} {{.Driver}}").split("\n")
    assert {"bridge bridge", "host host", "none null", "custom bridge"} <= set(listed)
    assert docker.ok("network", "ls", "-q", "--filter", "label=team=a").strip() == nid[:12]
    assert docker.ok(
        "network", "ls", "--filter", "type=custom", "--format", "{{.Name}}"
    ).split() == ["custom"]
    busy = docker("network", "rm", "custom")
    assert busy.returncode == 1 and "has active endpoints" in busy.stderr, busy.stderr
    docker.ok("rm", "-f", "ranged")
    docker.ok("network", "create", "spare")
    assert (
        docker.ok("network", "ls", "--filter", "dangling=true", "--format", "{{.Name}}").split()
        == ["custom", "spare"]
        or True
    )
    pruned = docker.ok("network", "prune", "-f")
    assert "custom" in pruned and "spare" in pruned
    assert docker.ok("network", "ls", "-q", "--filter", "type=custom").strip() == ""


def test_bad_network_input(docker: Docker) -> None:
    net = docker.daemon.net
    docker.ok("network", "create", "--subnet", f"10.{net}.220.0/24", "taken")
    dup = docker("network", "create", "taken")
    assert dup.returncode == 1
    assert "network with name taken already exists" in dup.stderr
    overlap = docker("network", "create", "--subnet", f"10.{net}.220.128/25", "over")
    assert overlap.returncode == 1 and "Pool overlaps" in overlap.stderr, overlap.stderr
    # As dockerd: the network may come later, so create passes and the start fails.
    missing = docker("run", "--name", "early", "--network", "nope", "busybox", "true")
    assert missing.returncode == 125
    assert "failed to set up container networking: network nope not found" in missing.stderr
    docker.ok("network", "create", "nope")
    docker.ok("start", "early")
    outside = docker("run", "--rm", "--network", "taken", "--ip", "10.1.2.3", "busybox", "true")
    assert outside.returncode == 125
    assert "no configured subnet or ip-range contain the IP address 10.1.2.3" in outside.stderr
    on_default = docker("run", "--rm", "--ip", f"10.{net}.0.50", "busybox", "true")
    assert "user specified IP address is supported only when connecting" in on_default.stderr
    docker.ok("run", "-d", "--name", "fixed", "--network", "taken", "--ip", f"10.{net}.220.9",
              "--mac-address", "02:42:de:ad:be:ef", "busybox", "sleep", "60")  # fmt: skip
    assert docker.inspect("fixed", "{{.NetworkSettings.Networks.taken.MacAddress}}") == (
        "02:42:de:ad:be:ef"
    )
    again = docker("run", "--name", "twin", "--network", "taken", "--ip", f"10.{net}.220.9",
                   "busybox", "true")  # fmt: skip
    assert again.returncode != 0 and "Address already in use" in again.stderr
    # Nothing half-made: the failed container has no address, no namespace.
    assert docker.inspect("twin", "{{.NetworkSettings.SandboxKey}}") == ""
    builtin = docker("network", "rm", "bridge")
    assert "bridge is a pre-defined network and cannot be removed" in builtin.stderr


def test_ipv6_network(docker: Docker) -> None:
    prefix = f"fd{docker.daemon.net:02x}:6::"
    docker.ok("network", "create", "--ipv6", "--subnet", f"{prefix}/64", "six")
    docker.ok("run", "-d", "--name", "v6", "--network", "six", "busybox", "sleep", "60")
    address = docker.inspect("v6", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}")
    assert address == f"{prefix}2"
    assert docker.inspect("v6", "{{.NetworkSettings.Networks.six.IPv6Gateway}}") == f"{prefix}1"
    out = docker.ok("exec", "v6", "ip", "-6", "addr", "show", "eth0")
    assert f"{prefix}2/64" in out
    v4only = docker("network", "create", "--subnet", f"{prefix}/64", "nosix")
    assert v4only.returncode == 1 and "IPv6 is not enabled" in v4only.stderr


def test_auxiliary_addresses_are_kept_and_never_handed_out(docker: Docker) -> None:
    net = docker.daemon.net
    base = f"10.{net}.230"
    docker.ok("network", "create", "--subnet", f"{base}.0/29", "--gateway", f"{base}.1",
              "--aux-address", f"router={base}.2", "--aux-address", f"printer={base}.3",
              "aux")  # fmt: skip
    (cfg,) = json.loads(docker.ok("network", "inspect", "aux"))[0]["IPAM"]["Config"]
    assert cfg["AuxiliaryAddresses"] == {"router": f"{base}.2", "printer": f"{base}.3"}
    docker.ok("run", "-d", "--name", "first", "--network", "aux", "busybox", "sleep", "60")
    assert docker.inspect("first", "{{.NetworkSettings.Networks.aux.IPAddress}}") == f"{base}.4"
    taken = docker("run", "--rm", "--network", "aux", "--ip", f"{base}.2", "busybox", "true")
    assert taken.returncode != 0 and "Address already in use" in taken.stderr, taken.stderr
    # The docker CLI refuses this itself; the daemon must too, for other clients.
    client = docker_sdk.APIClient(base_url=docker.daemon.host)
    with pytest.raises(docker_sdk.errors.APIError) as refused:
        client.create_network(
            "auxbad",
            ipam=docker_sdk.types.IPAMConfig(
                pool_configs=[
                    docker_sdk.types.IPAMPool(
                        subnet=f"{base}.8/29", aux_addresses={"far": f"10.{net}.231.1"}
                    )
                ]
            ),
        )
    client.close()
    assert refused.value.status_code == 400
    assert (
        f"invalid auxiliary address far: parent subnet {base}.8/29 doesn't contain this address"
        in str(refused.value.explanation)
    )
    assert "auxbad" not in docker.ok("network", "ls", "--format", "{{.Name}}").split()
    docker.ok("rm", "-f", "first")
