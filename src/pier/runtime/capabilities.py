"""Linux capabilities as Docker grants them: the default set, cap-add/cap-drop, ALL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pier.errors import InvalidParameter

# In kernel order (CAP_CHOWN is 0); the index is the capability's number.
KNOWN_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

# moby oci/caps/defaults.go, in moby's order.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

ALL = "ALL"


def host_capabilities(status_path: str = "/proc/self/status") -> tuple[str, ...]:
    """The capabilities this daemon may hand out: its bounding set (Docker's "all" for
    privileged containers). A host can withhold some even from root; asking the
    runtime for one of them fails with `capset: Operation not permitted`."""
    try:
        text = Path(status_path).read_text()
        mask = int(next(ln for ln in text.splitlines() if ln.startswith("CapBnd:")).split()[1], 16)
    except (OSError, StopIteration, ValueError, IndexError):
        try:
            last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        except (OSError, ValueError):
            last_cap = len(KNOWN_CAPABILITIES) - 1
        return KNOWN_CAPABILITIES[: last_cap + 1]
    return tuple(name for bit, name in enumerate(KNOWN_CAPABILITIES) if mask >> bit & 1)


def normalise(names: Iterable[str]) -> list[str]:
    """Docker's spelling: upper case with the CAP_ prefix; "ALL" stays; unknown -> 400."""
    out: list[str] = []
    for raw in names:
        name = raw.strip().upper()
        if name == ALL:
            out.append(ALL)
            continue
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in KNOWN_CAPABILITIES:
            raise InvalidParameter(f'unknown capability: "{raw}"')
        if name not in out:
            out.append(name)
    return out


def resolve(
    cap_add: Iterable[str],
    cap_drop: Iterable[str],
    *,
    privileged: bool,
    available: tuple[str, ...] | None = None,
) -> list[str]:
    """The container's capability set, with moby's TweakCapabilities rules.

    Privileged: everything the kernel has. cap-add ALL: everything but cap-drop.
    cap-drop ALL: exactly cap-add. Otherwise: the defaults minus cap-drop plus cap-add.
    """
    everything = available if available is not None else host_capabilities()
    adds = normalise(cap_add)
    drops = normalise(cap_drop)
    if privileged:
        return list(everything)
    if ALL in adds:
        return [c for c in everything if c not in drops]
    if ALL in drops:
        return [c for c in adds if c != ALL]
    caps = [c for c in DEFAULT_CAPABILITIES if c not in drops]
    caps += [c for c in adds if c not in caps]
    return caps
