"""User namespaces: containers of a daemon started with `--userns-remap` (the setting
is read in containers.userns_setting).

A remapped container's root is the start of the remapping's range on the host; its
layers are idmapped (snapshots.idmap), its network namespace is made in its user
namespace, and what pierd writes or archives for it is owned or mapped accordingly.
A container opts out with `--userns=host`; a remapped one cannot be privileged nor
share the host's network or PID namespace (moby's verifyPlatformContainerSettings).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pier.containers.model import Container, HostConfig
from pier.containers.spec import SpecPart
from pier.errors import InvalidParameter, SystemFailure
from pier.networking.netns import UsernsOwner, run_inside
from pier.snapshots.idmap import IdMapping, owner_of


@dataclass(frozen=True, slots=True, kw_only=True)
class Remap:
    """The daemon's remapping: who it is (`user:group`, as dockerd logs it) and the
    mapping every user-namespaced container gets."""

    name: str
    mapping: IdMapping
    # Layers reached through idmapped mounts; False: through shifted copies (a kernel
    # or data-root file system without them; see snapshots.idmap).
    idmapped: bool = True


def remapped(remap: Remap | None, hc: HostConfig) -> bool:
    return remap is not None and hc.userns_mode != "host"


def check_create(remap: Remap | None, hc: HostConfig) -> None:
    """moby's refusals for a container that would be user-namespaced. Any mode but
    `host` means the daemon's remapping: dockerd does not check the value (the docker
    CLI does)."""
    if not remapped(remap, hc):
        return
    if hc.privileged:
        raise InvalidParameter(
            "privileged mode is incompatible with user namespaces.  You must run the "
            "container in the host namespace when running privileged mode"
        )
    if hc.network_mode == "host":
        raise InvalidParameter(
            "cannot share the host's network namespace when user namespaces are enabled"
        )
    if hc.pid_mode == "host":
        raise InvalidParameter(
            "cannot share the host PID namespace when user namespaces are enabled"
        )


def mapping_of(remap: Remap | None, record: Container) -> IdMapping | None:
    return remap.mapping if remap is not None and remapped(remap, record.host_config) else None


def _shared_with(record: Container) -> str | None:
    """The container whose namespaces this one shares (network, PID or IPC)."""
    hc = record.host_config
    for mode in (hc.network_mode, hc.pid_mode, hc.ipc_mode):
        if mode.startswith("container:"):
            return mode.partition(":")[2]
    return None


def netns_owner(
    remap: Remap | None, record: Container, pid_of: Callable[[str], int]
) -> UsernsOwner | None:
    """The user namespace a remapped container's network namespace is made in: the
    one of the container it shares PID or IPC with, else a new one with the mapping.
    The container then joins the user namespace of its network namespace (HeldUserns),
    so its root has the usual capabilities over it, as in dockerd."""
    mapping = mapping_of(remap, record)
    if mapping is None:
        return None
    other = _shared_with(record)
    if other is not None:
        return UsernsOwner(join=f"/proc/{pid_of(other)}/ns/user")
    return UsernsOwner(mapping=mapping)


class HeldUserns:
    """The user namespace a remapped container joins, held open (by pierd's
    descriptor, named through /proc) until the runtime has created the container."""

    def __init__(self, part: SpecPart, fd: int | None = None) -> None:
        self.part = part
        self._fd = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def hold_userns(
    remap: Remap | None,
    record: Container,
    netns: Path | str | None,
    pid_of: Callable[[str], int],
) -> HeldUserns:
    """A remapped container's user namespace: the owner of the network namespace Pier
    made for it; else that of the container it shares namespaces with (a namespace
    belongs to the user namespace it was made in, and only there may /proc, mqueue or
    sysfs be mounted of it); else a new one the runtime makes."""
    mapping = mapping_of(remap, record)
    if mapping is None:
        return HeldUserns(SpecPart())
    if netns is not None:
        fd = owner_of(str(netns))
        path = f"/proc/{os.getpid()}/fd/{fd}"
        return HeldUserns(SpecPart(user_namespace=mapping, user_namespace_path=path), fd)
    other = _shared_with(record)
    if other is not None:
        path = f"/proc/{pid_of(other)}/ns/user"
        return HeldUserns(SpecPart(user_namespace=mapping, user_namespace_path=path))
    return HeldUserns(SpecPart(user_namespace=mapping))


def chown_to_root(paths: Sequence[Path], mapping: IdMapping) -> None:
    """Files pierd writes for a container (its /etc files) owned by its root, as
    dockerd owns them, so the container's root may edit them."""
    uid, gid = mapping.root_pair()
    for p in paths:
        os.chown(p, uid, gid)


def open_to_remapped_root(data_root: Path, remap: Remap | None) -> None:
    """The data root and the containers' directory (0710) get the remapped root's
    group, as dockerd's setupDaemonRoot gives them: the runtime reaches a container's
    root file system with the container's credentials, which must traverse them
    (crun: "make `<rootfs>` private: Permission denied" otherwise). Without a
    remapping they go back to root's group."""
    gid = remap.mapping.root_pair()[1] if remap is not None else 0
    for path in (data_root, data_root / "containers"):
        os.chown(path, 0, gid)


# What moby's WithSysctls sets in a remapped container's new network namespace
# (it leaves out the ping group range, which raw sockets make unneeded there).
_NETNS_SYSCTLS = {"net/ipv4/ip_unprivileged_port_start": "0"}


def open_netns(netns: Path) -> None:
    """Ports below 1024 for every user in the namespace at `netns` (set by pierd:
    Pier, not the runtime, makes the namespace)."""

    def write() -> None:
        for name, value in _NETNS_SYSCTLS.items():
            path = Path("/proc/sys") / name
            if path.exists():
                path.write_text(value)

    try:
        run_inside(netns, write)
    except OSError as exc:
        raise SystemFailure(f"could not set up the network namespace {netns}: {exc}") from exc


def tar_id_maps(mapping: IdMapping, directory: Path) -> list[str]:
    """GNU tar's options turning host ids back into the container's (moby archives a
    remapped container's files with its IdentityMapping): what a running remapped
    container shows the host carries host ids. The map files are written once per
    mapping under `directory`."""
    uid, gid = mapping.root_pair()
    out = []
    for flag, ranges, name in (
        ("--owner-map", mapping.uids, f"owner-map.{uid}"),
        ("--group-map", mapping.gids, f"group-map.{gid}"),
    ):
        path = directory / name
        if not path.exists():
            # A file of its own per writer: concurrent copies out may all write it.
            with tempfile.NamedTemporaryFile(
                "w", dir=directory, prefix=f".{name}.", delete=False
            ) as tmp:
                try:
                    tmp.write(
                        "".join(
                            f"+{r.host_id + i} c:{r.container_id + i}\n"
                            for r in ranges
                            for i in range(r.size)
                        )
                    )
                except BaseException:
                    os.unlink(tmp.name)
                    raise
            os.replace(tmp.name, path)
        out.append(f"{flag}={path}")
    return out
