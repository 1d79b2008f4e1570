"""What a test run may leave behind on the host, scoped to the roots the tests made:
mounts, monitor and runtime processes, cgroups, network namespaces."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")

FAMILIES = ("ip", "ip6")  # the nftables families of a daemon's tables


@dataclass
class Scope:
    """The roots (data, exec, temp) and cgroup parents of the daemons a test process
    started: only resources naming them are counted, so parallel workers and the
    machine's own processes are never blamed or touched."""

    roots: set[str] = field(default_factory=set)
    cgroup_parents: set[str] = field(default_factory=set)
    nft_tables: dict[str, str] = field(default_factory=dict)  # table -> the daemon's base

    def snapshot(self) -> frozenset[str]:
        return frozenset(
            self._mounts()
            | self._processes()
            | self._cgroups()
            | self._netns()
            | self._links()
            | self._nft_rules()
            | self._build_scratch()
        )

    def _build_scratch(self) -> set[str]:
        """Build contexts a daemon unpacked in memory (/dev/shm/pier-build-*), each
        naming its daemon's data root in an `owner` file."""
        found = set()
        base = Path("/dev/shm")
        for entry in base.glob("pier-build-*") if base.is_dir() else ():
            try:
                owner = (entry / "owner").read_text()
            except OSError:
                continue
            if any(owner.startswith(r) for r in self.roots):
                found.add(f"build scratch {entry}")
        return found

    def settled(self, before: frozenset[str], timeout: float = 3.0) -> set[str]:
        """What is there now and was not `before`, once the kernel's asynchronous
        clean-up had its chance: a veth goes some tens of milliseconds after its
        namespace, so only what is still there at the deadline is a leak."""
        deadline = time.monotonic() + timeout
        while True:
            extra = set(self.snapshot() - before)
            if not extra or time.monotonic() > deadline:
                return extra
            time.sleep(0.02)

    def _links(self) -> set[str]:
        """Links (bridges, veths) a daemon marked with its ifalias `pier <exec-root>`,
        with their addresses."""
        found = set()
        base = Path("/sys/class/net")
        for dev in base.iterdir() if base.is_dir() else ():
            try:
                alias = (dev / "ifalias").read_text().strip()
            except OSError:
                continue
            if alias.startswith("pier ") and any(alias[5:].startswith(r) for r in self.roots):
                found.add(f"link {dev.name} ({alias})")
        if found:
            out = subprocess.run(
                ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True
            ).stdout
            names = {item.split()[1] for item in found}
            for line in out.splitlines():
                parts = line.split()
                if len(parts) > 3 and parts[1] in names:
                    found.add(f"address {parts[3]} on {parts[1]}")
        return found

    def _nft_rules(self) -> set[str]:
        """Every rule and set element in the tables (IPv4 and IPv6) of our daemons."""
        found = set()
        for (table, base), family in itertools.product(list(self.nft_tables.items()), FAMILIES):
            out = subprocess.run(
                ["nft", "list", "table", family, table], capture_output=True, text=True
            )
            if out.returncode != 0:
                continue
            chain = ""
            for line in out.stdout.splitlines():
                text = line.strip()
                if text.startswith(("chain ", "set ")):
                    chain = text.rstrip(" {")
                elif text and not text.startswith(("type ", "}", "table ", "policy")):
                    found.add(f"nft {base} {family} {table} {chain}: {text}")
        return found

    def _netns(self) -> set[str]:
        """Named network namespaces of our daemons (`ip netns` style, or bind mounts
        under an exec root, which `_mounts` sees too)."""
        found = set()
        for base in [Path("/run/netns"), *(Path(r) / "run" / "netns" for r in self.roots)]:
            if base.is_dir():
                for entry in base.iterdir():
                    if base != Path("/run/netns") or "pier" in entry.name:
                        found.add(f"netns {entry}")
        return found

    def _mounts(self) -> set[str]:
        found = set()
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                target = line.split()[4]
                if any(target.startswith(r) for r in self.roots):
                    found.add(f"mount {target}")
        return found

    def _processes(self) -> set[str]:
        found = set()
        markers = [r.encode() for r in self.roots]
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if any(m in cmdline for m in markers) and not _is_daemon(cmdline):
                shown = cmdline.replace(b"\0", b" ")[:160].decode(errors="replace")
                # An etcd member of a swarm (its data and sockets under a daemon's roots)
                # outlives pierd only if swarm leave or daemon shutdown forgot it.
                kind = "etcd member" if cmdline.split(b"\0")[0].endswith(b"etcd") else "process"
                found.add(f"{kind} {entry} {shown}")
        return found

    def _cgroups(self) -> set[str]:
        found = set()
        if not CGROUP_ROOT.is_dir():
            return found
        for hierarchy in CGROUP_ROOT.iterdir():
            for parent in self.cgroup_parents:
                base = hierarchy / parent.strip("/")
                if base.is_dir():
                    for child in base.iterdir():
                        if child.is_dir():
                            found.add(f"cgroup {child}")
        return found

    def remove_cgroup_parents(self) -> None:
        for hierarchy in CGROUP_ROOT.iterdir():
            for parent in self.cgroup_parents:
                base = hierarchy / parent.strip("/")
                if base.is_dir():
                    with contextlib.suppress(OSError):
                        base.rmdir()


def _is_daemon(cmdline: bytes) -> bool:
    """pierd itself is the fixture's (restarted at will), not a leak."""
    return b"pier.daemon.main" in cmdline or b"/pierd\0" in cmdline
