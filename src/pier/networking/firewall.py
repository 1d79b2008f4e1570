"""Keeps Pier's nftables table in line with the networks and published ports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from pier.networking import nft
from pier.networking.model import Network, PortMapping


class Firewall:
    def __init__(
        self,
        *,
        table: str,
        enabled: bool,
        networks: Callable[[], Sequence[Network]],
        mappings: Callable[[], Sequence[PortMapping]],
    ) -> None:
        self.table = table
        self._enabled = enabled  # daemon.json "iptables": false turns rule management off
        self._networks = networks
        self._mappings = mappings
        self._lock = asyncio.Lock()

    def render(self) -> str:
        bridges = [
            nft.BridgeRules(
                device=n.device,
                subnets=tuple(p.subnet for p in n.ipam if ":" not in p.subnet),
                subnets6=tuple(p.subnet for p in n.ipam if ":" in p.subnet),
                internal=n.internal,
                masquerade=n.options.get("com.docker.network.bridge.enable_ip_masquerade", "true")
                != "false",
                icc=n.options.get("com.docker.network.bridge.enable_icc", "true") != "false",
            )
            for n in self._networks()
            if n.is_bridge and n.device
        ]
        forwards = [
            nft.Forward(
                proto=m.proto,
                host_ip=m.host_ip,
                host_port=m.host_port,
                container_ip=m.container_ip,
                container_port=m.container_port,
            )
            for m in self._mappings()
        ]
        return nft.render(self.table, bridges, forwards)

    async def refresh(self) -> None:
        if not self._enabled:
            return
        async with self._lock:
            await asyncio.to_thread(nft.apply, self.render())

    async def remove(self) -> None:
        if self._enabled:
            await asyncio.to_thread(nft.remove_table, self.table)
