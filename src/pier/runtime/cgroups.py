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
from pier.runtime import cgroupstats
from pier.runtime.cgroupstats import ContainerStats, HostUsage

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


def _rel(cgroups_path: str) -> str:
    return cgroups_path.lstrip("/")


# -- stats -----------------------------------------------------------------------------


def host_usage() -> HostUsage:
    """The host's side of a stats snapshot (dockerd reads the same files)."""
    system, online = cgroupstats.parse_proc_stat(Path("/proc/stat").read_text())
    return HostUsage(
        system_cpu_ns=system,
        online_cpus=online,
        machine_memory=cgroupstats.parse_meminfo_total(Path("/proc/meminfo").read_text()),
        clock_ticks=os.sysconf("SC_CLK_TCK"),
    )


def stats_of_pid(pid: int, mounts: CgroupMounts | None = None) -> ContainerStats:
    """The stats of the cgroup(s) process `pid` is in: a container's, given its init.

    /proc/<pid>/cgroup names the cgroup whatever the runtime or cgroup driver made of
    the spec's cgroupsPath. OSError when the process is gone.
    """
    own = cgroupstats.parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    m = mounts or read_mounts()
    host = host_usage()
    if m.mode is CgroupMode.V2 and m.unified is not None:
        return cgroupstats.read_v2(m.unified / _rel(own.get("", "/")), host)
    dirs: dict[str, Path] = {
        controller: m.v1[controller] / _rel(own[controller])
        for controller in ("memory", "cpu", "cpuacct", "pids", "blkio")
        if controller in own and controller in m.v1
    }
    return cgroupstats.read_v1(dirs, host)


def pids_of_pid(pid: int, mounts: CgroupMounts | None = None) -> list[int]:
    """Every process in the cgroup of process `pid` and below it (a container's, given
    its init), from cgroup.procs. OSError when the process is gone."""
    own = cgroupstats.parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    m = mounts or read_mounts()
    if m.mode is CgroupMode.V2 and m.unified is not None:
        top = m.unified / _rel(own.get("", "/"))
    else:
        controller = next((c for c in ("pids", "memory", "cpu") if c in own and c in m.v1), None)
        if controller is None:
            raise FileNotFoundError(errno.ENOENT, "no cgroup", f"/proc/{pid}/cgroup")
        top = m.v1[controller] / _rel(own[controller])
    found: set[int] = set()
    for dirpath, _dirs, files in os.walk(top):
        if "cgroup.procs" in files:
            with contextlib.suppress(FileNotFoundError):
                text = (Path(dirpath) / "cgroup.procs").read_text()
                found.update(int(v) for v in text.split())
    if not found:
        raise FileNotFoundError(errno.ENOENT, "empty cgroup", str(top))
    return sorted(found)


def net_dev_of_pid(pid: int) -> dict[str, cgroupstats.NetStats]:
    """The interfaces of process `pid`'s network namespace but `lo`, with their
    counters (/proc/<pid>/net/dev). OSError when the process is gone."""
    text = Path(f"/proc/{pid}/net/dev").read_text()
    return {k: v for k, v in cgroupstats.parse_net_dev(text).items() if k != "lo"}


def lift_pids_limit_v1(pid: int, mounts: CgroupMounts | None = None) -> None:
    """Write "max" to the v1 pids.max of process `pid`'s cgroup (what the runtime
    should do for a pids limit of -1). OSError when it cannot."""
    own = cgroupstats.parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    m = mounts or read_mounts()
    if "pids" not in own or "pids" not in m.v1:
        raise FileNotFoundError(errno.ENOENT, "no pids cgroup", f"/proc/{pid}/cgroup")
    (m.v1["pids"] / _rel(own["pids"]) / "pids.max").write_text("max")


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


def init_realtime(
    parent: str, *, period: int, runtime: int, mounts: CgroupMounts | None = None
) -> None:
    """moby's initCPURtController: every cgroup from the top down to `parent` (the
    container's parent) gets the real-time period and runtime, since a cgroup's
    runtime cannot exceed its parent's, and a new v1 cgroup has none. Only v1 has
    real-time groups."""
    m = mounts or read_mounts()
    root = m.v1.get("cpu")
    if root is None or not (period or runtime):
        return
    path = root
    try:
        for part in (p for p in parent.split("/") if p not in ("", ".", "..")):
            path = path / part
            path.mkdir(mode=0o755, exist_ok=True)
            if period:
                (path / "cpu.rt_period_us").write_text(str(period))
            if runtime:
                (path / "cpu.rt_runtime_us").write_text(str(runtime))
    except OSError as exc:
        raise SystemFailure(f"unable to init CPU RT controller: {exc}") from exc
