"""NetworkService: networks (`/networks`), and the networking of containers: the
attachments checked and recorded at create, the sandbox made at start and taken
down at stop, what inspect shows, and recovery at daemon start.

Lifecycle: `start(live)` once the event loop runs (bridges made, sandboxes of
running containers adopted, rules rendered); `close()` at shutdown (sockets closed;
running containers keep their namespaces, addresses and rules: live restore).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pier import timefmt
from pier.errors import Conflict, Forbidden, NotFound, SystemFailure
from pier.events import EventBus
from pier.metadata import Database
from pier.networking import hostsfile, ipam
from pier.networking.attach import Attachments
from pier.networking.bridge import BridgeDriver
from pier.networking.catalog import Catalog
from pier.networking.dns import DnsServer
from pier.networking.driver import HostDriver, NetworkDriver, NullDriver
from pier.networking.firewall import Firewall
from pier.networking.links import LinkTarget, hosts_entries, hosts_names, link_env
from pier.networking.model import (
    BRIDGE_OPTION,
    DEFAULT_BRIDGE,
    PREDEFINED,
    Attachment,
    AttachRequest,
    ContainerNetworking,
    IPAMConfig,
    Network,
    PortBinding,
)
from pier.networking.netlink import Netlink
from pier.networking.netns import UsernsOwner
from pier.networking.ports import PortReservations
from pier.networking.sandbox import Sandboxes, hosts_records
from pier.networking.settings import NetworkSettings, NewNetwork, check_new
from pier.networking.store import NetworkStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxInfo:
    """What the run path needs of a started sandbox."""

    netns: Path
    own_hosts: tuple[tuple[str, str], ...]  # (address, names) for /etc/hosts
    embedded_dns: bool
    link_hosts: tuple[tuple[str, str], ...] = ()  # --link targets: (address, names)
    link_env: tuple[str, ...] = ()  # --link's variables (moby's Link.ToEnv)


class NetworkService:
    def __init__(
        self,
        *,
        settings: NetworkSettings,
        db: Database,
        exec_root: Path,
        events: EventBus,
        host_dns: Callable[[], Sequence[str]],
    ) -> None:
        self._settings = settings
        self._events = events
        self._store = NetworkStore(db=db)
        self._catalog = Catalog(store=self._store)
        # As dockerd: without an IPv6 pool configured, IPv6 subnets come from a ULA
        # /48 derived from the daemon's identity.
        self._pools = settings.pools
        if not any(":" in p.base for p in settings.pools):
            self._pools = (*settings.pools, ipam.ula_pool(f"pier {exec_root}"))
        self._netlink = Netlink()  # closed last, in close()
        self._bridge = BridgeDriver(marker=f"pier {exec_root}", netlink=self._netlink)
        self._drivers: dict[str, NetworkDriver] = {
            "bridge": self._bridge,
            "host": HostDriver(),
            "null": NullDriver(),
        }
        self._host_dns = host_dns
        self._attach = Attachments(catalog=self._catalog)
        self._firewall = Firewall(
            table=settings.nft_table,
            enabled=settings.iptables,
            networks=self._catalog.networks,
            mappings=lambda: [m for box in self._sandboxes.all() for m in box.ports],
        )
        self._sandboxes = Sandboxes(
            root=exec_root / "netns",
            catalog=self._catalog,
            store=self._store,
            drivers=self._drivers,
            ports=PortReservations(),
            dns=DnsServer(
                lookup=self._catalog.lookup,
                reverse=self._catalog.reverse,
                upstreams=self._upstreams,
                no_forward=self._catalog.internal_only,
            ),
            firewall=self._firewall,
            publish=self._publish,
        )

    @staticmethod
    def driver_names() -> list[str]:
        return ["bridge", "host", "null"]

    # -- daemon start and stop ---------------------------------------------------------

    async def start(self, live: set[str]) -> None:
        """Bridges made (or checked), sandboxes of `live` containers adopted and the
        others taken down, links and rules a crash left stale removed."""
        await self._ensure_predefined()
        for net in self._catalog.networks():
            await asyncio.to_thread(self._drivers[net.driver].create, net)
        await self._sandboxes.adopt(live)
        keep = {n.device for n in self._catalog.networks() if n.device}
        keep |= self._sandboxes.host_links()
        for name in await asyncio.to_thread(self._bridge.our_links):
            if name not in keep:
                log.info("removing stale link %s", name)
                await asyncio.to_thread(self._bridge.remove_link, name)
        await self._firewall.refresh()

    async def close(self) -> None:
        try:
            await self._sandboxes.close()
            if not self._sandboxes.all():
                # Nothing runs: no device or rule stays on the host (made again at start).
                for net in self._catalog.networks():
                    if net.is_bridge:
                        await asyncio.to_thread(self._bridge.park, net)
                await self._firewall.remove()
        finally:
            await asyncio.to_thread(self._netlink.close)

    async def _ensure_predefined(self) -> None:
        old = self._catalog.by_name(DEFAULT_BRIDGE)
        bridge = await asyncio.to_thread(self._default_bridge, old)
        if bridge != old:
            if old is not None and old.device != bridge.device:
                await asyncio.to_thread(self._bridge.delete, old)
            self._catalog.put_network(bridge)
        for name, driver in (("host", "host"), ("none", "null")):
            if self._catalog.by_name(name) is None:
                self._catalog.put_network(
                    Network(
                        id=secrets.token_hex(32), name=name, driver=driver, created=timefmt.now()
                    )
                )

    def _default_bridge(self, old: Network | None) -> Network:
        s = self._settings
        if s.bip:
            subnet, gateway = str(ipam.parse_net(s.bip)), s.bip.partition("/")[0]
        elif old is not None and old.ipam and old.device == s.bridge:
            subnet, gateway = old.ipam[0].subnet, old.ipam[0].gateway
        else:
            taken = [
                ipam.parse_net(p.subnet)
                for n in self._catalog.networks()
                if n.name != DEFAULT_BRIDGE
                for p in n.ipam
            ]
            picked = ipam.pick_subnet(s.pools, [*taken, *self._bridge.host_routes()])
            subnet, gateway = str(picked), ipam.gateway_of(picked)
        pools = [IPAMConfig(subnet=subnet, gateway=gateway)]
        if s.ipv6:
            pools.append(self._default_v6(old))
        return Network(
            id=old.id if old is not None else secrets.token_hex(32),
            name=DEFAULT_BRIDGE,
            driver="bridge",
            created=old.created if old is not None else timefmt.now(),
            ipam=tuple(pools),
            ipv6=s.ipv6,
            options={
                BRIDGE_OPTION: s.bridge,
                "com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.enable_icc": "true" if s.icc else "false",
                "com.docker.network.bridge.enable_ip_masquerade": "true",
                "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                "com.docker.network.driver.mtu": "1500",
            },
            device=s.bridge,
            default_bridge=True,
        )

    def _default_v6(self, old: Network | None) -> IPAMConfig:
        """The default bridge's IPv6 pool: `fixed-cidr-v6`, else the one it had, else
        a /64 of the IPv6 pools."""
        if self._settings.fixed_cidr_v6:
            subnet = ipam.parse_net(self._settings.fixed_cidr_v6)
            return IPAMConfig(subnet=str(subnet), gateway=ipam.gateway_of(subnet))
        had = next((p for p in old.ipam if ":" in p.subnet), None) if old else None
        if had is not None:
            return had
        taken = [ipam.parse_net(p.subnet) for n in self._catalog.networks() for p in n.ipam]
        picked = ipam.pick_subnet(self._pools, taken, v6=True)
        return IPAMConfig(subnet=str(picked), gateway=ipam.gateway_of(picked))

    # -- networks ------------------------------------------------------------------------

    def networks(self) -> list[Network]:
        return self._catalog.networks()

    def get(self, ref: str) -> Network:
        return self._catalog.get(ref)

    def endpoints_of(self, net_id: str) -> list[Attachment]:
        return [a for a in self._catalog.on_network(net_id) if a.endpoint is not None]

    def attachments_of(self, net_id: str) -> list[Attachment]:
        return self._catalog.on_network(net_id)

    async def create(self, request: NewNetwork) -> Network:
        check_new(request, self._drivers)
        if self._catalog.by_name(request.name) is not None:
            raise Conflict(f"network with name {request.name} already exists")
        net = await asyncio.to_thread(self._complete, request)
        await asyncio.to_thread(self._drivers[net.driver].create, net)
        try:
            self._catalog.put_network(net)
            await self._firewall.refresh()
        except BaseException:
            self._catalog.drop_network(net.id)
            await asyncio.to_thread(self._drivers[net.driver].delete, net)
            raise
        self._publish_network("create", net)
        return net

    def _complete(self, request: NewNetwork) -> Network:
        """Subnets and gateways chosen, overlaps refused (blocking: reads host routes)."""
        existing = [ipam.parse_net(p.subnet) for n in self._catalog.networks() for p in n.ipam]
        pools: list[IPAMConfig] = []
        for cfg in request.ipam:
            subnet = ipam.parse_net(cfg.subnet)
            ipam.check_no_overlap(subnet, existing)
            existing.append(subnet)
            gateway = cfg.gateway or ipam.gateway_of(subnet)
            pools.append(replace(cfg, subnet=str(subnet), gateway=gateway))
        if request.driver == "bridge" and not any(":" not in p.subnet for p in pools):
            routes = self._bridge.host_routes()
            picked = ipam.pick_subnet(self._pools, [*existing, *routes])
            pools.insert(0, IPAMConfig(subnet=str(picked), gateway=ipam.gateway_of(picked)))
        if request.driver == "bridge" and request.ipv6 and not any(":" in p.subnet for p in pools):
            picked = ipam.pick_subnet(self._pools, existing, v6=True)
            pools.append(IPAMConfig(subnet=str(picked), gateway=ipam.gateway_of(picked)))
        nid = secrets.token_hex(32)
        device = request.options.get(BRIDGE_OPTION) or f"br-{nid[:12]}"
        if any(n.device == device for n in self._catalog.networks()):
            raise Conflict(f"bridge name {device} is already in use")
        bridge = request.driver == "bridge"
        return Network(
            id=nid,
            name=request.name,
            driver=request.driver,
            created=timefmt.now(),
            internal=request.internal,
            attachable=request.attachable,
            ipv6=request.ipv6,
            labels=request.labels,
            options=request.options,
            ipam=tuple(pools) if bridge else (),
            ipam_static=bool(request.ipam),
            device=device if bridge else "",
        )

    async def remove(self, ref: str) -> None:
        net = self._catalog.get(ref)
        if net.name in PREDEFINED:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        users = self.endpoints_of(net.id)
        if users:
            names = ", ".join(
                f'name:"{a.container_name}" id:"{a.container_id[:12]}"' for a in users
            )
            raise Forbidden(
                f"error while removing network: network {net.name} has active endpoints ({names})"
            )
        for a in self._catalog.on_network(net.id):
            self._catalog.remove(a.container_id, net.id)  # stopped containers' requests
        self._catalog.drop_network(net.id)
        await asyncio.to_thread(self._drivers[net.driver].delete, net)
        await self._firewall.refresh()
        self._publish_network("destroy", net)

    async def prune(self, keep: Callable[[Network], bool]) -> list[str]:
        removed = []
        for net in self._catalog.networks():
            if net.name in PREDEFINED or self.endpoints_of(net.id) or keep(net):
                continue
            with contextlib.suppress(NotFound, Forbidden):
                await self.remove(net.id)
                removed.append(net.name)
        return removed

    # -- containers ----------------------------------------------------------------------

    def plan(
        self, mode: str, endpoints: Mapping[str, AttachRequest]
    ) -> list[tuple[Network | str, AttachRequest]]:
        return self._attach.plan(mode, endpoints)

    def register(
        self,
        cid: str,
        *,
        name: str,
        hostname: str,
        labels: Mapping[str, str],
        plan: Sequence[tuple[Network | str, AttachRequest]],
    ) -> None:
        self._attach.register(cid, name=name, hostname=hostname, labels=labels, plan=plan)

    async def forget(self, cid: str) -> None:
        """The container is removed: its sandbox (if any) and attachments go."""
        await self._sandboxes.teardown(cid)
        await asyncio.to_thread(self._catalog.forget, cid)

    async def run(
        self,
        cid: str,
        *,
        name: str,
        bindings: Sequence[PortBinding],
        dns: Sequence[str],
        links: Sequence[LinkTarget] = (),
        hosts_file: str = "",
        host_names: str = "",
        owner: UsernsOwner | None = None,
    ) -> SandboxInfo:
        """Start `cid`'s networking. `links` are its legacy links on the default
        bridge (targets checked running by the caller); `hosts_file` is the container's
        /etc/hosts, whose lines for `host_names` follow later connects; `owner` is the
        user namespace of a remapped container, which its network namespace belongs to."""
        addresses = self._link_addresses(links)
        box = await self._sandboxes.setup(
            cid,
            bindings=bindings,
            dns=tuple(dns),
            name=name,
            hosts_file=hosts_file,
            host_names=host_names,
            links=tuple((t.container_id, hosts_names(t)) for t in links),
            owner=owner,
        )
        try:
            await self._update_linkers(cid)
            own: list[tuple[str, str]] = []
            embedded = False
            for a in self._catalog.of_container(cid):
                net = self._catalog.find(a.network_id)
                own += hosts_records(a.endpoint, host_names)
                embedded = embedded or (
                    net is not None and net.is_bridge and not net.default_bridge
                )
            return SandboxInfo(
                netns=Path(box.netns),
                own_hosts=tuple(own),
                embedded_dns=embedded,
                link_hosts=hosts_entries(links, addresses),
                link_env=tuple(e for t in links for e in link_env(t, addresses[t.container_id][0])),
            )
        except BaseException:
            # The caller undoes only what it was handed: a failure here leaves nothing.
            await self._sandboxes.teardown(cid)
            raise

    async def _update_linkers(self, cid: str) -> None:
        """Running containers linking to `cid` get its new addresses in their /etc/hosts
        (moby's addLegacyLinks updates the parents' hosts entries)."""
        bridge = self._catalog.by_name(DEFAULT_BRIDGE)
        a = self._catalog.attachment(cid, bridge.id) if bridge is not None else None
        if a is None or a.endpoint is None:
            return
        for box in self._sandboxes.all():
            for target, names in box.links:
                if target == cid and box.hosts_file:
                    records = hosts_records(a.endpoint, names)
                    try:
                        await asyncio.to_thread(hostsfile.replace, Path(box.hosts_file), records)
                    except OSError as exc:
                        # The linker's file is the linker's: this start goes on.
                        log.warning(
                            "could not update the hosts file of %s: %s", box.container_id, exc
                        )

    def _link_addresses(self, links: Sequence[LinkTarget]) -> dict[str, tuple[str, str]]:
        """Each link target's addresses on the default bridge (moby's addLegacyLinks
        refuses a target that is not on it)."""
        bridge = self._catalog.by_name(DEFAULT_BRIDGE)
        out: dict[str, tuple[str, str]] = {}
        for target in links:
            a = self._catalog.attachment(target.container_id, bridge.id) if bridge else None
            if a is None or a.endpoint is None:
                raise SystemFailure(
                    f"Cannot link to /{target.name}, as it does not belong to the default network"
                )
            out[target.container_id] = (a.endpoint.ipv4, a.endpoint.ipv6)
        return out

    async def release(self, cid: str) -> None:
        await self._sandboxes.teardown(cid)

    async def rename(self, cid: str, old: str, new: str) -> None:
        """The container's names on its networks follow a rename (moby's rename:
        DNS names rebuilt, the endpoint renamed)."""
        renamed = [
            replace(
                a,
                container_name=new,
                dns_names=tuple(
                    dict.fromkeys(new.lower() if n == old.lower() else n for n in a.dns_names)
                ),
            )
            for a in self._catalog.of_container(cid)
        ]
        if renamed:
            await asyncio.to_thread(self._catalog.put, *renamed)

    def host_gateway(self) -> str:
        """`host-gateway` in --add-host: the default bridge's gateway, as dockerd."""
        net = self._catalog.by_name(DEFAULT_BRIDGE)
        return net.ipam[0].gateway if net is not None and net.ipam else ""

    def settings(
        self, cid: str, mode: str, requested: Sequence[PortBinding] = ()
    ) -> ContainerNetworking:
        pairs = []
        for a in self._catalog.of_container(cid):
            net = self._catalog.find(a.network_id)
            if net is not None:
                pairs.append((net, a))
        box = self._sandboxes.get(cid)
        return ContainerNetworking(
            mode=mode,
            attachments=tuple(pairs),
            ports=box.ports if box is not None else (),
            requested_ports=tuple(requested),
            sandbox_key=box.netns if box is not None else "",
        )

    async def connect(
        self,
        ref: str,
        cid: str,
        *,
        name: str,
        hostname: str,
        labels: Mapping[str, str],
        mode: str,
        request: AttachRequest,
    ) -> None:
        net = self._catalog.get(ref)
        if mode in ("host", "none") or mode.startswith("container:") or not net.is_bridge:
            raise Forbidden(
                "container cannot be disconnected from host network or connected to host network"
            )
        if self._catalog.attachment(cid, net.id) is not None:
            raise Forbidden(f"endpoint with name {name} already exists in network {net.name}")
        self._attach.check_request(net, request)
        attachment = self._attach.attachment(
            cid, name, hostname, labels, net, request, self._catalog.next_order(cid)
        )
        if self._sandboxes.get(cid) is not None:
            attachment = await self._sandboxes.join_live(cid, attachment)
        else:
            self._catalog.put(attachment)

    async def disconnect(self, ref: str, cid: str, *, name: str, force: bool) -> None:
        net = self._catalog.get(ref)
        attachment = self._catalog.attachment(cid, net.id)
        if attachment is None:
            if force:
                return
            raise Forbidden(f"container {cid} is not connected to network {net.name}")
        self._catalog.remove(cid, net.id)
        if self._sandboxes.get(cid) is not None:
            await self._sandboxes.leave_live(cid, attachment)

    # -- helpers -------------------------------------------------------------------------

    def _upstreams(self, cid: str) -> Sequence[str]:
        return self._sandboxes.upstreams(cid) or self._settings.dns or self._host_dns()

    def _publish(self, action: str, net: Network, cid: str) -> None:
        self._events.publish(
            "network", action, net.id, {"container": cid, "name": net.name, "type": net.driver}
        )

    def _publish_network(self, action: str, net: Network) -> None:
        self._events.publish("network", action, net.id, {"name": net.name, "type": net.driver})
