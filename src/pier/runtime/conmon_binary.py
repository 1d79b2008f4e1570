"""Which conmon binary pierd starts.

`make install` leaves in `<prefix>/libexec/pier/` a copy of the conmon on PATH linked
against a stub instead of libsystemd (scripts/lean-conmon.sh): conmon uses libsystemd
only for its journald log driver, which Pier does not offer, and the real library costs
every container about 120 KiB (docs/decisions.md). pierd starts that copy only while it
is a copy of the conmon it would otherwise start (the sha256 recorded when it was made),
so a conmon upgraded since is never shadowed by a stale one, and only when daemon.json's
`conmon-path` is left at `conmon`: a path there is started as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAME = "conmon"
LEAN_DIR = Path(sys.prefix) / "libexec" / "pier"


@dataclass(frozen=True, slots=True)
class ConmonBinary:
    path: str
    # Why the lean copy is not used ("" when it is).
    reason: str = ""

    @property
    def lean(self) -> bool:
        return not self.reason


def choose_conmon(requested: str = DEFAULT_NAME, *, lean_dir: Path = LEAN_DIR) -> ConmonBinary:
    # Found once, as Podman finds its conmon: a bare name made every container's start
    # try each directory of PATH in turn (nine failed execs on this machine).
    found = shutil.which(requested) or requested
    if requested != DEFAULT_NAME:
        return ConmonBinary(found, reason="conmon-path names a binary")
    copy = lean_dir / "conmon"
    try:
        recorded = (lean_dir / "conmon.source").read_text().split()[0]
    except (OSError, IndexError):
        return ConmonBinary(found, reason=f"no copy without the journal in {lean_dir}")
    if not os.access(copy, os.X_OK):
        return ConmonBinary(found, reason=f"{copy} is not executable")
    try:
        current = _sha256(Path(found))
    except OSError as exc:
        return ConmonBinary(found, reason=f"cannot read {found}: {exc.strerror}")
    if current != recorded:
        return ConmonBinary(found, reason=f"{copy} was made from another conmon than {found}")
    return ConmonBinary(str(copy))


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
