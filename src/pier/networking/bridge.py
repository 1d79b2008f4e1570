"""The bridge driver: a Linux bridge per network, a veth pair per endpoint, through
netlink (pyroute2). Every link Pier makes carries an `ifalias` naming the daemon
(`pier <exec-root>`), so what a crash left behind is found and removed at start,
and only this daemon's links are ever touched. Its methods are blocking and may be
called from any thread: the netlink work runs on the netlink thread (netlink.py)."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pier.errors import SystemFailure
from pier.networking.driver import EndpointPlan
from pier.networking.ipam import parse_net
from pier.networking.model import Endpoint, Network
from pier.networking.netlink import Netlink

# pyroute2 sets its logger to log everything when imported, every netlink message at
# debug: pierd's debug log is for Pier's own messages.
logging.getLogger("pyroute2").setLevel(logging.WARNING)


def _index(name: str) -> int | None:
    """The interface's index in the calling thread's namespace (an ioctl: no netlink
    request, whose acknowledgement would be left over)."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


# IPv6 addresses are usable at once, without duplicate address detection's second or
# two of "tentative" (libnetwork adds its addresses the same way).
_NODAD = {"flags": 0x02}  # IFA_F_NODAD


def _write_sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError), open(path, "w") as fh:
        fh.write(value)


class BridgeDriver:
    name = "bridge"

    def __init__(self, *, marker: str, netlink: Netlink) -> None:
        self._marker = marker  # the ifalias of every link this daemon makes
        self._nl = netlink

    # -- networks --------------------------------------------------------------------

    def create(self, net: Network) -> None:
        self._nl.call(self._create, net)

    def _create(self, net: Network) -> None:
        ipr = self._nl.host()
        idx = _index(net.device)
        if idx is None:
            try:
                ipr.link("add", ifname=net.device, kind="bridge")
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise
            idx = _index(net.device)
            assert idx is not None
        mtu = net.options.get("com.docker.network.driver.mtu")
        extra = {"mtu": int(mtu)} if mtu else {}
        ipr.link("set", index=idx, ifalias=self._marker, **extra)
        if any(":" in pool.subnet for pool in net.ipam):
            # As dockerd for an IPv6 network: IPv6 on the bridge, and forwarding.
            _write_sysctl(f"/proc/sys/net/ipv6/conf/{net.device}/disable_ipv6", "0")
            _write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
        have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx)}
        for pool in net.ipam:
            if not pool.gateway:
                continue
            subnet = parse_net(pool.subnet)
            if (pool.gateway, subnet.prefixlen) not in have:
                with contextlib.suppress(NetlinkError):
                    ipr.addr(
                        "add",
                        index=idx,
                        address=pool.gateway,
                        prefixlen=subnet.prefixlen,
                        **(_NODAD if subnet.version == 6 else {}),
                    )
        ipr.link("set", index=idx, state="up")
        # Published ports on 127.0.0.1 are DNATed to the container: the kernel routes
        # loopback-sourced packets out of the bridge only with route_localnet.
        _write_sysctl(f"/proc/sys/net/ipv4/conf/{net.device}/route_localnet", "1")

    def delete(self, net: Network) -> None:
        self.remove_link(net.device)

    def park(self, net: Network) -> None:
        """At shutdown with nothing running: remove the bridge unless something is
        still plugged into it (another daemon misconfigured onto the same device)."""
        self._nl.call(self._park, net)

    def _park(self, net: Network) -> None:
        ipr = self._nl.host()
        idx = _index(net.device)
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
        return self._nl.call(self._join, net, plan, ns)

    def _join(self, net: Network, plan: EndpointPlan, ns: Path) -> Endpoint:
        mtu_opt = net.options.get("com.docker.network.driver.mtu")
        mtu = {"mtu": int(mtu_opt)} if mtu_opt else {}
        ipr = self._nl.host()
        bridge = _index(net.device)
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
            idx = _index(plan.host_ifname)
            assert idx is not None
            ipr.link("set", index=idx, ifalias=self._marker, state="up")
            with self._nl.inside(ns) as inner:
                _configure_inside(inner, plan)
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

    def leave(self, net: Network, endpoint: Endpoint) -> None:
        """Deleting the host end deletes the pair; a namespace already gone took its
        end with it, and the host end then went too."""
        if endpoint.host_ifname:
            self.remove_link(endpoint.host_ifname)

    # -- recovery --------------------------------------------------------------------

    def our_links(self) -> dict[str, str]:
        """Every link carrying this daemon's marker: name -> kind."""
        return self._nl.call(self._our_links)

    def _our_links(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for link in self._nl.host().get_links():
            if link.get("IFLA_IFALIAS") != self._marker:
                continue
            info = link.get("IFLA_LINKINFO")
            kind = info.get("IFLA_INFO_KIND") if info is not None else ""
            out[str(link.get("IFLA_IFNAME"))] = str(kind or "")
        return out

    def remove_link(self, name: str) -> None:
        self._nl.call(self._remove_link, name)

    def _remove_link(self, name: str) -> None:
        ipr = self._nl.host()
        idx = _index(name)
        if idx is not None and self._ours(ipr, idx):
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=idx)

    def host_routes(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The host's routed networks and addresses: a new subnet must not overlap them."""
        return self._nl.call(self._host_routes)

    def _host_routes(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for route in self._nl.host().get_routes(family=family):
                dst = route.get("RTA_DST")
                if dst and route["dst_len"] > 0 and route.get("RTA_TABLE") == 254:
                    found.append(ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False))
        return found


def _configure_inside(ipr: IPRoute, plan: EndpointPlan) -> None:
    idx = _index(plan.ifname)
    assert idx is not None
    ipr.addr("add", index=idx, address=plan.ipv4, prefixlen=plan.prefix_len)
    if plan.ipv6:
        _write_sysctl(f"/proc/sys/net/ipv6/conf/{plan.ifname}/disable_ipv6", "0")
        ipr.addr("add", index=idx, address=plan.ipv6, prefixlen=plan.ipv6_prefix_len, **_NODAD)
    ipr.link("set", index=idx, state="up")
    lo = _index("lo")
    if lo is not None:
        ipr.link("set", index=lo, state="up")
    if plan.default_route and plan.gateway:
        ipr.route("add", dst="0.0.0.0/0", gateway=plan.gateway)
    if plan.default_route and plan.ipv6 and plan.ipv6_gateway:
        with contextlib.suppress(NetlinkError):
            ipr.route("add", dst="::/0", gateway=plan.ipv6_gateway, family=10)
