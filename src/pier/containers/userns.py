"""User namespaces: dockerd's `--userns-remap`.

The daemon's setting names a user (`default`, `user[:group]`, `uid[:gid]`) whose ranges
in /etc/subuid and /etc/subgid become every container's uid and gid maps, as moby's
parseRemappedRoot and LoadIdentityMapping read them: the ranges are taken in file
order, container id 0 being the first range's start. `default` makes the user `pier`
(dockerd's `dockremap`) with a free 65536-id range from 100000, as moby's
AddNamespaceRangesUser.

A container opts out with `--userns=host`; a remapped one cannot be privileged nor
share the host's network or PID namespace (moby's verifyPlatformContainerSettings).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pier.containers.model import Container, HostConfig
from pier.containers.spec import SpecPart
from pier.errors import InvalidParameter, SystemFailure
from pier.networking.netns import UsernsOwner, run_inside
from pier.snapshots.idmap import IdMapping, IdRange, owner_of

log = logging.getLogger(__name__)

DEFAULT_SPECIFIER = "default"
DEFAULT_USER = "pier"
_RANGE_START = 100000
_RANGE_LEN = 65536


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


# -- the daemon's setting ------------------------------------------------------------


def load_remap(setting: str, *, prefix: Path = Path("/")) -> Remap | None:
    """The remapping `--userns-remap setting` asks for; None when it asks for none
    (empty, or root: moby turns user namespaces off for a 1-to-1 mapping). `prefix`
    is the root whose /etc is read and changed (tests use a copy)."""
    if not setting:
        return None
    user, group = _parse(setting, prefix)
    if user == "root":
        log.warning("User namespaces: root cannot be remapped with itself; user namespaces are OFF")
        return None
    log.info("User namespaces: ID ranges will be mapped to subuid/subgid ranges of: %s", user)
    uids = _ranges(prefix / "etc/subuid", user, "subuid")
    gids = _ranges(prefix / "etc/subgid", user, "subgid")
    return Remap(name=f"{user}:{group}", mapping=IdMapping(uids=uids, gids=gids))


def _parse(setting: str, prefix: Path) -> tuple[str, str]:
    parts = setting.split(":")
    if len(parts) > 2:
        raise InvalidParameter(f"Invalid user/group specification in --userns-remap: {setting!r}")
    users = _Db(prefix / "etc/passwd")
    groups = _Db(prefix / "etc/group")
    first = parts[0]
    group = ""
    if first.isdigit():
        name = users.name_of_id(int(first))
        if name is None:
            raise InvalidParameter(f"Uid {first} has no entry in /etc/passwd")
        user = name
        if len(parts) == 1:
            gname = groups.name_of_id(int(first))
            if gname is None:
                raise InvalidParameter(f"Gid {first} has no entry in /etc/group")
            group = gname
    else:
        lookup = DEFAULT_USER if first == DEFAULT_SPECIFIER else first
        if not users.has_name(lookup):
            if first != DEFAULT_SPECIFIER:
                raise InvalidParameter(f"Error during uid lookup for {lookup!r}: user not found")
            add_default_user(prefix)
            return DEFAULT_USER, DEFAULT_USER
        user = lookup
        if len(parts) == 1:
            if not groups.has_name(lookup) and first != DEFAULT_SPECIFIER:
                raise InvalidParameter(f"Error during gid lookup for {lookup!r}: group not found")
            group = lookup
    if len(parts) == 2:
        second = parts[1]
        if second.isdigit():
            gname = groups.name_of_id(int(second))
            if gname is None:
                raise InvalidParameter(f"Gid {second} has no entry in /etc/passwd")
            group = gname
        else:
            if not groups.has_name(second):
                raise InvalidParameter(
                    f"Error during groupname lookup for {second!r}: group not found"
                )
            group = second
    return user, group


class _Db:
    """An /etc/passwd- or /etc/group-format file, read as moby's usergroup does (the
    file itself, not NSS, so a `prefix` works)."""

    def __init__(self, path: Path) -> None:
        self._entries: list[tuple[str, int]] = []
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            fields = line.split(":")
            if len(fields) >= 3 and fields[2].isdigit():
                self._entries.append((fields[0], int(fields[2])))

    def name_of_id(self, num: int) -> str | None:
        return next((n for n, i in self._entries if i == num), None)

    def id_of_name(self, name: str) -> int | None:
        return next((i for n, i in self._entries if n == name), None)

    def has_name(self, name: str) -> bool:
        return any(n == name for n, _ in self._entries)


def _ranges(path: Path, user: str, kind: str) -> tuple[IdRange, ...]:
    """The user's ranges in file order (by name or numeric id), laid end to end from
    container id 0 (moby's createIDMap)."""
    ids = {user}
    uid = _Db(path.parent / "passwd").id_of_name(user)
    if uid is not None:
        ids.add(str(uid))
    out: list[IdRange] = []
    nxt = 0
    for start, count in _sub_entries(path, ids):
        out.append(IdRange(container_id=nxt, host_id=start, size=count))
        nxt += count
    if not out:
        raise InvalidParameter(
            f"Can't create ID mappings: no {kind} ranges found for user {user!r}"
        )
    return tuple(out)


def _sub_entries(path: Path, owners: set[str] | None) -> list[tuple[int, int]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or line.startswith("#"):
            continue
        if owners is not None and fields[0] not in owners:
            continue
        if fields[1].isdigit() and fields[2].isdigit():
            out.append((int(fields[1]), int(fields[2])))
    return out


def next_free_range(path: Path) -> int:
    """The first start from 100000 no range in `path` overlaps (moby's
    findNextRangeStart, over every owner's ranges)."""
    start = _RANGE_START
    for first, count in sorted(_sub_entries(path, None)):
        if first < start + _RANGE_LEN and start < first + count:
            start = first + count
    return start


def add_default_user(prefix: Path) -> None:
    """Make the `pier` system user with subordinate ranges, as moby's
    AddNamespaceRangesUser makes `dockremap`. No group of its own (useradd -N): a
    `pier` group is the API socket's group, which must not appear by side effect."""
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    usermod = shutil.which("usermod") or "/usr/sbin/usermod"
    extra = [] if prefix == Path("/") else ["--prefix", str(prefix)]
    _run(
        [
            useradd,
            *extra,
            "--system",
            "--no-user-group",
            "--no-create-home",
            "--shell",
            "/bin/false",
            DEFAULT_USER,
        ],
        f"error adding user {DEFAULT_USER!r}",
    )
    for flag, name in (("-v", "subuid"), ("-w", "subgid")):
        path = prefix / "etc" / name
        if _sub_entries(path, {DEFAULT_USER}):
            continue
        start = next_free_range(path)
        _run(
            [usermod, *extra, flag, f"{start}-{start + _RANGE_LEN - 1}", DEFAULT_USER],
            f"unable to add {name} range to user {DEFAULT_USER!r}",
        )


def _run(argv: Sequence[str], what: str) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SystemFailure(f"{what}: {exc}") from exc
    if result.returncode != 0:
        raise SystemFailure(f"{what}: {result.stderr.strip() or result.stdout.strip()}")


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
            tmp = path.with_suffix(".tmp")
            tmp.write_text(
                "".join(
                    f"+{r.host_id + i} c:{r.container_id + i}\n"
                    for r in ranges
                    for i in range(r.size)
                )
            )
            os.replace(tmp, path)
        out.append(f"{flag}={path}")
    return out
