"""`PUT /containers/{id}/archive`: an uploaded tar extracted into a container's root
with the layer applier's confinement and writers."""

from __future__ import annotations

import contextlib
import os
import posixpath
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pier.images.compressed import bad_compression_is_a_400, decompressed
from pier.images.confine import clean
from pier.images.unpack import WRITERS, Applier, Owner, tar_errors


def extract_archive(
    stream: BinaryIO,
    root: Path,
    dest: str,
    *,
    owner: Owner,
    check: Callable[[str, tarfile.TarInfo, os.stat_result], None] | None = None,
) -> None:
    """`PUT /containers/{id}/archive`: a (possibly compressed) tar extracted under
    `dest` of `root` with the layer applier's confinement: entry names may not leave
    `dest`, symlinks on the way resolve inside `root`, whiteouts are plain names.
    `check(rel, member, st)` may refuse an entry before it is written, `st` being what
    is at `rel` already (it is not called when nothing is)."""
    base = posixpath.normpath(dest.lstrip("/")) if dest.strip("/") else "."
    # `docker cp` of a tree is mostly small files: the layer applier's writer threads
    # create them while the tar is read, as for a layer.
    # Not bounded, as dockerd's: what cp writes goes into the container's own root,
    # which the container could fill as well.
    applier = Applier(root, None, whiteouts=False, owner=owner, workers=WRITERS)
    existing = _Existing(applier)
    with applier, bad_compression_is_a_400():
        with (
            tar_errors("tar", "failed to extract the archive"),
            tarfile.open(fileobj=decompressed(stream), mode="r|") as tf,
        ):
            for member in tf:
                rel = clean(member.name)
                if member.islnk():
                    member.linkname = posixpath.join(base, clean(member.linkname))
                member.name = posixpath.join(base, rel)
                if check is not None:
                    st = existing.lookup(clean(member.name), member)
                    if st is not None:
                        check(member.name, member, st)
                applier.apply(member, tf)
        applier.finish()


class _Existing:
    """What is already where an upload's entries go (for its no-overwrite check).

    One lstat per entry, on the applier's cached parent descriptor; none in a directory
    this upload made itself, where only names it wrote can be (the writers know those:
    such a name waits for them and is looked up). A symlink entry could make a path
    lead elsewhere, so it forgets those directories."""

    def __init__(self, applier: Applier) -> None:
        self._applier = applier
        self._made: set[str] = set()

    def lookup(self, rel: str, member: tarfile.TarInfo) -> os.stat_result | None:
        applier = self._applier
        parent, name = posixpath.split(rel)
        parent = parent or "."
        dfd = applier.parent_fd(parent)
        known = applier.threaded and parent in self._made
        if applier.settle_if_handed(dfd, name):
            known = False  # an earlier entry of this name was with a worker
        st = None
        if not known:
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if member.issym():
            self._made.clear()
        elif st is None and member.isdir():
            self._made.add(rel)
        return st
