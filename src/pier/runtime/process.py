"""A process the OCI runtime runs, and its one renderer.

A container's init (config.json's `process`) and an exec's process (`<runtime> exec
--process FILE`) are the same OCI object. Both are a `ProcessSpec` rendered by
`render_process`, so an exec cannot drift from its container: same capabilities,
rlimits, no-new-privileges, labels and OOM score unless asked otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pier.errors import InvalidParameter

# What dockerd's containers get from its systemd unit (LimitNOFILE=infinity -> 1048576).
DOCKER_NOFILE = 1048576

_RLIMITS = {
    "core": "RLIMIT_CORE",
    "cpu": "RLIMIT_CPU",
    "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS",
    "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE",
    "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS",
    "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING",
    "stack": "RLIMIT_STACK",
    "as": "RLIMIT_AS",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Ulimit:
    name: str  # Docker's name: "nofile", "nproc", ...
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Rlimit:
    type: str  # the OCI name: "RLIMIT_NOFILE", ...
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    """One process, as the runtime runs it.

    The security fields hold resolved values (a capability list, not cap-add and
    cap-drop). A container's `ContainerSpec.process` leaves them at their defaults:
    `spec.container_process` fills them from the container's options.
    """

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    terminal: bool = False
    umask: int | None = None
    # (height, width) of the terminal when it is made, so the first `stty size` is
    # right without waiting for a resize.
    console_size: tuple[int, int] | None = None
    capabilities: tuple[str, ...] = ()  # bounding = effective = permitted
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    apparmor_profile: str = ""
    selinux_label: str = ""
    oom_score_adj: int | None = None


def rlimits(ulimits: Iterable[Ulimit], nofile_hard: int) -> tuple[Rlimit, ...]:
    """Docker's rlimits: nofile at dockerd's default (never above what the daemon
    itself may raise it to: DESIGN §11), then the container's `--ulimit`s."""
    nofile = min(DOCKER_NOFILE, nofile_hard)
    limits = {"RLIMIT_NOFILE": Rlimit(type="RLIMIT_NOFILE", soft=nofile, hard=nofile)}
    for u in ulimits:
        kind = _RLIMITS.get(u.name.lower())
        if kind is None:
            raise InvalidParameter(f"invalid ulimit type: {u.name}")
        limits[kind] = Rlimit(type=kind, soft=u.soft, hard=u.hard)
    return tuple(limits.values())


def render_process(p: ProcessSpec) -> dict[str, Any]:
    """The OCI `process` object."""
    user: dict[str, Any] = {"uid": p.uid, "gid": p.gid}
    if p.additional_gids:
        user["additionalGids"] = list(p.additional_gids)
    if p.umask is not None:
        user["umask"] = p.umask
    caps = list(p.capabilities)
    process: dict[str, Any] = {
        "terminal": p.terminal,
        "user": user,
        "args": list(p.args),
        "env": list(p.env),
        "cwd": p.cwd or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": r.type, "hard": r.hard, "soft": r.soft} for r in p.rlimits],
        "noNewPrivileges": p.no_new_privileges,
    }
    if p.terminal and p.console_size and all(p.console_size):
        process["consoleSize"] = {"height": p.console_size[0], "width": p.console_size[1]}
    if p.apparmor_profile:
        process["apparmorProfile"] = p.apparmor_profile
    if p.selinux_label:
        process["selinuxLabel"] = p.selinux_label
    if p.oom_score_adj is not None:
        process["oomScoreAdj"] = p.oom_score_adj
    return process
