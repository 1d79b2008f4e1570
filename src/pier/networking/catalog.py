"""The networks and attachments in memory, written through to the store; lookups by
reference, the names the embedded DNS answers, the addresses in use."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from pier.errors import NoSuchNetwork
from pier.networking.links import parse_link
from pier.networking.model import Attachment, Network
from pier.networking.store import NetworkStore


class Catalog:
    def __init__(self, *, store: NetworkStore) -> None:
        self._store = store
        self._nets: dict[str, Network] = {n.id: n for n in store.networks()}
        # container id -> network id -> attachment
        self._att: dict[str, dict[str, Attachment]] = {}
        for a in store.attachments():
            if a.network_id in self._nets or not a.network_id:
                self._att.setdefault(a.container_id, {})[a.key] = a

    # -- networks ----------------------------------------------------------------------

    def networks(self) -> list[Network]:
        return list(self._nets.values())

    def find(self, ref: str) -> Network | None:
        """By full ID, then name, then unique ID prefix (moby's FindNetwork order)."""
        if ref in self._nets:
            return self._nets[ref]
        for net in self._nets.values():
            if net.name == ref:
                return net
        if re.fullmatch(r"[0-9a-f]+", ref):
            found = [n for i, n in self._nets.items() if i.startswith(ref)]
            if len(found) == 1:
                return found[0]
        return None

    def get(self, ref: str) -> Network:
        net = self.find(ref)
        if net is None:
            raise NoSuchNetwork(ref)
        return net

    def by_name(self, name: str) -> Network | None:
        return next((n for n in self._nets.values() if n.name == name), None)

    def put_network(self, net: Network) -> None:
        self._store.save_network(net)
        self._nets[net.id] = net

    def drop_network(self, net_id: str) -> None:
        self._store.remove_network(net_id)
        self._nets.pop(net_id, None)

    # -- attachments -------------------------------------------------------------------

    def of_container(self, cid: str) -> list[Attachment]:
        return sorted(self._att.get(cid, {}).values(), key=lambda a: a.order)

    def on_network(self, net_id: str) -> list[Attachment]:
        return [a for per in self._att.values() for a in per.values() if a.network_id == net_id]

    def endpoints_on(self, net_id: str) -> list[Attachment]:
        """Attachments of running containers (with an endpoint) on a network."""
        return [a for a in self.on_network(net_id) if a.endpoint is not None]

    def attachment(self, cid: str, net_id: str) -> Attachment | None:
        return self._att.get(cid, {}).get(net_id)

    def put(self, *items: Attachment) -> None:
        self._store.save_attachments(*items)
        self.remember(*items)

    def remember(self, *items: Attachment) -> None:
        """In memory only: the caller wrote them (with a sandbox, in one transaction)."""
        for a in items:
            self._att.setdefault(a.container_id, {})[a.key] = a

    def remove(self, cid: str, net_id: str) -> None:
        """`net_id` is an attachment's key (a network ID, or "?name" while pending)."""
        self._store.remove_attachment(cid, net_id)
        self._att.get(cid, {}).pop(net_id, None)

    def forget(self, cid: str) -> None:
        self._store.forget_container(cid)
        self._att.pop(cid, None)

    def next_order(self, cid: str) -> int:
        return max((a.order for a in self._att.get(cid, {}).values()), default=-1) + 1

    def used_addresses(self, net_id: str) -> set[str]:
        return {
            a.endpoint.ipv4
            for a in self.on_network(net_id)
            if a.endpoint is not None and a.endpoint.ipv4
        } | {
            a.endpoint.ipv6
            for a in self.on_network(net_id)
            if a.endpoint is not None and a.endpoint.ipv6
        }

    def requested_addresses(self, net_id: str, but: str = "") -> set[str]:
        """Static addresses other containers asked for: kept for them (moby reserves
        them only while running; keeping them avoids a surprise at their next start)."""
        return {
            a.request.ipv4
            for a in self.on_network(net_id)
            if a.request.ipv4 and a.container_id != but
        }

    # -- names for the embedded DNS ----------------------------------------------------

    def lookup(self, asker: str, name: str) -> list[str] | None:
        found: list[str] = []
        for mine in self.of_container(asker):
            net = self._nets.get(mine.network_id)
            if net is None or not _has_dns(net):
                continue
            # A link made on this network ("target:alias") names the target for the
            # linking container only (moby's endpoint aliases).
            wanted = next(
                (t.lower() for t, alias in map(parse_link, mine.request.links) if alias == name),
                name,
            )
            for other in self.on_network(mine.network_id):
                ep = other.endpoint
                if ep is None or wanted not in other.dns_names:
                    continue
                for addr in (ep.ipv4, ep.ipv6):
                    if addr and addr not in found:
                        found.append(addr)
        return found or None

    def reverse(self, asker: str, address: str) -> str | None:
        for mine in self.of_container(asker):
            net = self._nets.get(mine.network_id)
            if net is None or not _has_dns(net):
                continue
            for other in self.on_network(mine.network_id):
                ep = other.endpoint
                if ep is not None and address in (ep.ipv4, ep.ipv6) and other.dns_names:
                    return f"{other.dns_names[0]}.{net.name}"
        return None

    def internal_only(self, cid: str) -> bool:
        nets = [self._nets.get(a.network_id) for a in self.of_container(cid)]
        return bool(nets) and all(n is not None and n.internal for n in nets)


def _has_dns(net: Network) -> bool:
    return net.is_bridge and not net.default_bridge


def dns_names(name: str, aliases: Iterable[str], cid: str, hostname: str) -> tuple[str, ...]:
    """moby's buildEndpointDNSNames: name, aliases, short ID, hostname, deduplicated."""
    out: list[str] = []
    for item in (name, *aliases, cid[:12], hostname):
        item = item.lower()
        if item and item not in out:
            out.append(item)
    return tuple(out)


def with_endpoint(a: Attachment, endpoint: object) -> Attachment:
    return replace(a, endpoint=endpoint)  # type: ignore[arg-type]
