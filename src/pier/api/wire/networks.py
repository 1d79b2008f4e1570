"""Docker's network JSON (swagger Network, NetworkCreateRequest) and the network
part of container inspect (NetworkSettings, EndpointSettings, Ports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pier.errors import InvalidParameter
from pier.networking.model import (
    Attachment,
    ContainerNetworking,
    IPAMConfig,
    Network,
    PortBinding,
    PortMapping,
)
from pier.networking.settings import NewNetwork


def _map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameter(f"json: cannot unmarshal {field}")
    return {str(k): str(v) for k, v in value.items()}


def parse_create(body: Mapping[str, Any]) -> NewNetwork:
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidParameter("network name cannot be empty")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, Mapping):
        raise InvalidParameter("json: cannot unmarshal IPAM")
    driver = str(ipam.get("Driver") or "default")
    if driver != "default":
        raise InvalidParameter(f'plugin "{driver}" not found')
    pools = []
    for cfg in ipam.get("Config") or ():
        if not isinstance(cfg, Mapping):
            raise InvalidParameter("json: cannot unmarshal IPAM.Config")
        subnet = str(cfg.get("Subnet") or "")
        if not subnet:
            if cfg.get("Gateway") or cfg.get("IPRange") or cfg.get("AuxiliaryAddresses"):
                raise InvalidParameter("invalid network config:\nsubnet is required")
            continue
        pools.append(
            IPAMConfig(
                subnet=subnet,
                gateway=str(cfg.get("Gateway") or ""),
                ip_range=str(cfg.get("IPRange") or ""),
                aux_addresses=_map(cfg.get("AuxiliaryAddresses"), "IPAM.Config.AuxiliaryAddresses"),
            )
        )
    return NewNetwork(
        name=name,
        driver=str(body.get("Driver") or "bridge"),
        internal=bool(body.get("Internal")),
        attachable=bool(body.get("Attachable")),
        ipv6=bool(body.get("EnableIPv6")),
        labels=_map(body.get("Labels"), "Labels"),
        options=_map(body.get("Options"), "Options"),
        ipam=tuple(pools),
    )


def render_network(net: Network, attachments: Sequence[Attachment] | None) -> dict[str, Any]:
    """`attachments` None: the list form (Containers empty, as dockerd's list)."""
    containers: dict[str, Any] = {}
    for a in attachments or ():
        ep = a.endpoint
        if ep is None:
            continue
        containers[a.container_id] = {
            "Name": a.container_name,
            "EndpointID": ep.endpoint_id,
            "MacAddress": ep.mac,
            "IPv4Address": f"{ep.ipv4}/{ep.prefix_len}" if ep.ipv4 else "",
            "IPv6Address": f"{ep.ipv6}/{ep.ipv6_prefix_len}" if ep.ipv6 else "",
        }
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": net.scope,
        "Driver": net.driver,
        "EnableIPv4": True,
        "EnableIPv6": net.ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": None if net.default_bridge or not net.is_bridge else {},
            "Config": [_ipam(p) for p in net.ipam] if net.ipam or net.is_bridge else None,
        },
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(net.options),
        "Labels": dict(net.labels),
    }


def _ipam(p: IPAMConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Subnet": p.subnet}
    if p.ip_range:
        out["IPRange"] = p.ip_range
    if p.gateway:
        out["Gateway"] = p.gateway
    if p.aux_addresses:
        out["AuxiliaryAddresses"] = dict(p.aux_addresses)
    return out


# -- container inspect -----------------------------------------------------------------


def _endpoint_settings(net: Network, a: Attachment) -> dict[str, Any]:
    ep = a.endpoint
    req = a.request
    ipam_config = None
    if req.ipv4 or req.ipv6:
        ipam_config = {k: v for k, v in (("IPv4Address", req.ipv4), ("IPv6Address", req.ipv6)) if v}
    return {
        "IPAMConfig": ipam_config,
        "Links": list(req.links) or None,
        "Aliases": list(req.aliases) or None,
        "MacAddress": ep.mac if ep is not None else req.mac,
        "DriverOpts": dict(req.driver_opts) or None,
        "NetworkID": net.id,
        "EndpointID": ep.endpoint_id if ep is not None else "",
        "Gateway": ep.gateway if ep is not None else "",
        "IPAddress": ep.ipv4 if ep is not None else "",
        "IPPrefixLen": ep.prefix_len if ep is not None else 0,
        "IPv6Gateway": ep.ipv6_gateway if ep is not None else "",
        "GlobalIPv6Address": ep.ipv6 if ep is not None else "",
        "GlobalIPv6PrefixLen": ep.ipv6_prefix_len if ep is not None else 0,
        "DNSNames": list(a.dns_names) or None,
    }


def _blank_endpoint() -> dict[str, Any]:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": "",
        "DriverOpts": None,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def render_networks(n: ContainerNetworking, net_ids: Mapping[str, str]) -> dict[str, Any]:
    """NetworkSettings.Networks: per network name; `host`/`none` as dockerd shows them."""
    if n.mode.startswith("container:"):
        return {}
    if n.mode in ("host", "none"):
        blank = _blank_endpoint()
        blank["NetworkID"] = net_ids.get(n.mode, "")
        return {n.mode: blank}
    return {net.name: _endpoint_settings(net, a) for net, a in n.attachments}


def render_ports(n: ContainerNetworking, exposed: Sequence[str], running: bool) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed or published port, with its host bindings
    while running (null when not published)."""
    if not running or n.mode in ("host", "none") or n.mode.startswith("container:"):
        return {}
    ports: dict[str, Any] = {key: None for key in exposed}
    for b in n.requested_ports:
        ports.setdefault(b.key, None)
    for m in n.ports:
        entries = ports.get(m.key) or []
        entries.append({"HostIp": m.host_ip, "HostPort": str(m.host_port)})
        ports[m.key] = entries
    return ports


def render_port_bindings(bindings: Sequence[PortBinding]) -> dict[str, Any]:
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": b.host_port})
    return out


def summary_ports(n: ContainerNetworking, exposed: Sequence[str]) -> list[dict[str, Any]]:
    """ps's Ports: published ones with their host side, exposed ones without."""
    out: list[dict[str, Any]] = []
    published = set()
    for m in sorted(n.ports, key=_port_order):
        published.add(m.key)
        out.append(
            {
                "IP": m.host_ip,
                "PrivatePort": m.container_port,
                "PublicPort": m.host_port,
                "Type": m.proto,
            }
        )
    for key in exposed:
        if key not in published:
            port, _, proto = key.partition("/")
            if port.isdigit():
                out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    return out


def _port_order(m: PortMapping) -> tuple[int, str]:
    return (m.container_port, m.proto)
