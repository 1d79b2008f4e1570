"""The attachments of containers to networks: checked at create (moby's endpoint
settings rules) and recorded with their DNS names."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pier.errors import InvalidParameter
from pier.networking import ipam
from pier.networking.catalog import Catalog, dns_names
from pier.networking.model import DEFAULT_BRIDGE, Attachment, AttachRequest, Network

COMPOSE_SERVICE = "com.docker.compose.service"


class Attachments:
    def __init__(self, *, catalog: Catalog) -> None:
        self._catalog = catalog

    def plan(
        self, mode: str, endpoints: Mapping[str, AttachRequest]
    ) -> list[tuple[Network | str, AttachRequest]]:
        """The networks a new container joins, in order, checked (Docker's 400s/404s)."""
        mode = mode or "default"
        if mode in ("host", "none") or mode.startswith("container:"):
            if any(r.ipv4 or r.aliases or r.mac for r in endpoints.values()):
                raise InvalidParameter(
                    "conflicting options: custom network settings and the network mode"
                )
            return []
        first = DEFAULT_BRIDGE if mode == "default" else mode
        out: list[tuple[Network | str, AttachRequest]] = []
        for name in [first, *(n for n in endpoints if n not in (first, mode, "default"))]:
            found = self._catalog.find(name)
            if found is None:
                # As dockerd: a network may be created after the container; the start
                # fails if it still does not exist.
                out.append((name, endpoints.get(name) or AttachRequest()))
                continue
            net = found
            if not net.is_bridge:
                raise InvalidParameter(
                    "container cannot be disconnected from host network or connected to "
                    "host network"
                )
            req = endpoints.get(name) or endpoints.get(net.id) or AttachRequest()
            if name == first == DEFAULT_BRIDGE and "default" in endpoints:
                req = endpoints["default"]
            try:
                self.check_request(net, req)
            except InvalidParameter as exc:  # moby's validateNetworkingConfig wording
                raise InvalidParameter(f"invalid config for network {name}: {exc}") from None
            out.append((net, req))
        return out

    def check_request(self, net: Network, req: AttachRequest) -> None:
        v4 = next((p for p in net.ipam if ":" not in p.subnet), None)
        subnet = ipam.parse_net(v4.subnet) if v4 is not None else None
        ipam.check_static(subnet, net.ipam_static and not net.default_bridge, req.ipv4)
        if req.ipv6:
            v6 = next((p for p in net.ipam if ":" in p.subnet), None)
            ipam.check_static(
                ipam.parse_net(v6.subnet) if v6 is not None else None,
                net.ipam_static and not net.default_bridge,
                req.ipv6,
            )
        if req.aliases and net.default_bridge:
            raise InvalidParameter(
                "network-scoped aliases are only supported for user-defined networks"
            )
        if req.mac and not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", req.mac):
            raise InvalidParameter(f"invalid MAC address: {req.mac}")

    def register(
        self,
        cid: str,
        *,
        name: str,
        hostname: str,
        labels: Mapping[str, str],
        plan: Sequence[tuple[Network | str, AttachRequest]],
    ) -> None:
        """Record what `plan` checked for the new container `cid`."""
        self._catalog.put(
            *(
                self.attachment(cid, name, hostname, labels, net, req, order)
                for order, (net, req) in enumerate(plan)
            )
        )

    def attachment(
        self,
        cid: str,
        name: str,
        hostname: str,
        labels: Mapping[str, str],
        net: Network | str,
        req: AttachRequest,
        order: int,
    ) -> Attachment:
        names: tuple[str, ...] = ()
        if isinstance(net, str) or not net.default_bridge:
            aliases = list(req.aliases)
            service = labels.get(COMPOSE_SERVICE)
            if service:
                aliases.append(service)  # compose's service name resolves on its networks
            names = dns_names(name, aliases, cid, hostname)
        return Attachment(
            container_id=cid,
            network_id=net.id if isinstance(net, Network) else "",
            network_name=net.name if isinstance(net, Network) else net,
            order=order,
            container_name=name,
            request=req,
            dns_names=names,
        )
