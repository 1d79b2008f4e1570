"""What a test run may leave behind on the host, scoped to the roots the tests made:
mounts, monitor and runtime processes, cgroups, network namespaces."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Scope:
    """The roots (data, exec, temp) and cgroup parents of the daemons a test process
    started: only resources naming them are counted, so parallel workers and the
    machine's own processes are never blamed or touched."""

    roots: set[str] = field(default_factory=set)
    cgroup_parents: set[str] = field(default_factory=set)

    def snapshot(self) -> frozenset[str]:
        return frozenset(self._mounts() | self._processes() | self._cgroups() | self._netns())

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
                found.add(f"process {entry} {shown}")
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
