"""The bridge driver: a Linux bridge per network, a veth pair per endpoint, through
netlink (pyroute2). Every link Pier makes carries an `ifalias` naming the daemon
(`pier <exec-root>`), so what a crash left behind is found and removed at start,
and only this daemon's links are ever touched."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
from collections.abc import Iterator
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pier.errors import SystemFailure
from pier.networking import netns
from pier.networking.driver import EndpointPlan
from pier.networking.ipam import parse_net
from pier.networking.model import Endpoint, Network

# pyroute2 sets its logger to log everything when imported, every netlink message at
# debug: pierd's debug log is for Pier's own messages.
logging.getLogger("pyroute2").setLevel(logging.WARNING)


@contextlib.contextmanager
def _netlink() -> Iterator[IPRoute]:
    try:
        with IPRoute() as ipr:
            yield ipr
    except NetlinkError as exc:
        raise SystemFailure(f"netlink: {exc}") from exc


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _write_sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError), open(path, "w") as fh:
        fh.write(value)


class BridgeDriver:
    name = "bridge"

    def __init__(self, *, marker: str) -> None:
        self._marker = marker  # the ifalias of every link this daemon makes

    # -- networks --------------------------------------------------------------------

    def create(self, net: Network) -> None:
        with _netlink() as ipr:
            idx = _index(ipr, net.device)
            if idx is None:
                try:
                    ipr.link("add", ifname=net.device, kind="bridge")
                except NetlinkError as exc:
                    if exc.code != errno.EEXIST:
                        raise
                idx = _index(ipr, net.device)
                assert idx is not None
            mtu = net.options.get("com.docker.network.driver.mtu")
            extra = {"mtu": int(mtu)} if mtu else {}
            ipr.link("set", index=idx, ifalias=self._marker, **extra)
            have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx)}
            for pool in net.ipam:
                if not pool.gateway:
                    continue
                subnet = parse_net(pool.subnet)
                if (pool.gateway, subnet.prefixlen) not in have:
                    with contextlib.suppress(NetlinkError):
                        ipr.addr("add", index=idx, address=pool.gateway, prefixlen=subnet.prefixlen)
            ipr.link("set", index=idx, state="up")
        # Published ports on 127.0.0.1 are DNATed to the container: the kernel routes
        # loopback-sourced packets out of the bridge only with route_localnet.
        _write_sysctl(f"/proc/sys/net/ipv4/conf/{net.device}/route_localnet", "1")

    def delete(self, net: Network) -> None:
        with _netlink() as ipr:
            idx = _index(ipr, net.device)
            if idx is not None and self._ours(ipr, idx):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=idx)

    def park(self, net: Network) -> None:
        """At shutdown with nothing running: remove the bridge unless something is
        still plugged into it (another daemon misconfigured onto the same device)."""
        with _netlink() as ipr:
            idx = _index(ipr, net.device)
            if idx is None or not self._ours(ipr, idx):
                return
            if ipr.get_links(master=idx):
                return
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=idx)

    def _ours(self, ipr: IPRoute, idx: int) -> bool:
        links = ipr.get_links(idx)
        return bool(links) and links[0].get("IFLA_IFALIAS") == self._marker

    # -- endpoints -------------------------------------------------------------------

    def join(self, net: Network, plan: EndpointPlan, ns: Path) -> Endpoint:
        mtu_opt = net.options.get("com.docker.network.driver.mtu")
        mtu = {"mtu": int(mtu_opt)} if mtu_opt else {}
        with _netlink() as ipr:
            bridge = _index(ipr, net.device)
            if bridge is None:
                raise SystemFailure(f"bridge {net.device} of network {net.name} is missing")
            # The peer is made in the namespace with its final name and MAC, the host end
            # on the bridge: fewer netlink round trips, no rename.
            ipr.link(
                "add",
                ifname=plan.host_ifname,
                kind="veth",
                master=bridge,
                peer={
                    "ifname": plan.ifname,
                    "address": plan.mac,
                    "net_ns_fd": str(ns),
                    **mtu,
                },
                **mtu,
            )
            try:
                idx = _index(ipr, plan.host_ifname)
                assert idx is not None
                ipr.link("set", index=idx, ifalias=self._marker, state="up")
                netns.run_inside(ns, lambda: self._configure_inside(plan))
            except BaseException:
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", ifname=plan.host_ifname)
                raise
        return Endpoint(
            endpoint_id=plan.endpoint_id,
            ifname=plan.ifname,
            host_ifname=plan.host_ifname,
            ipv4=plan.ipv4,
            prefix_len=plan.prefix_len,
            gateway=plan.gateway,
            mac=plan.mac,
            ipv6=plan.ipv6,
            ipv6_prefix_len=plan.ipv6_prefix_len,
            ipv6_gateway=plan.ipv6_gateway,
        )

    @staticmethod
    def _configure_inside(plan: EndpointPlan) -> None:
        with _netlink() as ipr:
            idx = _index(ipr, plan.ifname)
            assert idx is not None
            ipr.addr("add", index=idx, address=plan.ipv4, prefixlen=plan.prefix_len)
            if plan.ipv6:
                _write_sysctl(f"/proc/sys/net/ipv6/conf/{plan.ifname}/disable_ipv6", "0")
                ipr.addr("add", index=idx, address=plan.ipv6, prefixlen=plan.ipv6_prefix_len)
            ipr.link("set", index=idx, state="up")
            lo = _index(ipr, "lo")
            if lo is not None:
                ipr.link("set", index=lo, state="up")
            if plan.default_route and plan.gateway:
                ipr.route("add", dst="0.0.0.0/0", gateway=plan.gateway)
            if plan.default_route and plan.ipv6 and plan.ipv6_gateway:
                with contextlib.suppress(NetlinkError):
                    ipr.route("add", dst="::/0", gateway=plan.ipv6_gateway, family=10)

    def leave(self, net: Network, endpoint: Endpoint) -> None:
        """Deleting the host end deletes the pair; a namespace already gone took its
        end with it, and the host end then went too."""
        if not endpoint.host_ifname:
            return
        with _netlink() as ipr:
            idx = _index(ipr, endpoint.host_ifname)
            if idx is not None and self._ours(ipr, idx):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=idx)

    # -- recovery --------------------------------------------------------------------

    def our_links(self) -> dict[str, str]:
        """Every link carrying this daemon's marker: name -> kind."""
        out: dict[str, str] = {}
        with _netlink() as ipr:
            for link in ipr.get_links():
                if link.get("IFLA_IFALIAS") != self._marker:
                    continue
                info = link.get("IFLA_LINKINFO")
                kind = info.get("IFLA_INFO_KIND") if info is not None else ""
                out[str(link.get("IFLA_IFNAME"))] = str(kind or "")
        return out

    def remove_link(self, name: str) -> None:
        with _netlink() as ipr:
            idx = _index(ipr, name)
            if idx is not None and self._ours(ipr, idx):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=idx)


def host_routes() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The host's routed networks and addresses: a new subnet must not overlap them."""
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    with _netlink() as ipr:
        for route in ipr.get_routes(family=2):
            dst = route.get("RTA_DST")
            if dst and route["dst_len"] > 0 and route.get("RTA_TABLE") == 254:
                found.append(ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False))
    return found
