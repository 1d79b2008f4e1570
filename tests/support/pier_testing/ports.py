"""Free TCP ports for the servers tests start."""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path


def free_port(count: int = 1) -> int:
    """The first of `count` consecutive TCP ports free on every address, below the
    kernel's ephemeral range: a port the kernel hands out (as bind to 0 does) can be
    taken next by any parallel test's outgoing connection before the server binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        base = random.randrange(10000, low - count)
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + count):
                    held.enter_context(socket.socket()).bind(("0.0.0.0", port))
            except OSError:
                continue
        return base
