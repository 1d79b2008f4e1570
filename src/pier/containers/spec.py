"""From a container record to the OCI runtime spec: Docker's semantics for env, user,
working dir, /etc files, binds, namespaces and security options, handed to
`pier.runtime.spec.build_config` which knows the OCI format and Docker's defaults."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pier.config import DaemonConfig
from pier.containers.model import Container, HostConfig
from pier.containers.user import ResolvedUser
from pier.errors import InvalidParameter
from pier.runtime import capabilities
from pier.runtime.spec import (
    HOST,
    PRIVATE,
    ContainerSpec,
    HostFacts,
    MountSpec,
    NamespaceMode,
    NamespaceSpec,
    ProcessSpec,
    Resources,
    Ulimit,
    build_config,
)

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def container_spec(
    record: Container,
    *,
    rootfs: Path,
    container_dir: Path,
    config: DaemonConfig,
    facts: HostFacts,
    resolve_user: Callable[[], ResolvedUser],
    pid_of: Callable[[str], int],
) -> dict[str, Any]:
    """The config.json for one run. `rootfs` is already mounted (the user is resolved
    through its /etc/passwd and the working dir is made in it); `pid_of` gives the pid
    of another container for `container:<ref>` namespace modes."""
    hc = record.host_config
    user = resolve_user()
    cwd = record.config.working_dir or "/"
    _make_workdir(rootfs, cwd, user)
    spec = ContainerSpec(
        cid=record.id,
        rootfs=rootfs,
        readonly_rootfs=hc.readonly_rootfs,
        hostname=record.config.hostname,
        domainname=record.config.domainname,
        process=ProcessSpec(
            args=(record.path, *record.args),
            env=_env(record.config.env, record.config.hostname, record.config.tty, user),
            cwd=cwd,
            uid=user.uid,
            gid=user.gid,
            additional_gids=user.additional_gids,
            terminal=record.config.tty,
            console_size=hc.console_size,
        ),
        mounts=_etc_mounts(container_dir, hc) + _binds(hc),
        network=_namespace(hc.network_mode, "net", pid_of, none_is_private=True),
        ipc=_namespace(hc.ipc_mode, "ipc", pid_of),
        pid=_namespace(hc.pid_mode, "pid", pid_of),
        uts_host=hc.uts_mode == "host" or hc.network_mode == "host",
        cgroups_path=f"{(hc.cgroup_parent or config.cgroup_parent).rstrip('/')}/{record.id}",
        privileged=hc.privileged,
        cap_add=hc.cap_add,
        cap_drop=hc.cap_drop,
        no_new_privileges=any(
            o in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
            for o in hc.security_opt
        ),
        seccomp_unconfined="seccomp=unconfined" in hc.security_opt
        or "seccomp:unconfined" in hc.security_opt,
        masked_paths_unconfined="systempaths=unconfined" in hc.security_opt,
        sysctls=hc.sysctls,
        ulimits=tuple(Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in hc.ulimits),
        resources=_resources(hc),
        init_path=_init_path(config) if hc.init else None,
        annotations={},
        shm_size=hc.shm_size or 64 * 1024 * 1024,
        oom_score_adj=hc.oom_score_adj or None,
    )
    return build_config(spec, facts)


def exec_process(
    record: Container,
    base: Mapping[str, Any],
    *,
    cmd: tuple[str, ...],
    env: tuple[str, ...],
    working_dir: str,
    user: ResolvedUser,
    tty: bool,
    privileged: bool,
    console_size: tuple[int, int],
    facts: HostFacts,
) -> dict[str, Any]:
    """The OCI process of a `docker exec`: the container's own process (`base`, from
    its config.json: security settings, rlimits) with the exec's command, env, user
    and terminal; a privileged exec gets every capability the daemon has."""
    process = dict(base)
    process.pop("consoleSize", None)
    ids: dict[str, Any] = {"uid": user.uid, "gid": user.gid}
    if user.additional_gids:
        ids["additionalGids"] = list(user.additional_gids)
    merged = merge_env(record.config.env, env)
    process.update(
        args=list(cmd),
        env=list(_env(merged, record.config.hostname, tty, user)),
        cwd=working_dir or record.config.working_dir or "/",
        user=ids,
        terminal=tty,
    )
    if tty and all(console_size):
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    if privileged:
        caps = capabilities.resolve((), (), privileged=True, available=facts.capabilities)
        process["capabilities"] = {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        }
    return process


def merge_env(base: Sequence[str], extra: Sequence[str]) -> tuple[str, ...]:
    """`extra` over `base`, each variable once, in first-seen order (Docker's merge)."""
    out: dict[str, str] = {}
    for item in list(base) + list(extra):
        out[item.partition("=")[0]] = item
    return tuple(out.values())


def _env(base: tuple[str, ...], hostname: str, tty: bool, user: ResolvedUser) -> tuple[str, ...]:
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


def _make_workdir(rootfs: Path, cwd: str, user: ResolvedUser) -> None:
    target = rootfs / cwd.lstrip("/")
    if os.path.lexists(target):
        return
    # Made inside the mounted rootfs; a symlink in the path is resolved by the kernel
    # relative to the host, so refuse paths whose parents are symlinks out of the root.
    real = os.path.realpath(target)
    if not real.startswith(str(rootfs)):
        raise InvalidParameter(f"working directory {cwd} escapes the container's root")
    os.makedirs(real, mode=0o755, exist_ok=True)
    os.chown(real, user.uid, user.gid)


def _etc_mounts(container_dir: Path, hc: HostConfig) -> tuple[MountSpec, ...]:
    mode = "ro" if hc.readonly_rootfs else "rw"
    return tuple(
        MountSpec(
            destination=f"/etc/{name}",
            type="bind",
            source=str(container_dir / name),
            options=("rbind", "rprivate", mode),
        )
        for name in ("resolv.conf", "hostname", "hosts")
    )


def _binds(hc: HostConfig) -> tuple[MountSpec, ...]:
    out = []
    for bind in hc.binds:
        parts = bind.split(":")
        if len(parts) < 2 or not parts[0].startswith("/"):
            raise InvalidParameter(
                f"invalid volume specification: '{bind}': named volumes are not "
                "supported by this version of Pier yet"
            )
        source, destination = parts[0], parts[1]
        opts = parts[2].split(",") if len(parts) > 2 else []
        if not destination.startswith("/"):
            raise InvalidParameter(
                f"invalid volume specification: '{bind}': invalid mount config for type "
                f"\"bind\": invalid mount path: '{destination}' mount path must be absolute"
            )
        if not os.path.exists(source):
            os.makedirs(source, exist_ok=True)  # Docker creates a missing bind source
        flags = ["rbind", "ro" if "ro" in opts else "rw"]
        propagation = next(
            (
                o
                for o in opts
                if o in ("private", "rprivate", "shared", "rshared", "slave", "rslave")
            ),
            "rprivate",
        )
        flags.append(propagation)
        out.append(
            MountSpec(destination=destination, type="bind", source=source, options=tuple(flags))
        )
    return tuple(out)


def _namespace(
    mode: str, kind: str, pid_of: Callable[[str], int], *, none_is_private: bool = False
) -> NamespaceSpec:
    if mode == "host":
        return HOST
    if mode.startswith("container:"):
        pid = pid_of(mode.partition(":")[2])
        return NamespaceSpec(mode=NamespaceMode.PATH, path=f"/proc/{pid}/ns/{kind}")
    return PRIVATE


def _resources(hc: HostConfig) -> Resources:
    quota = hc.cpu_quota or None
    period = hc.cpu_period or None
    if hc.nano_cpus:
        period = 100_000
        quota = hc.nano_cpus * period // 1_000_000_000
    return Resources(
        memory=hc.memory or None,
        memory_swap=hc.memory_swap or None,
        cpu_shares=hc.cpu_shares or None,
        cpu_quota=quota,
        cpu_period=period,
        cpuset_cpus=hc.cpuset_cpus or None,
        pids_limit=hc.pids_limit,
    )


def _init_path(config: DaemonConfig) -> str:
    found = shutil.which(config.init_path)
    if found is None:
        raise InvalidParameter(f"the init binary {config.init_path} was not found on the host")
    return found
