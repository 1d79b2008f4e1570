"""The `local` volume driver's file-system side: `<root>/<name>/_data` directories,
and, for volumes made with `-o type=... -o device=... -o o=...`, the mount(2) of that
device on `_data` while a container uses it (as moby's volume/local).

Plain blocking code: the service calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from pier.errors import InvalidParameter, SystemFailure
from pier.snapshots.mount import mount_one, unmount
from pier.snapshots.types import Mount

VALID_OPTIONS = ("type", "o", "device", "size")
# moby's mandatoryOpts: each option needs the others listed.
_REQUIRES = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def check_options(options: Mapping[str, str]) -> None:
    """moby's validateOpts for the local driver (no quota support here: `size` is
    refused as dockerd refuses it on a backing file system without quotas)."""
    for key in options:
        if key not in VALID_OPTIONS:
            raise InvalidParameter(f'invalid option: "{key}"')
    if options.get("size"):
        raise InvalidParameter("quota size requested but no quota support")
    for key, needed in _REQUIRES.items():
        if key in options:
            for other in needed:
                if other not in options:
                    raise InvalidParameter(f'missing required option: "{other}"')


class LocalDriver:
    def __init__(self, root: Path) -> None:
        self.root = root

    def data_path(self, name: str) -> Path:
        return self.root / name / "_data"

    def make(self, name: str) -> Path:
        """The volume's directories (idempotent: a re-created record finds them)."""
        path = self.data_path(name)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.mkdir(mode=0o755, exist_ok=True)
        return path

    def remove(self, name: str) -> None:
        unmount(self.data_path(name))
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.root / name)

    def mount(self, name: str, options: Mapping[str, str]) -> None:
        """Mount the volume's device on `_data` unless it is mounted already (a
        container of an earlier pierd may still use it)."""
        path = self.data_path(name)
        if os.path.ismount(path):
            return
        opts = tuple(o for o in options.get("o", "").split(",") if o)
        device = options.get("device", "")
        kind = options.get("type", "")
        if "bind" in opts or "rbind" in opts:
            kind = "bind"
        try:
            mount_one(Mount(type=kind, source=device, options=opts), path)
        except SystemFailure as exc:
            raise SystemFailure(f"failed to mount local volume: {exc}") from exc

    def unmount(self, name: str) -> None:
        unmount(self.data_path(name))

    def usage(self, name: str) -> int:
        """Bytes of the files under `_data`, each inode once, as moby's directory.Size
        (UsageData.Size, `system df -v`)."""
        total = 0
        seen: set[tuple[int, int]] = set()
        for dirpath, dirnames, filenames in os.walk(self.data_path(name)):
            for entry in dirnames + filenames:
                try:
                    st = os.lstat(os.path.join(dirpath, entry))
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                if not stat.S_ISDIR(st.st_mode):
                    total += st.st_size
        return total
