"""A running container's networking: its namespace, an endpoint on each of its
networks, its published ports, its embedded DNS. `setup` makes all of it or none;
`teardown` undoes it and is idempotent (a stop, a crash found at start, a removal)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from pier.errors import Forbidden, NotFound, PierError
from pier.networking import hostsfile, ipam, netns
from pier.networking.catalog import Catalog
from pier.networking.dns import DNS_ADDRESS, DnsServer
from pier.networking.driver import EndpointPlan, NetworkDriver
from pier.networking.firewall import Firewall
from pier.networking.model import Attachment, Endpoint, Network, PortBinding, PortMapping
from pier.networking.ports import PortReservations
from pier.networking.store import NetworkStore, Sandbox

log = logging.getLogger(__name__)

Publish = Callable[[str, Network, str], None]  # action, network, container id


class Sandboxes:
    def __init__(
        self,
        *,
        root: Path,
        catalog: Catalog,
        store: NetworkStore,
        drivers: Mapping[str, NetworkDriver],
        ports: PortReservations,
        dns: DnsServer,
        firewall: Firewall,
        publish: Publish,
    ) -> None:
        self.root = root
        self._catalog = catalog
        self._store = store
        self._drivers = drivers
        self._ports = ports
        self._dns = dns
        self._firewall = firewall
        self._publish = publish
        self._live: dict[str, Sandbox] = {s.container_id: s for s in store.sandboxes()}
        self._lock = asyncio.Lock()  # addresses and ports are chosen one sandbox at a time
        self._leaving: set[asyncio.Task[None]] = set()  # veth deletions after a teardown
        # The last address given per network: the next goes after it (as moby's
        # allocator), so an address just freed is not handed out again at once.
        self._last: dict[str, str] = {}

    def path(self, cid: str) -> Path:
        return self.root / cid

    def get(self, cid: str) -> Sandbox | None:
        return self._live.get(cid)

    def all(self) -> list[Sandbox]:
        return list(self._live.values())

    def upstreams(self, cid: str) -> tuple[str, ...]:
        box = self._live.get(cid)
        return box.dns if box is not None else ()

    # -- start and stop ----------------------------------------------------------------

    async def setup(
        self,
        cid: str,
        *,
        bindings: Sequence[PortBinding],
        dns: tuple[str, ...],
        name: str,
        hosts_file: str = "",
        host_names: str = "",
        links: tuple[tuple[str, str], ...] = (),
        owner: netns.UsernsOwner | None = None,
    ) -> Sandbox:
        path = self.path(cid)
        await asyncio.to_thread(netns.remove, path)  # what a crash may have left
        await asyncio.to_thread(functools.partial(netns.create, path, owner=owner))
        joined: list[Attachment] = []
        try:
            async with self._lock:
                for a in await asyncio.to_thread(self._resolve_pending, cid):
                    joined.append(await self._join(a, path, joined))
                first = next((a for a in joined if a.endpoint and a.endpoint.ipv4), None)
                ports: tuple[PortMapping, ...] = ()
                if bindings and first is not None and first.endpoint is not None:
                    ports = await asyncio.to_thread(
                        functools.partial(
                            self._ports.reserve,
                            cid,
                            bindings,
                            first.endpoint.ipv4,
                            endpoint=f"{name} ({first.endpoint.endpoint_id})",
                            container_ip6=first.endpoint.ipv6,
                        )
                    )
                box = Sandbox(
                    container_id=cid,
                    netns=str(path),
                    ports=ports,
                    dns=dns,
                    hosts_file=hosts_file,
                    host_names=host_names,
                    links=links,
                )
                await asyncio.to_thread(self._store.save_sandbox, box, *joined)
                self._catalog.remember(*joined)
                self._live[cid] = box
                if ports:
                    await self._firewall.refresh()
            if any(self._has_dns(a) for a in joined):
                await self._dns.serve(cid, path)
        except BaseException:
            await self.teardown(cid, joined_now=joined)
            raise
        for a in joined:
            self._publish("connect", self._catalog.get(a.network_id), cid)
        return box

    async def teardown(self, cid: str, *, joined_now: Sequence[Attachment] = ()) -> None:
        await self._dns.stop(cid)
        async with self._lock:
            box = self._live.pop(cid, None)
            self._ports.release(cid)
            left: list[Attachment] = []
            gone: list[tuple[Network, Endpoint]] = []
            for a in [*self._catalog.of_container(cid), *joined_now]:
                if a.endpoint is None or not a.network_id:
                    continue
                net = self._catalog.find(a.network_id)
                if net is not None:
                    gone.append((net, a.endpoint))
                left.append(replace(a, endpoint=None))
            known = [a for a in left if self._catalog.attachment(cid, a.network_id) is not None]
            # `_live` mirrors the stored sandboxes: with neither a sandbox nor an
            # endpoint there is nothing to write (an empty transaction and a worker
            # thread's round trip, up to 15 ms under load, at every removal).
            if box is not None or known:
                await asyncio.to_thread(self._store.drop_sandbox, cid, *known)
                self._catalog.remember(*known)
            if box is not None and box.ports:
                with contextlib.suppress(PierError):
                    await self._firewall.refresh()
        if os.path.lexists(self.path(cid)):  # a mount needs its file: none, nothing to do
            await asyncio.to_thread(netns.remove, self.path(cid))
        if gone:
            # Deleting a veth waits for the kernel's RCU grace periods (20-40 ms here):
            # the namespace is gone already, so the caller does not wait for it.
            task = asyncio.create_task(self._leave_all(gone))
            self._leaving.add(task)
            task.add_done_callback(self._leaving.discard)
        if box is not None:
            for a in left:
                net = self._catalog.find(a.network_id)
                if net is not None:
                    self._publish("disconnect", net, cid)

    async def _leave_all(self, gone: Sequence[tuple[Network, Endpoint]]) -> None:
        for net, endpoint in gone:
            with contextlib.suppress(PierError, OSError):
                await asyncio.to_thread(self._driver(net).leave, net, endpoint)

    def _resolve_pending(self, cid: str) -> list[Attachment]:
        """Networks named at create that exist now are joined; one still missing
        fails the start with dockerd's wording."""
        out = []
        for a in self._catalog.of_container(cid):
            if not a.network_id:
                net = self._catalog.find(a.network_name)
                if net is None:
                    raise NotFound(
                        f"failed to set up container networking: network {a.network_name} not found"
                    )
                self._catalog.remove(cid, a.key)
                a = replace(a, network_id=net.id)
                self._catalog.put(a)
            out.append(a)
        return out

    # -- connect and disconnect while running ------------------------------------------

    async def join_live(self, cid: str, attachment: Attachment) -> Attachment:
        box = self._live[cid]
        async with self._lock:
            current = [a for a in self._catalog.of_container(cid) if a.endpoint is not None]
            joined = await self._join(attachment, Path(box.netns), current)
            self._catalog.put(joined)
        if self._has_dns(joined) and not self._dns.serving(cid):
            await self._dns.serve(cid, Path(box.netns))
            if box.hosts_file:
                resolv = Path(box.hosts_file).with_name("resolv.conf")
                try:
                    await asyncio.to_thread(hostsfile.use_embedded_dns, resolv, DNS_ADDRESS)
                except OSError as exc:
                    # The endpoint is joined: the connect stands, as moby's
                    # startResolver only logs a failed rebuildDNS.
                    log.error("Updating resolv.conf failed for container %s, %r", cid, str(exc))
        if box.hosts_file:
            records = hosts_records(joined.endpoint, box.host_names)
            await _edit_hosts(hostsfile.add, box, records, "adding")
        self._publish("connect", self._catalog.get(joined.network_id), cid)
        return joined

    async def leave_live(self, cid: str, attachment: Attachment) -> None:
        net = self._catalog.get(attachment.network_id)
        box = self._live.get(cid)
        if attachment.endpoint is not None:
            await asyncio.to_thread(self._driver(net).leave, net, attachment.endpoint)
            if box is not None and box.hosts_file:
                records = hosts_records(attachment.endpoint, box.host_names)
                await _edit_hosts(hostsfile.remove, box, records, "deleting")
        self._publish("disconnect", net, cid)

    # -- helpers -----------------------------------------------------------------------

    def _driver(self, net: Network) -> NetworkDriver:
        return self._drivers[net.driver]

    def _has_dns(self, a: Attachment) -> bool:
        net = self._catalog.find(a.network_id)
        return net is not None and net.is_bridge and not net.default_bridge

    async def _join(self, a: Attachment, path: Path, before: Sequence[Attachment]) -> Attachment:
        net = self._catalog.get(a.network_id)
        if not net.is_bridge:
            return a
        used_ifnames = {b.endpoint.ifname for b in before if b.endpoint is not None}
        ifname = next(
            f"eth{i}" for i in range(len(used_ifnames) + 1) if f"eth{i}" not in used_ifnames
        )
        has_route = any(
            b.endpoint is not None and b.endpoint.gateway and not self._internal(b) for b in before
        )
        plan = self._plan(net, a, ifname, default_route=not has_route and not net.internal)
        endpoint: Endpoint = await asyncio.to_thread(self._driver(net).join, net, plan, path)
        return replace(a, endpoint=endpoint)

    def _internal(self, a: Attachment) -> bool:
        net = self._catalog.find(a.network_id)
        return net is None or net.internal

    def _plan(
        self, net: Network, a: Attachment, ifname: str, *, default_route: bool
    ) -> EndpointPlan:
        v4 = next((p for p in net.ipam if ":" not in p.subnet), None)
        v6 = next((p for p in net.ipam if ":" in p.subnet), None)
        if v4 is None:
            raise Forbidden(f"network {net.name} has no IPv4 pool")
        subnet = ipam.parse_net(v4.subnet)
        # Auxiliary addresses are the driver's: never handed out, not even when asked.
        used = self._catalog.used_addresses(net.id) | {
            aux for pool in net.ipam for aux in pool.aux_addresses.values()
        }
        if a.request.ipv4:
            if a.request.ipv4 in used or a.request.ipv4 == v4.gateway:
                raise Forbidden("Address already in use")
            address = a.request.ipv4
        else:
            reserved = self._catalog.requested_addresses(net.id, but=a.container_id)
            address = ipam.allocate(
                subnet,
                ip_range=v4.ip_range,
                gateway=v4.gateway,
                used=used | reserved,
                last=self._last.get(net.id, ""),
            )
            self._last[net.id] = address
        ipv6 = ""
        ipv6_len = 0
        if v6 is not None:
            sub6 = ipam.parse_net(v6.subnet)
            if a.request.ipv6 and (a.request.ipv6 in used or a.request.ipv6 == v6.gateway):
                raise Forbidden("Address already in use")
            ipv6 = a.request.ipv6 or ipam.allocate(
                sub6, ip_range=v6.ip_range, gateway=v6.gateway, used=used
            )
            ipv6_len = sub6.prefixlen
        return EndpointPlan(
            endpoint_id=secrets.token_hex(32),
            ifname=ifname,
            host_ifname="veth" + secrets.token_hex(4)[:7],
            ipv4=address,
            prefix_len=subnet.prefixlen,
            gateway=v4.gateway,
            mac=a.request.mac or ipam.mac_for(address),
            default_route=default_route,
            ipv6=ipv6,
            ipv6_prefix_len=ipv6_len,
            ipv6_gateway=v6.gateway if v6 is not None else "",
        )

    # -- daemon start --------------------------------------------------------------------

    async def adopt(self, live: set[str]) -> None:
        """Keep the sandboxes of containers still running (their ports bound again,
        their DNS served); take down the others."""
        for box in list(self._live.values()):
            cid = box.container_id
            if cid in live and netns.is_mounted(Path(box.netns)):
                await asyncio.to_thread(self._ports.readopt, cid, box.ports)
                if any(self._has_dns(a) for a in self._catalog.of_container(cid)):
                    with contextlib.suppress(OSError):
                        await self._dns.serve(cid, Path(box.netns))
            else:
                await self.teardown(cid)
        # Namespaces no sandbox records (a crash before the record was written).
        if self.root.is_dir():
            for entry in self.root.iterdir():
                if entry.name not in self._live:
                    await asyncio.to_thread(netns.remove, entry)
        # Endpoints recorded without a sandbox are stale: their addresses are free.
        stale = [
            replace(a, endpoint=None)
            for cid_att in [self._catalog.of_container(c) for c in self._containers()]
            for a in cid_att
            if a.endpoint is not None and a.container_id not in self._live
        ]
        if stale:
            self._catalog.put(*stale)

    def _containers(self) -> set[str]:
        return {
            a.container_id for n in self._catalog.networks() for a in self._catalog.on_network(n.id)
        }

    def host_links(self) -> set[str]:
        return {
            a.endpoint.host_ifname
            for cid in self._live
            for a in self._catalog.of_container(cid)
            if a.endpoint is not None
        }

    async def close(self) -> None:
        await self._dns.close()
        self._ports.close()
        if self._leaving:
            await asyncio.gather(*self._leaving, return_exceptions=True)


async def _edit_hosts(
    edit: Callable[[Path, Sequence[tuple[str, str]]], None],
    box: Sandbox,
    records: Sequence[tuple[str, str]],
    doing: str,
) -> None:
    """A running container's /etc/hosts follows a connect or disconnect; a file that
    cannot be rewritten is logged and the operation stands (the endpoint is joined or
    gone already), as moby's addHostsEntries and deleteHostsEntries only warn."""
    try:
        await asyncio.to_thread(edit, Path(box.hosts_file), records)
    except OSError as exc:
        log.warning("Failed %s service host entries to the running container: %s", doing, exc)


def hosts_records(endpoint: Endpoint | None, names: str) -> list[tuple[str, str]]:
    """An endpoint's /etc/hosts lines: each of its addresses with the container's names."""
    if endpoint is None:
        return []
    return [(ip, names) for ip in (endpoint.ipv4, endpoint.ipv6) if ip]
