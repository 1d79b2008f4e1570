"""Pure networking logic: subnets from pools, addresses, Docker's MACs, -p parsing
with moby's wording, the nftables table rendered from state."""

from __future__ import annotations

import ipaddress

import pytest

from pier.errors import Forbidden, InvalidParameter
from pier.networking import ipam, nft
from pier.networking.ipam import AddressPool
from pier.networking.model import PortBinding
from pier.networking.ports import exposed_bindings, parse_bindings


def test_pick_subnet_skips_what_is_in_use() -> None:
    pools = (AddressPool(base="10.5.0.0/16", size=24),)
    taken = [ipaddress.ip_network("10.5.0.0/24"), ipaddress.ip_network("10.5.1.128/25")]
    assert str(ipam.pick_subnet(pools, taken)) == "10.5.2.0/24"
    with pytest.raises(Forbidden, match="fully subnetted"):
        ipam.pick_subnet((AddressPool(base="10.5.0.0/24", size=24),), taken)


def test_overlap_and_static_addresses() -> None:
    with pytest.raises(Forbidden, match="Pool overlaps with other one on this address space"):
        ipam.check_no_overlap(
            ipaddress.ip_network("10.0.0.0/8"), [ipaddress.ip_network("10.1.0.0/16")]
        )
    subnet = ipaddress.ip_network("10.1.0.0/16")
    ipam.check_static(subnet, True, "10.1.2.3")
    with pytest.raises(InvalidParameter, match="no configured subnet or ip-range contain"):
        ipam.check_static(subnet, True, "10.2.0.1")
    with pytest.raises(InvalidParameter, match="only when connecting to networks with user"):
        ipam.check_static(subnet, False, "10.1.2.3")


def test_allocate_goes_round_and_skips_used_and_gateway() -> None:
    subnet = ipaddress.ip_network("10.9.0.0/29")
    used = {"10.9.0.2"}
    assert ipam.allocate(subnet, ip_range="", gateway="10.9.0.1", used=used) == "10.9.0.3"
    assert ipam.allocate(subnet, ip_range="", gateway="10.9.0.1", used=used, last="10.9.0.5") == (
        "10.9.0.6"
    )
    assert ipam.allocate(subnet, ip_range="10.9.0.4/30", gateway="10.9.0.1", used=()) == "10.9.0.5"


def test_mac_from_address() -> None:
    assert ipam.mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_port_bindings_are_parsed_with_mobys_wording() -> None:
    got = parse_bindings(
        {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "", "HostPort": ""}],
            "1000-1001/tcp": [{"HostIp": "", "HostPort": "2000-2001"}],
        }
    )
    assert got == (
        PortBinding(container_port=80, proto="tcp", host_ip="127.0.0.1", host_port="8080"),
        PortBinding(container_port=53, proto="udp"),
        PortBinding(container_port=1000, proto="tcp", host_port="2000"),
        PortBinding(container_port=1001, proto="tcp", host_port="2001"),
    )
    with pytest.raises(InvalidParameter, match='invalid port specification: "70000"'):
        parse_bindings({"80/tcp": [{"HostPort": "70000"}]})
    with pytest.raises(InvalidParameter, match='invalid port specification: "0"'):
        parse_bindings({"0/tcp": [{"HostPort": "80"}]})
    assert exposed_bindings(["80/tcp", "5000-5001/udp"]) == (
        PortBinding(container_port=80, proto="tcp"),
        PortBinding(container_port=5000, proto="udp"),
        PortBinding(container_port=5001, proto="udp"),
    )


def test_the_table_is_replaced_whole_and_isolates_networks() -> None:
    text = nft.render(
        "t",
        [
            nft.BridgeRules(device="b0", subnets=("10.0.0.0/24",)),
            nft.BridgeRules(device="b1", subnets=("10.0.1.0/24",), internal=True),
        ],
        [
            nft.Forward(
                proto="udp",
                host_ip="127.0.0.1",
                host_port=53,
                container_ip="10.0.0.2",
                container_port=5353,
            )
        ],
    )
    assert text.startswith("table ip t {\n}\ndelete table ip t\ntable ip t {")
    assert 'ip saddr 10.0.0.0/24 oifname != "b0" masquerade' in text
    assert "10.0.1.0/24 oifname" not in text  # internal: no way out
    assert 'iifname "b0" oifname != "b0" oifname @bridges drop' in text
    assert 'iifname "b1" oifname != "b1" drop' in text
    assert "ip daddr 127.0.0.1 udp dport 53 dnat to 10.0.0.2:5353" in text
