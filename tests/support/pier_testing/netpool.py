"""Address space for test daemons: each claims a 10.N.0.0/16 of its own (default
bridge 10.N.0.0/24, user networks 10.N.x.0/24), so daemons running at once, in this
process, in parallel workers or in other sessions on the machine, never overlap."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from pathlib import Path

CLAIMS = Path("/tmp/pier-test-subnets")
FIRST, LAST = 64, 250


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _routed() -> set[int]:
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()[0].split(".") if line else []
        if len(parts) >= 2 and parts[0] == "10" and parts[1].isdigit():
            found.add(int(parts[1]))
    return found


def claim_subnet(owner: str) -> int:
    """N of a free 10.N.0.0/16, claimed by an exclusive file naming this process."""
    CLAIMS.mkdir(exist_ok=True)
    routed = _routed()
    candidates = list(range(FIRST, LAST))
    random.shuffle(candidates)
    for n in candidates:
        if n in routed:
            continue
        path = CLAIMS / str(n)
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(path.read_text().split()[0])
            if not _alive(pid):
                path.unlink()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {owner}\n")
        return n
    raise RuntimeError("no free 10.N.0.0/16 for a test daemon")


def release_subnet(n: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (CLAIMS / str(n)).unlink()


def remove_networking(bridge: str, table: str, exec_root: str) -> None:
    """What a daemon killed for good may have left: its links and its table."""
    marker = f"pier {exec_root}"
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if not name:
            continue
        alias = Path(f"/sys/class/net/{name}/ifalias")
        with contextlib.suppress(OSError):
            if alias.read_text().strip() == marker or name == bridge:
                subprocess.run(["ip", "link", "del", name], capture_output=True)
    for family in ("ip", "ip6"):
        subprocess.run(["nft", "delete", "table", family, table], capture_output=True, check=False)
