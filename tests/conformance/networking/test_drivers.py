"""The NetworkDriver conformance suite (DESIGN §4): every driver's create and delete
are idempotent, join gives an endpoint inside the namespace it was handed and leave
takes it away; the bridge driver's plumbing is checked on the host (links, addresses,
the veth's peer in the namespace)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier import timefmt
from pier.networking import netns
from pier.networking.bridge import BridgeDriver
from pier.networking.driver import EndpointPlan, HostDriver, NetworkDriver, NullDriver
from pier.networking.model import IPAMConfig, Network
from pier.networking.netlink import Netlink
from pier_testing.netpool import claim_subnet, release_subnet, remove_networking


@pytest.fixture
def subnet() -> Iterator[int]:
    n = claim_subnet("conformance")
    yield n
    release_subnet(n)


@pytest.fixture
def netlink() -> Iterator[Netlink]:
    nl = Netlink()
    yield nl
    nl.close()


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ns"
    netns.create(path)
    yield path
    netns.remove(path)


def _network(driver: str, n: int, marker: str) -> Network:
    return Network(
        id=secrets.token_hex(32),
        name="conf",
        driver=driver,
        created=timefmt.now(),
        ipam=(IPAMConfig(subnet=f"10.{n}.0.0/24", gateway=f"10.{n}.0.1"),)
        if driver == "bridge"
        else (),
        device=f"ptc{marker[:8]}" if driver == "bridge" else "",
    )


def _plan(n: int) -> EndpointPlan:
    return EndpointPlan(
        endpoint_id=secrets.token_hex(32),
        ifname="eth0",
        host_ifname="veth" + secrets.token_hex(4)[:7],
        ipv4=f"10.{n}.0.2",
        prefix_len=24,
        gateway=f"10.{n}.0.1",
        mac="02:42:0a:00:00:02",
        default_route=True,
    )


def _inside(ns: Path, *cmd: str) -> str:
    return subprocess.run(["nsenter", f"--net={ns}", *cmd], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


@pytest.mark.parametrize("kind", ["bridge", "host", "null"])
def test_driver_contract(
    kind: str, subnet: int, namespace: Path, tmp_path: Path, netlink: Netlink
) -> None:
    marker = secrets.token_hex(4)
    drivers: dict[str, NetworkDriver] = {
        "bridge": BridgeDriver(marker=f"pier {tmp_path}", netlink=netlink),
        "host": HostDriver(),
        "null": NullDriver(),
    }
    driver = drivers[kind]
    net = _network(kind, subnet, marker)
    try:
        driver.create(net)
        driver.create(net)  # idempotent: a restart finds it made
        endpoint = driver.join(net, _plan(subnet), namespace)
        if kind == "bridge":
            links = _inside(namespace, "ip", "-o", "-4", "addr")
            assert f"eth0    inet 10.{subnet}.0.2/24" in links
            assert "default via" in _inside(namespace, "ip", "route")
            host = subprocess.run(["ip", "-o", "link", "show", "master", net.device],
                                  capture_output=True, text=True).stdout  # fmt: skip
            assert endpoint.host_ifname in host
            assert endpoint.ipv4 == f"10.{subnet}.0.2" and endpoint.ifname == "eth0"
        else:
            assert endpoint.ipv4 == ""
        driver.leave(net, endpoint)
        driver.leave(net, endpoint)  # idempotent
        if kind == "bridge":
            assert "eth0" not in _inside(namespace, "ip", "-o", "link")
        driver.delete(net)
        driver.delete(net)
        if kind == "bridge":
            assert not Path(f"/sys/class/net/{net.device}").exists()
    finally:
        if kind == "bridge":
            remove_networking(net.device, "none", str(tmp_path))


def test_bridge_driver_never_touches_links_it_did_not_make(
    subnet: int, tmp_path: Path, netlink: Netlink
) -> None:
    name = f"ptx{secrets.token_hex(4)}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        driver = BridgeDriver(marker=f"pier {tmp_path}", netlink=netlink)
        net = _network("bridge", subnet, "x")
        driver.delete(Network(**{**_as_dict(net), "device": name}))
        driver.remove_link(name)
        assert Path(f"/sys/class/net/{name}").exists()
        assert name not in driver.our_links()
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def _as_dict(net: Network) -> dict[str, object]:
    return {f: getattr(net, f) for f in net.__dataclass_fields__}


def test_netlink_keeps_no_unclaimed_messages(
    subnet: int, namespace: Path, tmp_path: Path, netlink: Netlink
) -> None:
    """The host socket lives as long as the daemon: the acknowledgements the kernel
    sends after a `get` request's answer (which pyroute2 queues and never reads) must
    not pile up in it, one per operation."""
    driver = BridgeDriver(marker=f"pier {tmp_path}", netlink=netlink)
    net = _network("bridge", subnet, secrets.token_hex(4))
    try:
        driver.create(net)
        for _ in range(20):
            endpoint = driver.join(net, _plan(subnet), namespace)
            ours = driver.our_links()  # a dump: a `get` request
            assert ours[net.device] == "bridge" and ours[endpoint.host_ifname] == "veth", ours
            driver.leave(net, endpoint)
            driver.remove_link("no-such-link")
        assert netlink.backlog() == 0
    finally:
        driver.delete(net)
        remove_networking(net.device, "none", str(tmp_path))
