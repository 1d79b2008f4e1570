"""The host's cgroups: which version, whether crun can run, stats, leftovers.

A "hybrid" host has v1 hierarchies plus a cgroup2 mount (usually
/sys/fs/cgroup/unified). crun refuses to run there while the cgroup2 mount holds any
controller ("cgroups in hybrid mode not supported, drop all controllers from
cgroupv2"); mounting each such controller as a v1 hierarchy frees it, runc does not
care. Container cgroups paths are relative to each hierarchy's root, as in the OCI
spec's `linux.cgroupsPath` ("/pier/<id>").
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pier.errors import SystemFailure

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupMode(StrEnum):
    V1 = "v1"
    V2 = "v2"
    HYBRID = "hybrid"  # v1 hierarchies plus a cgroup2 mount


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupMounts:
    # controller (or "name=systemd") -> mount point of its v1 hierarchy
    v1: dict[str, Path] = field(default_factory=dict)
    unified: Path | None = None  # the cgroup2 mount, if any

    @property
    def mode(self) -> CgroupMode:
        if self.unified is not None and not self.v1:
            return CgroupMode.V2
        if self.unified is not None:
            return CgroupMode.HYBRID
        return CgroupMode.V1


def parse_mountinfo(text: str) -> CgroupMounts:
    v1: dict[str, Path] = {}
    unified: Path | None = None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fstype, _, rest = right.partition(" ")
        fields = left.split()
        if len(fields) < 5:
            continue
        mountpoint = Path(fields[4].replace("\\040", " "))
        if fstype == "cgroup2":
            unified = mountpoint
        elif fstype == "cgroup":
            options = rest.split(" ", 1)[1] if " " in rest else ""
            for opt in options.split(","):
                if opt in ("rw", "ro") or opt.startswith(("relatime", "xattr", "release_agent")):
                    continue
                v1.setdefault(opt, mountpoint)
    return CgroupMounts(v1=v1, unified=unified)


def read_mounts() -> CgroupMounts:
    return parse_mountinfo(Path("/proc/self/mountinfo").read_text())


def detect_mode(mounts: CgroupMounts | None = None) -> CgroupMode:
    return (mounts or read_mounts()).mode


def hybrid_controllers(mounts: CgroupMounts | None = None) -> list[str]:
    """Controllers held by the cgroup2 mount of a hybrid host (what blocks crun)."""
    m = mounts or read_mounts()
    if m.mode is not CgroupMode.HYBRID or m.unified is None:
        return []
    try:
        return (m.unified / "cgroup.controllers").read_text().split()
    except OSError:
        return []


def check_crun_usable(mounts: CgroupMounts | None = None) -> str | None:
    """None if crun can run here, else the message explaining why not and the fix."""
    m = mounts or read_mounts()
    held = hybrid_controllers(m)
    if not held:
        return None
    base = m.unified.parent if m.unified is not None else CGROUP_ROOT
    fixes = "; ".join(
        f"mkdir -p {base / c} && mount -t cgroup -o {c} cgroup {base / c}" for c in held
    )
    return (
        "crun cannot run on this host: it is a cgroup v1 hybrid host whose cgroup2 mount "
        f"({m.unified}) holds the controller(s) {', '.join(held)} (crun: 'cgroups in hybrid "
        "mode not supported, drop all controllers from cgroupv2'). Mount each as a v1 "
        f"hierarchy to free it ({fixes}), set fix-hybrid-cgroups in the daemon "
        "configuration to let pierd do it, or use the runc runtime."
    )


def fix_hybrid(mounts: CgroupMounts | None = None) -> list[str]:
    """Mount every controller the cgroup2 mount holds as a v1 hierarchy; return them."""
    m = mounts or read_mounts()
    held = hybrid_controllers(m)
    base = m.unified.parent if m.unified is not None else CGROUP_ROOT
    for controller in held:
        target = base / controller
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "cgroup", "-o", controller, "cgroup", str(target)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemFailure(
                f"cannot mount the {controller} cgroup controller at {target}: "
                f"{done.stderr.decode(errors='replace').strip()}"
            )
    return held


# -- stats -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupStats:
    memory_usage: int | None = None  # bytes
    memory_limit: int | None = None  # bytes; None = unlimited
    memory_stat: dict[str, int] = field(default_factory=dict)
    cpu_usage_ns: int | None = None
    cpu_user_ns: int | None = None
    cpu_system_ns: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None  # None = unlimited


_UNLIMITED_V1 = 1 << 62  # v1 reports "no limit" as a huge page-rounded number


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    raw = _read(path)
    if raw is None or raw == "max":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def _rel(cgroups_path: str) -> str:
    return cgroups_path.lstrip("/")


def read_stats(cgroups_path: str, mounts: CgroupMounts | None = None) -> CgroupStats:
    """Memory, cpu and pids of a container's cgroup (v1, hybrid or v2)."""
    m = mounts or read_mounts()
    rel = _rel(cgroups_path)
    if m.mode is CgroupMode.V2 and m.unified is not None:
        d = m.unified / rel
        cpu = _kv(d / "cpu.stat")
        usec = cpu.get("usage_usec")
        return CgroupStats(
            memory_usage=_int(d / "memory.current"),
            memory_limit=_int(d / "memory.max"),
            memory_stat=_kv(d / "memory.stat"),
            cpu_usage_ns=usec * 1000 if usec is not None else None,
            cpu_user_ns=cpu["user_usec"] * 1000 if "user_usec" in cpu else None,
            cpu_system_ns=cpu["system_usec"] * 1000 if "system_usec" in cpu else None,
            pids_current=_int(d / "pids.current"),
            pids_limit=_int(d / "pids.max"),
        )
    mem = m.v1.get("memory")
    acct = m.v1.get("cpuacct")
    pids = m.v1.get("pids")
    limit = _int(mem / rel / "memory.limit_in_bytes") if mem else None
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_stat = _kv(acct / rel / "cpuacct.stat") if acct else {}
    return CgroupStats(
        memory_usage=_int(mem / rel / "memory.usage_in_bytes") if mem else None,
        memory_limit=None if limit is None or limit >= _UNLIMITED_V1 else limit,
        memory_stat=_kv(mem / rel / "memory.stat") if mem else {},
        cpu_usage_ns=_int(acct / rel / "cpuacct.usage") if acct else None,
        cpu_user_ns=cpu_stat["user"] * 1_000_000_000 // ticks if "user" in cpu_stat else None,
        cpu_system_ns=(
            cpu_stat["system"] * 1_000_000_000 // ticks if "system" in cpu_stat else None
        ),
        pids_current=_int(pids / rel / "pids.current") if pids else None,
        pids_limit=_int(pids / rel / "pids.max") if pids else None,
    )


# -- leftovers -------------------------------------------------------------------------


def _hierarchies(m: CgroupMounts) -> list[Path]:
    roots = sorted(set(m.v1.values()))
    if m.unified is not None:
        roots.append(m.unified)
    return roots


def list_children(parent: str, mounts: CgroupMounts | None = None) -> list[str]:
    """Names of the cgroups directly under `parent` in any hierarchy."""
    m = mounts or read_mounts()
    names: set[str] = set()
    for root in _hierarchies(m):
        with contextlib.suppress(OSError):
            names.update(p.name for p in (root / _rel(parent)).iterdir() if p.is_dir())
    return sorted(names)


def exists(cgroups_path: str, mounts: CgroupMounts | None = None) -> bool:
    m = mounts or read_mounts()
    return any((root / _rel(cgroups_path)).is_dir() for root in _hierarchies(m))


def remove(cgroups_path: str, mounts: CgroupMounts | None = None) -> None:
    """Remove a cgroup (and its empty descendants) from every hierarchy.

    A cgroup that still holds processes cannot be removed: SystemFailure.
    """
    m = mounts or read_mounts()
    busy: list[str] = []
    for root in _hierarchies(m):
        top = root / _rel(cgroups_path)
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno == errno.EBUSY:
                    busy.append(dirpath)
                else:
                    raise SystemFailure(f"cannot remove cgroup {dirpath}: {exc}") from exc
    if busy:
        raise SystemFailure(f"cgroups still in use: {', '.join(busy)}")
