"""From a container record and the parts its run steps contribute to the OCI runtime
spec: Docker's semantics for env, user, working dir, /etc files, binds, namespaces and
security options, handed to `pier.runtime.spec.build_config`, which knows the OCI
format and Docker's defaults.

Everything here is pure: the run steps do the file-system work (mount the root file
system, read its /etc/passwd, make the working dir and missing bind sources, write
the /etc files) and describe what they did as a `SpecPart`; `merge_parts` turns the
record and the parts into the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pier.containers import limits
from pier.containers.model import Container, HostConfig
from pier.containers.mounts import BindMount
from pier.containers.security import parse_security_opts
from pier.containers.user import ResolvedUser
from pier.errors import SystemFailure
from pier.runtime.spec import (
    HOST,
    PRIVATE,
    ContainerSpec,
    DeviceSpec,
    HostFacts,
    MountSpec,
    NamespaceMode,
    NamespaceSpec,
    ProcessSpec,
    Resources,
    Ulimit,
    build_config,
)
from pier.snapshots.idmap import IdMapping, IdRange

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ETC_FILES = ("resolv.conf", "hostname", "hosts")
_NO_NAMESPACES: Mapping[str, NamespaceSpec] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecPart:
    """What one run step contributes. Mounts add up in step order; for the other
    fields, exactly one step sets each (the rootfs step the root, the user step the
    user and working dir...), and a later namespace setting overrides an earlier one."""

    rootfs: Path | None = None
    user: ResolvedUser | None = None
    cwd: str | None = None
    mounts: tuple[MountSpec, ...] = ()
    # "network", "ipc", "pid" -> how the container gets that namespace
    namespaces: Mapping[str, NamespaceSpec] = field(default_factory=lambda: _NO_NAMESPACES)
    init_path: str | None = None
    devices: tuple[DeviceSpec, ...] = ()  # `--device` nodes, added up in step order
    # The daemon's remapping, for a user-namespaced container (containers.userns).
    user_namespace: IdMapping | None = None
    # Joined rather than made: another container's, whose namespaces this one shares.
    user_namespace_path: str | None = None
    # Variables under the container's own (legacy links' <ALIAS>_PORT...), added up.
    env: tuple[str, ...] = ()


def merge_parts(
    record: Container, parts: Sequence[SpecPart], *, cgroup_parent: str, facts: HostFacts
) -> dict[str, Any]:
    """The config.json of one run of `record`."""
    hc = record.host_config
    rootfs = _one(parts, "rootfs")
    user = _one(parts, "user")
    cwd = _one(parts, "cwd")
    namespaces: dict[str, NamespaceSpec] = {}
    for part in parts:
        namespaces.update(part.namespaces)
    init_path = next((p.init_path for p in parts if p.init_path), None)
    security = parse_security_opts(hc.security_opt)
    spec = ContainerSpec(
        cid=record.id,
        rootfs=rootfs,
        readonly_rootfs=hc.readonly_rootfs,
        hostname=record.config.hostname,
        domainname=record.config.domainname,
        process=ProcessSpec(
            args=(record.path, *record.args),
            env=process_env(
                merge_env([e for p in parts for e in p.env], record.config.env),
                record.config.hostname,
                record.config.tty,
                user,
            ),
            cwd=cwd,
            uid=user.uid,
            gid=user.gid,
            additional_gids=user.additional_gids,
            terminal=record.config.tty,
            console_size=hc.console_size,
        ),
        mounts=tuple(m for part in parts for m in part.mounts),
        network=namespaces.get("network", PRIVATE),
        ipc=namespaces.get("ipc", PRIVATE),
        pid=namespaces.get("pid", PRIVATE),
        uts_host=hc.uts_mode == "host" or hc.network_mode == "host",
        cgroups_path=f"{(hc.cgroup_parent or cgroup_parent).rstrip('/')}/{record.id}",
        privileged=hc.privileged,
        cap_add=hc.cap_add,
        cap_drop=hc.cap_drop,
        no_new_privileges=security.no_new_privileges,
        seccomp_unconfined=security.seccomp_unconfined,
        seccomp_profile=security.profile(),
        masked_paths_unconfined=security.systempaths_unconfined or hc.masked_paths_unconfined,
        masked_paths=hc.masked_paths,
        readonly_paths=hc.readonly_paths,
        sysctls=hc.sysctls,
        ulimits=ulimits(hc),
        resources=resources(hc),
        init_path=init_path,
        annotations=hc.annotations,
        shm_size=hc.shm_size or 64 * 1024 * 1024,
        oom_score_adj=hc.oom_score_adj or None,
        device_cgroup_rules=hc.device_cgroup_rules,
        devices=tuple(d for part in parts for d in part.devices),
        cgroupns_private=None if not hc.cgroupns_mode else hc.cgroupns_mode == "private",
    )
    config = build_config(spec, facts)
    mapping = next((p.user_namespace for p in parts if p.user_namespace), None)
    if mapping is not None:
        path = next((p.user_namespace_path for p in parts if p.user_namespace_path), None)
        _user_namespace(config, mapping, path, asked=hc.sysctls)
    return config


def _user_namespace(
    config: dict[str, Any], mapping: IdMapping, path: str | None, *, asked: Mapping[str, str]
) -> None:
    """A new user namespace with the daemon's maps (moby's WithNamespaces); no ping
    group range, which cannot be set up in one (moby's WithSysctls)."""
    linux = config["linux"]
    linux["namespaces"].append({"type": "user", **({"path": path} if path else {})})
    linux["uidMappings"] = _oci_ranges(mapping.uids)
    linux["gidMappings"] = _oci_ranges(mapping.gids)
    if "net.ipv4.ping_group_range" not in asked:
        linux.get("sysctl", {}).pop("net.ipv4.ping_group_range", None)


def _oci_ranges(ranges: Sequence[IdRange]) -> list[dict[str, int]]:
    return [{"containerID": r.container_id, "hostID": r.host_id, "size": r.size} for r in ranges]


def _one(parts: Sequence[SpecPart], name: str) -> Any:
    values = [getattr(p, name) for p in parts if getattr(p, name) is not None]
    if len(values) != 1:
        raise SystemFailure(f"the run steps set the spec's {name} {len(values)} times")
    return values[0]


def etc_mounts(container_dir: Path, hc: HostConfig) -> tuple[MountSpec, ...]:
    """Docker's bind mounts of the container's own resolv.conf, hostname and hosts."""
    mode = "ro" if hc.readonly_rootfs else "rw"
    return tuple(
        MountSpec(
            destination=f"/etc/{name}",
            type="bind",
            source=str(container_dir / name),
            options=("rbind", "rprivate", mode),
        )
        for name in ETC_FILES
    )


def bind_mounts(binds: Sequence[BindMount]) -> tuple[MountSpec, ...]:
    return tuple(
        MountSpec(
            destination=b.destination,
            type="bind",
            source=b.source,
            options=("rbind", "ro" if b.read_only else "rw", b.propagation),
        )
        for b in binds
    )


def namespaces(hc: HostConfig, pid_of: Callable[[str], int]) -> Mapping[str, NamespaceSpec]:
    """`host`, `container:<ref>` (joined through the other container's pid) or a
    private namespace, for the network, IPC and PID namespaces."""
    return {
        "network": _namespace(hc.network_mode, "net", pid_of),
        "ipc": _namespace(hc.ipc_mode, "ipc", pid_of),
        "pid": _namespace(hc.pid_mode, "pid", pid_of),
    }


def no_new_privileges(security_opt: Sequence[str]) -> bool:
    """`--security-opt no-new-privileges[=bool]` (checked at create)."""
    return parse_security_opts(security_opt).no_new_privileges


def ulimits(hc: HostConfig) -> tuple[Ulimit, ...]:
    return tuple(Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in hc.ulimits)


def merge_env(base: Sequence[str], extra: Sequence[str]) -> tuple[str, ...]:
    """`extra` over `base`, each variable once, in first-seen order (Docker's merge)."""
    out: dict[str, str] = {}
    for item in list(base) + list(extra):
        out[item.partition("=")[0]] = item
    return tuple(out.values())


def process_env(
    base: tuple[str, ...], hostname: str, tty: bool, user: ResolvedUser
) -> tuple[str, ...]:
    env = list(base)
    keys = {e.partition("=")[0] for e in env}
    if "PATH" not in keys:
        env.insert(0, DEFAULT_PATH)
    env.append(f"HOSTNAME={hostname}")
    if tty and "TERM" not in keys:
        env.append("TERM=xterm")
    if "HOME" not in keys:
        env.append(f"HOME={user.home}")
    return tuple(env)


def _namespace(mode: str, kind: str, pid_of: Callable[[str], int]) -> NamespaceSpec:
    if mode == "host":
        return HOST
    if mode.startswith("container:"):
        pid = pid_of(mode.partition(":")[2])
        return NamespaceSpec(mode=NamespaceMode.PATH, path=f"/proc/{pid}/ns/{kind}")
    return PRIVATE


def resources(hc: HostConfig) -> Resources:
    return limits.resources(hc)
