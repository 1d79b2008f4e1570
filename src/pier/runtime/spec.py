"""The OCI runtime config.json of a container, with Docker's defaults.

`build_config(spec)` is a pure function of a `ContainerSpec` plus a few host facts
(`HostFacts`: the daemon's nofile hard limit, cgroup v2 or not, the host's devices for
privileged containers), so tests can pin them. The defaults follow moby's
daemon/pkg/oci/defaults.go, daemon/oci_linux.go and oci/caps: the default capability
set, mounts, masked and read-only paths, device cgroup rules and seccomp profile.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pier.runtime import capabilities, seccomp

# ProcessSpec, Resources and Ulimit are parts of a ContainerSpec: re-exported for callers.
from pier.runtime.process import ProcessSpec as ProcessSpec
from pier.runtime.process import Ulimit as Ulimit
from pier.runtime.process import render_process, rlimits
from pier.runtime.resources import Resources as Resources
from pier.runtime.resources import render_resources

OCI_VERSION = "1.0.2"
INIT_PATH_IN_CONTAINER = "/sbin/docker-init"

MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
)
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


class NamespaceMode(StrEnum):
    PRIVATE = "private"  # a new namespace
    HOST = "host"  # the daemon's
    PATH = "path"  # join an existing one, e.g. /proc/<pid>/ns/net for container:<x>


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceSpec:
    mode: NamespaceMode = NamespaceMode.PRIVATE
    path: str | None = None

    def __post_init__(self) -> None:
        if (self.mode is NamespaceMode.PATH) != (self.path is not None):
            raise ValueError("a namespace path goes with mode PATH, and only with it")


PRIVATE = NamespaceSpec()
HOST = NamespaceSpec(mode=NamespaceMode.HOST)


@dataclass(frozen=True, slots=True, kw_only=True)
class MountSpec:
    destination: str
    type: str
    source: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSpec:
    """A device node to create in the container (`--device`)."""

    path: str  # inside the container
    type: str  # "c" or "b"
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0
    permissions: str = "rwm"  # for the device cgroup


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerSpec:
    """One container's run, in Docker's terms; the defaults are `docker run`'s."""

    cid: str
    rootfs: Path
    process: ProcessSpec
    cgroups_path: str
    readonly_rootfs: bool = False
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[MountSpec, ...] = ()
    network: NamespaceSpec = PRIVATE
    ipc: NamespaceSpec = PRIVATE
    pid: NamespaceSpec = PRIVATE
    uts_host: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    seccomp_unconfined: bool = False
    # A Docker-format profile (`--security-opt seccomp=<file>`); None: the default one.
    seccomp_profile: Mapping[str, Any] | None = None
    # `--security-opt systempaths=unconfined`: no masked and no read-only paths.
    masked_paths_unconfined: bool = False
    # HostConfig.MaskedPaths/ReadonlyPaths as a client set them (None: the defaults).
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    sysctls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ulimits: tuple[Ulimit, ...] = ()
    resources: Resources = field(default_factory=lambda: Resources())
    init_path: str | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # /dev/shm size in bytes; 0 means IpcMode "none": no /dev/shm at all.
    shm_size: int = 64 * 1024 * 1024
    devices: tuple[DeviceSpec, ...] = ()
    # `--device-cgroup-rule`, e.g. "c 1:3 rwm", "b *:* m".
    device_cgroup_rules: tuple[str, ...] = ()
    oom_score_adj: int | None = None
    # A cgroup namespace of its own: None is the host's default (private on v2).
    cgroupns_private: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFacts:
    nofile_hard: int
    cgroup_v2: bool
    # The daemon's bounding set: what "all capabilities" means on this host.
    capabilities: tuple[str, ...]
    masked_extra: tuple[str, ...] = ()  # per-cpu thermal_throttle dirs present here
    sysctls_present: frozenset[str] = frozenset()
    host_devices: tuple[DeviceSpec, ...] = field(default=())

    @classmethod
    def detect(cls, *, with_devices: bool = False) -> HostFacts:
        from pier.runtime.cgroups import CgroupMode, detect_mode

        cpus = Path("/sys/devices/system/cpu")
        masked = tuple(
            str(p) for p in sorted(cpus.glob("cpu[0-9]*/thermal_throttle")) if p.exists()
        )
        wanted = ("net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start")
        present = frozenset(s for s in wanted if os.path.exists("/proc/sys/" + s.replace(".", "/")))
        return cls(
            nofile_hard=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
            cgroup_v2=detect_mode() is CgroupMode.V2,
            capabilities=capabilities.host_capabilities(),
            masked_extra=masked,
            sysctls_present=present,
            host_devices=host_devices() if with_devices else (),
        )


def host_devices(root: str = "/dev") -> tuple[DeviceSpec, ...]:
    """Every char and block device under /dev (what a privileged container gets)."""
    found: list[DeviceSpec] = []
    for dirpath, dirnames, filenames in os.walk(root):
        # moby skips these: pts are the container's own, shm/mqueue are mounts.
        dirnames[:] = [d for d in dirnames if d not in ("pts", "shm", "fd", "mqueue", ".lxc")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name == "console":
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue
            found.append(
                DeviceSpec(
                    path=path,
                    type=kind,
                    major=os.major(st.st_rdev),
                    minor=os.minor(st.st_rdev),
                    file_mode=stat.S_IMODE(st.st_mode),
                    uid=st.st_uid,
                    gid=st.st_gid,
                )
            )
    return tuple(found)


# moby's default device cgroup: deny everything, allow zero, null, urandom, random,
# tty and console, deny fuse (10:229) explicitly; the runtimes add ptmx and pts.
_DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
)


def parse_device_cgroup_rule(rule: str) -> dict[str, Any]:
    """`c 1:3 rwm` / `b *:* m` -> an OCI linux.resources.devices entry."""
    from pier.errors import InvalidParameter

    parts = rule.split()
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or ":" not in parts[1]:
        raise InvalidParameter(f"invalid device cgroup rule: {rule!r}")
    major_s, _, minor_s = parts[1].partition(":")
    entry: dict[str, Any] = {"allow": True, "type": parts[0], "access": parts[2]}
    try:
        if major_s != "*":
            entry["major"] = int(major_s)
        if minor_s != "*":
            entry["minor"] = int(minor_s)
    except ValueError:
        raise InvalidParameter(f"invalid device cgroup rule: {rule!r}") from None
    if not parts[2] or set(parts[2]) - set("rwm"):
        raise InvalidParameter(f"invalid device cgroup rule: {rule!r}")
    return entry


def _default_mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
    ]
    if spec.ipc.mode is NamespaceMode.HOST:
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "bind",
                "source": "/dev/shm",
                "options": ["rbind", "nosuid", "noexec", "nodev"],
            }
        )
    elif spec.ipc.mode is NamespaceMode.PRIVATE and spec.shm_size > 0:
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={spec.shm_size}"],
            }
        )
    return mounts


def _mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    user = {m.destination for m in spec.mounts}
    user_dev = "/dev" in user
    mounts = [
        m
        for m in _default_mounts(spec)
        if m["destination"] not in user and not (user_dev and m["destination"].startswith("/dev/"))
    ]
    if spec.readonly_rootfs:
        for m in mounts:
            writable = m["destination"] in ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev")
            if not writable and "ro" not in m["options"]:
                m["options"].append("ro")
    if spec.privileged:
        for m in mounts:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    if spec.init_path and spec.pid.mode is NamespaceMode.PRIVATE:
        mounts.append(
            {
                "destination": INIT_PATH_IN_CONTAINER,
                "type": "bind",
                "source": spec.init_path,
                "options": ["bind", "ro"],
            }
        )
    for um in spec.mounts:
        mounts.append(
            {
                "destination": um.destination,
                "type": um.type,
                "source": um.source,
                "options": list(um.options),
            }
        )
    return mounts


def _namespaces(spec: ContainerSpec, facts: HostFacts) -> list[dict[str, str]]:
    out: list[dict[str, str]] = [{"type": "mount"}]

    def add(kind: str, ns: NamespaceSpec) -> None:
        if ns.mode is NamespaceMode.PRIVATE:
            out.append({"type": kind})
        elif ns.mode is NamespaceMode.PATH:
            assert ns.path is not None
            out.append({"type": kind, "path": ns.path})

    add("network", spec.network)
    if not spec.uts_host:
        out.append({"type": "uts"})
    add("pid", spec.pid)
    add("ipc", spec.ipc)
    private_cgroupns = facts.cgroup_v2 if spec.cgroupns_private is None else spec.cgroupns_private
    if private_cgroupns:
        out.append({"type": "cgroup"})
    return out


def _device_entry(d: DeviceSpec) -> dict[str, Any]:
    return {
        "path": d.path,
        "type": d.type,
        "major": d.major,
        "minor": d.minor,
        "fileMode": d.file_mode,
        "uid": d.uid,
        "gid": d.gid,
    }


def secure_process(
    p: ProcessSpec,
    *,
    privileged: bool,
    cap_add: Sequence[str],
    cap_drop: Sequence[str],
    no_new_privileges: bool,
    ulimits: Sequence[Ulimit],
    oom_score_adj: int | None,
    facts: HostFacts,
) -> ProcessSpec:
    """`p` with the security settings of a container with these options (Docker's
    rules: moby's TweakCapabilities, dockerd's rlimits)."""
    caps = capabilities.resolve(
        cap_add, cap_drop, privileged=privileged, available=facts.capabilities
    )
    return replace(
        p,
        capabilities=tuple(caps),
        rlimits=rlimits(ulimits, facts.nofile_hard),
        no_new_privileges=no_new_privileges,
        oom_score_adj=oom_score_adj,
    )


def container_process(spec: ContainerSpec, facts: HostFacts) -> ProcessSpec:
    """The container's own process (its init first, when it has one), resolved."""
    p = spec.process
    if spec.init_path and spec.pid.mode is NamespaceMode.PRIVATE:
        p = replace(p, args=(INIT_PATH_IN_CONTAINER, "--", *p.args))
    return secure_process(
        p,
        privileged=spec.privileged,
        cap_add=spec.cap_add,
        cap_drop=spec.cap_drop,
        no_new_privileges=spec.no_new_privileges,
        ulimits=spec.ulimits,
        oom_score_adj=spec.oom_score_adj,
        facts=facts,
    )


def build_config(spec: ContainerSpec, facts: HostFacts) -> dict[str, Any]:
    """The config.json document for `spec` on a host described by `facts`."""
    process = container_process(spec, facts)

    sysctl: dict[str, str] = {}
    if spec.network.mode is NamespaceMode.PRIVATE:
        # moby grants these to containers with their own network namespace.
        if "net.ipv4.ping_group_range" in facts.sysctls_present:
            sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
        if "net.ipv4.ip_unprivileged_port_start" in facts.sysctls_present:
            sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
    sysctl.update(spec.sysctls)

    resources = render_resources(spec.resources)
    if spec.privileged:
        devices = [_device_entry(d) for d in facts.host_devices]
        resources["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        devices = [_device_entry(d) for d in spec.devices]
        rules = [dict(r) for r in _DEFAULT_DEVICE_RULES]
        for d in spec.devices:
            rules.append(
                {
                    "allow": True,
                    "type": d.type,
                    "major": d.major,
                    "minor": d.minor,
                    "access": d.permissions,
                }
            )
        rules += [parse_device_cgroup_rule(r) for r in spec.device_cgroup_rules]
        resources["devices"] = rules

    linux: dict[str, Any] = {
        "namespaces": _namespaces(spec, facts),
        "cgroupsPath": spec.cgroups_path,
        "resources": resources,
        "devices": devices,
        "sysctl": sysctl,
    }
    unconfined_paths = spec.privileged or spec.masked_paths_unconfined
    if not unconfined_paths:
        linux["maskedPaths"] = (
            [*MASKED_PATHS, *facts.masked_extra]
            if spec.masked_paths is None
            else list(spec.masked_paths)
        )
        linux["readonlyPaths"] = (
            list(READONLY_PATHS) if spec.readonly_paths is None else list(spec.readonly_paths)
        )
    # moby's WithSeccomp: unconfined wins; a privileged container gets only a profile
    # it asked for; the others the one they asked for, else the default.
    if not spec.seccomp_unconfined and (spec.seccomp_profile is not None or not spec.privileged):
        rendered = seccomp.render(list(process.capabilities), profile=spec.seccomp_profile)
        if rendered is not None:
            linux["seccomp"] = rendered

    config: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": render_process(process),
        "root": {"path": str(spec.rootfs), "readonly": spec.readonly_rootfs},
        "mounts": _mounts(spec),
        "linux": linux,
    }
    if not spec.uts_host:
        if spec.hostname:
            config["hostname"] = spec.hostname
        if spec.domainname:
            config["domainname"] = spec.domainname
    if spec.annotations:
        config["annotations"] = dict(spec.annotations)
    return config


EMPTY_MAP: Mapping[str, str] = MappingProxyType({})
