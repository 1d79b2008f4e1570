"""A container's (or a build step's) read-write layer: its changes and its layer tar.

The rw layer is the upper directory of an overlay snapshot, whose mounts name it
(`upperdir=`) and the image's layers beneath (`lowerdir=`, top first). Deletions sit
there as 0/0 character devices and replaced directories carry the
`trusted.overlay.opaque` xattr; the layer tar writes them as Docker does (`.wh.<name>`
files and a `.wh..wh..opq` entry), and `changes` lists them as `docker diff` does
(A added, C changed, D deleted; a directory holding a change is itself changed).

What the runtime made only to mount something over it (`/etc/hosts`, `/proc`...)
is not the container's change: dockerd keeps these in an "init" layer below the rw
layer. Pier has no such layer, so they are left out here when the image did not have
them, and so are directories whose only changes they were.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pier.errors import InvalidParameter
from pier.snapshots.types import Mount

ADDED, CHANGED, DELETED = 1, 0, 2  # Docker's ChangeType values (Kind in the API)
KIND_LETTER = {ADDED: "A", CHANGED: "C", DELETED: "D"}

# Mount points the run path (or the OCI runtime for it) creates in a root file system.
RUNTIME_MOUNTPOINTS = frozenset(
    {
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "proc",
        "sys",
        "sys/fs",
        "sys/fs/cgroup",
        "dev",
        "dev/pts",
        "dev/shm",
        "dev/mqueue",
        "dev/console",
        "sbin/docker-init",
        ".dockerenv",
    }
)
_OPAQUE_XATTR = "trusted.overlay.opaque"
_KEPT_XATTRS = ("security.capability",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    path: str  # absolute, as Docker lists it
    kind: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    upper: Path
    lowers: tuple[Path, ...]  # top first


def layout(mounts: Sequence[Mount]) -> Layout:
    """Where the rw layer and the layers beneath it are, from a snapshot's mounts."""
    if len(mounts) != 1:
        raise InvalidParameter("a root file system of one mount was expected")
    m = mounts[0]
    if m.type == "bind":
        return Layout(upper=Path(m.source), lowers=())
    upper: Path | None = None
    lowers: tuple[Path, ...] = ()
    for opt in m.options:
        if opt.startswith("upperdir="):
            upper = Path(opt.partition("=")[2])
        elif opt.startswith("lowerdir="):
            lowers = tuple(Path(p) for p in opt.partition("=")[2].split(":") if p)
    if upper is None:
        raise InvalidParameter("the snapshot has no writable layer")
    return Layout(upper=upper, lowers=lowers)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, _OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Lower:
    """Looks paths up in the image's layers, top first, honouring whiteouts."""

    def __init__(self, lowers: Sequence[Path]) -> None:
        self._lowers = [str(p) for p in lowers]

    def stat(self, rel: str) -> os.stat_result | None:
        for root in self._lowers:
            try:
                st = os.lstat(os.path.join(root, rel))
            except (FileNotFoundError, NotADirectoryError):
                if self._opaque_parent(root, rel):
                    return None
                continue
            if _is_whiteout(st):
                return None
            return st
        return None

    def _opaque_parent(self, root: str, rel: str) -> bool:
        parent = os.path.dirname(rel)
        while parent:
            if _is_opaque(os.path.join(root, parent)):
                return True
            parent = os.path.dirname(parent)
        return False

    def children(self, rel: str) -> set[str]:
        names: set[str] = set()
        hidden: set[str] = set()
        for root in self._lowers:
            path = os.path.join(root, rel)
            try:
                entries = list(os.scandir(path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for e in entries:
                st = e.stat(follow_symlinks=False)
                if e.name in hidden or e.name in names:
                    continue
                if _is_whiteout(st):
                    hidden.add(e.name)
                else:
                    names.add(e.name)
            if _is_opaque(path):
                break
        return names


def _same_dir(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_mode == b.st_mode and int(a.st_mtime) == int(b.st_mtime)


def changes(lay: Layout) -> list[Change]:
    """`docker diff`: the changes of the rw layer against the image, sorted by path."""
    lower = _Lower(lay.lowers)
    out: list[Change] = []
    _dir_changes(str(lay.upper), "", lower, out)
    out.sort(key=lambda c: c.path)
    return out


def _dir_changes(upper: str, rel: str, lower: _Lower, out: list[Change]) -> bool:
    """Append the changes under directory `rel`; True if there were any."""
    base = os.path.join(upper, rel) if rel else upper
    found = False
    names = sorted(os.listdir(base))
    if rel and _is_opaque(base):
        for gone in sorted(lower.children(rel) - set(names)):
            out.append(Change(path="/" + os.path.join(rel, gone), kind=DELETED))
            found = True
    for name in names:
        child = os.path.join(rel, name) if rel else name
        st = os.lstat(os.path.join(base, name))
        below = lower.stat(child)
        if _is_whiteout(st):
            if below is not None:
                out.append(Change(path="/" + child, kind=DELETED))
                found = True
            continue
        if child in RUNTIME_MOUNTPOINTS and below is None and _empty(os.path.join(base, name), st):
            continue
        if stat.S_ISDIR(st.st_mode):
            inner = _dir_changes(upper, child, lower, out)
            if below is None:
                out.append(Change(path="/" + child, kind=ADDED))
            elif inner or _dir_changed(st, below, os.path.join(base, name), child):
                out.append(Change(path="/" + child, kind=CHANGED))
            else:
                continue
            found = True
            continue
        out.append(Change(path="/" + child, kind=ADDED if below is None else CHANGED))
        found = True
    return found


def _dir_changed(st: os.stat_result, below: os.stat_result, path: str, rel: str) -> bool:
    if not stat.S_ISDIR(below.st_mode):
        return True
    return not _same_dir(st, below) and not _only_hidden(path, rel)


def _empty(path: str, st: os.stat_result) -> bool:
    if stat.S_ISDIR(st.st_mode):
        return all(_empty_child(path, n) for n in os.listdir(path))
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _empty_child(parent: str, name: str) -> bool:
    p = os.path.join(parent, name)
    st = os.lstat(p)
    return stat.S_ISDIR(st.st_mode) and _empty(p, st)


def _only_hidden(path: str, rel: str) -> bool:
    """A directory whose upper copy holds nothing but runtime mount points (its mtime
    moved because the runtime created them)."""
    names = os.listdir(path)
    return bool(names) and all(os.path.join(rel, n) in RUNTIME_MOUNTPOINTS for n in names)


# -- the layer tar ------------------------------------------------------------------------


def _entries(lay: Layout) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, full path, lstat) of what goes into the layer, parents first."""
    lower = _Lower(lay.lowers)
    root = str(lay.upper)

    def walk(rel: str) -> Iterator[tuple[str, str, os.stat_result]]:
        base = os.path.join(root, rel) if rel else root
        for name in sorted(os.listdir(base)):
            child = os.path.join(rel, name) if rel else name
            full = os.path.join(base, name)
            st = os.lstat(full)
            if child in RUNTIME_MOUNTPOINTS and _empty(full, st) and lower.stat(child) is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                inner = list(walk(child))
                below = lower.stat(child)
                if (
                    not inner
                    and below is not None
                    and _only_hidden(full, child)
                    and not _is_opaque(full)
                ):
                    continue
                yield child, full, st
                yield from inner
            else:
                yield child, full, st

    yield from walk("")


def write_layer(lay: Layout, out: BinaryIO) -> None:
    """The rw layer as a Docker layer tar (uncompressed, PAX) written to `out`."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for rel, full, st in _entries(lay):
            if _is_whiteout(st):
                head, name = os.path.split(rel)
                info = _base_info(os.path.join(head, ".wh." + name), st)
                info.mode = 0o600
                tf.addfile(info)
                continue
            info = _base_info(rel, st)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
                info.name = rel + "/"
            elif stat.S_ISLNK(mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(full)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    info.type = tarfile.LNKTYPE
                    info.linkname = links[key]
                else:
                    links[key] = rel
                    info.size = st.st_size
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor = os.major(st.st_rdev)
                info.devminor = os.minor(st.st_rdev)
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
            else:
                continue  # sockets are not archived (as Docker's tar)
            _xattrs(info, full)
            if info.type == tarfile.REGTYPE and info.size:
                with open(full, "rb") as fh:
                    tf.addfile(info, fh)
            else:
                tf.addfile(info)
            if stat.S_ISDIR(mode) and _is_opaque(full):
                opq = _base_info(os.path.join(rel, ".wh..wh..opq"), st)
                opq.mode = st.st_mode & 0o777
                tf.addfile(opq)


def _base_info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid = st.st_uid
    info.gid = st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    return info


def _xattrs(info: tarfile.TarInfo, path: str) -> None:
    for key in _KEPT_XATTRS:
        try:
            value = os.getxattr(path, key, follow_symlinks=False)
        except OSError:
            continue
        headers = dict(info.pax_headers)
        headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
        info.pax_headers = headers
