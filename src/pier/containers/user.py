"""Resolve Docker's `--user` (name, uid, name:group, uid:gid...) through the image's
/etc/passwd and /etc/group, as Docker does at container start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pier.containers.inroot import read_config_file
from pier.errors import InvalidParameter


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    id: int
    gid: int  # passwd: primary gid; group: unused
    home: str
    members: tuple[str, ...]


def _parse(text: str | None, *, passwd: bool) -> list[_Entry]:
    entries = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        try:
            if passwd and len(f) >= 7:
                entries.append(_Entry(f[0], int(f[2]), int(f[3]), f[5], ()))
            elif not passwd and len(f) >= 4:
                members = tuple(m for m in f[3].split(",") if m)
                entries.append(_Entry(f[0], int(f[2]), 0, "", members))
        except ValueError:
            continue
    return entries


def resolve_user(root: Path, user: str, group_add: tuple[str, ...] = ()) -> ResolvedUser:
    users = _parse(read_config_file(root, "/etc/passwd"), passwd=True)
    groups = _parse(read_config_file(root, "/etc/group"), passwd=False)
    name, _, group = (user or "0").partition(":")
    match = next((u for u in users if u.name == name), None)
    if match is None and name.isdigit():
        match = next((u for u in users if u.id == int(name)), None)
    if match is None:
        if not name.isdigit():
            raise InvalidParameter(
                f"unable to find user {name}: no matching entries in passwd file"
            )
        uid, gid, home, uname = int(name), 0, "/", ""
    else:
        uid, gid, home, uname = match.id, match.gid, match.home or "/", match.name
    if group:
        gid = _group_id(groups, group)
    # Docker's process gets its primary group in the supplementary list too, then the
    # groups naming the user as a member (when no group was given), then --group-add.
    extra: list[int] = [gid]
    if uname and not group:
        extra += [g.id for g in groups if uname in g.members]
    for g in group_add:
        extra.append(_group_id(groups, g))
    return ResolvedUser(uid=uid, gid=gid, additional_gids=tuple(dict.fromkeys(extra)), home=home)


def _group_id(groups: list[_Entry], group: str) -> int:
    found = next((g for g in groups if g.name == group), None)
    if found is not None:
        return found.id
    if group.isdigit():
        return int(group)
    raise InvalidParameter(f"unable to find group {group}: no matching entries in group file")
