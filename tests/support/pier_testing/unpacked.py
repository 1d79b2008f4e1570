"""A layer applied to a directory and the tree it left, for the tests that compare
Pier's applier with GNU tar's extraction of the same archive."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from pier.images.unpack import apply_layer


def apply_tar(tar: Path, root: Path) -> None:
    root.mkdir(exist_ok=True)
    with tar.open("rb") as f:
        apply_layer(f, root)


Entry = tuple[int, int, int, int | None, str | None, str | None]


def tree(root: Path) -> dict[str, Entry]:
    """Every entry under `root` (not following symlinks): mode, owner, group, mtime
    (None for a directory: creating its entries changes it), link target, sha256."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            digest = None
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            mtime = None if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
            entry = (st.st_mode, st.st_uid, st.st_gid, mtime, link, digest)
            out[os.path.relpath(path, root)] = entry
    return out
