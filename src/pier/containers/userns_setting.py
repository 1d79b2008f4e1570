"""The daemon's `--userns-remap` setting, read as dockerd reads it.

It names a user (`default`, `user[:group]`, `uid[:gid]`) whose ranges in /etc/subuid
and /etc/subgid become every container's uid and gid maps (moby's parseRemappedRoot
and LoadIdentityMapping): the ranges are taken in file order, container id 0 being
the first range's start. `default` makes the user `pier` (dockerd's `dockremap`) with
a free 65536-id range from 100000, as moby's AddNamespaceRangesUser.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pier.containers.userns import Remap
from pier.errors import InvalidParameter, SystemFailure
from pier.snapshots.idmap import IdMapping, IdRange

log = logging.getLogger(__name__)

DEFAULT_SPECIFIER = "default"
DEFAULT_USER = "pier"
_RANGE_START = 100000
_RANGE_LEN = 65536


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
