"""Files of a container from the host: the archive endpoints (`docker cp`) and export.

Paths resolve inside the container's root, never on the host: a running container is
reached through `/proc/<pid>/root` (its own mount namespace, so its volumes and bind
mounts are there), a stopped one through its root file system and mount points
mounted on a private directory for the time of the request. Lookups go through
openat2(RESOLVE_IN_ROOT) (`pier.containers.inroot`), archives are made by GNU tar
from a descriptor of the resolved directory (through /proc, so no path it walks is
resolved against the host, and it never follows symlinks), and uploads are extracted
by the layer applier's confinement.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pier import timefmt
from pier.containers.inroot import make_dirs_in_root, open_in_root
from pier.containers.model import Container
from pier.errors import InvalidParameter, NotFound, SystemFailure
from pier.images.extract import extract_archive
from pier.images.unpack import Owner
from pier.snapshots.mount import mount_all, mount_one, remount_read_only, unmount
from pier.snapshots.types import Mount

# Go's os.FileMode bits (the stat header carries Go's mode, not st_mode).
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20
_MAX_HOPS = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class PathStat:
    """moby's ContainerPathStat (the `X-Docker-Container-Path-Stat` header)."""

    name: str
    size: int
    mode: int  # Go's FileMode
    mtime: str
    link_target: str

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & _GO_DIR)


def go_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {
        stat.S_IFDIR: _GO_DIR,
        stat.S_IFLNK: _GO_SYMLINK,
        stat.S_IFBLK: _GO_DEVICE,
        stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV,
        stat.S_IFIFO: _GO_PIPE,
        stat.S_IFSOCK: _GO_SOCKET,
    }.get(kind, 0)
    if st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


def _not_found(path: str, ref: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {ref}")


def _absolute(path: str) -> str:
    # POSIX normpath keeps exactly two leading slashes: "/" + "/" would stay "//"
    return posixpath.normpath("/" + path.lstrip("/"))


def _split(path: str) -> tuple[str, str]:
    """(parent, last component) of an absolute container path; "/" is (".", ".")."""
    clean = _absolute(path)
    if clean == "/":
        return "/", "."
    parent, name = posixpath.split(clean)
    if path.endswith("/.") or path == ".":
        return clean, "."
    return parent, name


def resolve_link(root: Path, path: str) -> str:
    """Where a symlink at `path` finally points, as an absolute path in the container
    (moby's FollowSymlinkInScope)."""
    current = _absolute(path)
    for _ in range(_MAX_HOPS):
        parent, name = posixpath.split(current)
        try:
            with open_in_root(root, parent, os.O_PATH | os.O_DIRECTORY) as dfd:
                target = os.readlink(name, dir_fd=dfd)
        except OSError:
            return current
        current = posixpath.normpath(posixpath.join(parent, target))
    return current


def stat_path(root: Path, path: str, ref: str) -> PathStat:
    parent, name = _split(path)
    try:
        with open_in_root(root, parent, os.O_PATH | os.O_DIRECTORY) as dfd:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except OSError:
        raise _not_found(path, ref) from None
    link = resolve_link(root, path) if stat.S_ISLNK(st.st_mode) else ""
    shown = posixpath.basename(_absolute(path)) or "/"
    return PathStat(
        name=shown,
        size=st.st_size,
        mode=go_mode(st.st_mode),
        mtime=timefmt.format_ns(st.st_mtime_ns),
        link_target=link,
    )


@contextlib.contextmanager
def tar_args(root: Path, path: str, ref: str) -> Iterator[list[str]]:
    """GNU tar's arguments for a tar of `path` (named by its last component, as moby's
    TarResourceRebase), good while the block runs: tar reads through a descriptor of
    the resolved parent (/proc/<pierd>/fd/N), never a path resolved on the host."""
    parent, name = _split(path)
    with contextlib.ExitStack() as stack:
        try:
            dfd = stack.enter_context(open_in_root(root, parent, os.O_RDONLY | os.O_DIRECTORY))
            os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            raise _not_found(path, ref) from None
        yield ["-C", f"/proc/{os.getpid()}/fd/{dfd}", "--", name]


def real_path(root: Path, path: str) -> str:
    """`path` with every symlink on the way followed inside the container, as an
    absolute container path (moby's EvalSymlinks in the container's file system)."""
    pending = [p for p in _absolute(path).split("/") if p][::-1]
    resolved = "/"
    hops = 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            resolved = posixpath.dirname(resolved)
            continue
        try:
            with open_in_root(root, resolved, os.O_PATH | os.O_DIRECTORY) as dfd:
                target = os.readlink(name, dir_fd=dfd)
        except OSError:  # not a symlink, or not there: the name stays as it is
            resolved = posixpath.join(resolved, name)
            continue
        hops += 1
        if hops > _MAX_HOPS:
            raise InvalidParameter(f"too many links in {path}")
        if target.startswith("/"):
            resolved = "/"
        pending.extend(p for p in target.split("/")[::-1] if p)
    return resolved


def check_writable(record: Container, where: str) -> None:
    """moby's checkWritablePath: a destination inside one of the container's mount
    points is writable unless that mount is read-only; elsewhere unless the root is.
    dockerd looks at its MountPoints, which leave `--tmpfs` mounts out (not `listed`)."""
    inside = [
        m
        for m in record.binds
        if m.listed
        and (where == m.destination or where.startswith(m.destination.rstrip("/") + "/"))
    ]
    if inside:
        # dockerd walks a map (any order); the deepest mount is the one written to.
        if max(inside, key=lambda m: len(m.destination)).read_only:
            raise InvalidParameter("mounted volume is marked read-only")
        return
    if record.host_config.readonly_rootfs:
        raise InvalidParameter("container rootfs is marked read-only")


def extract(
    root: Path,
    path: str,
    record: Container,
    ref: str,
    body: BinaryIO,
    *,
    copy_owner: bool,
    no_overwrite: bool,
    root_owner: tuple[int, int] = (0, 0),
    map_ids: Callable[[int, int], tuple[int, int]] | None = None,
) -> None:
    """`PUT /archive`: `body` extracted into the directory `path`, owned by the
    container's root unless `copy_owner` (then by the entries' ids, through `map_ids`
    when the container's ids are not the host's)."""
    try:
        with open_in_root(root, path, os.O_PATH) as fd:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise InvalidParameter("extraction point is not a directory")
    except OSError:
        raise _not_found(path, ref) from None
    check_writable(record, real_path(root, path))

    dest = _absolute(path)

    def check(rel: str, member: tarfile.TarInfo, st: os.stat_result) -> None:
        # moby's Untar (noOverwriteDirNonDir): the entry's path, then the destination;
        # an error without a type there, so dockerd answers 500
        where = _absolute(rel)
        if stat.S_ISDIR(st.st_mode) and not member.isdir():
            raise SystemFailure(f'cannot overwrite directory "{where}" with non-directory "{dest}"')
        if not stat.S_ISDIR(st.st_mode) and member.isdir():
            raise SystemFailure(f'cannot overwrite non-directory "{where}" with directory "{dest}"')

    owner: Owner = (map_ids or None) if copy_owner else root_owner
    extract_archive(body, root, path, owner=owner, check=check if no_overwrite else None)


def export_args(root: Path) -> list[str]:
    """GNU tar's arguments for the container's file system as one tar, entries named
    without a leading "./" (as moby's export)."""
    return ["-C", str(root), "--", *sorted(os.listdir(root))]


@contextlib.contextmanager
def stopped_root(
    record: Container, rootfs: list[Mount], tmp_dir: Path, *, with_mounts: bool
) -> Iterator[Path]:
    """A stopped container's root file system (and, `with_mounts`, its binds and
    volumes) mounted on a private directory while the block runs."""
    target = tmp_dir / f"root-{record.id[:12]}-{secrets.token_hex(4)}"
    target.mkdir()
    try:
        mount_all(rootfs, target)
        try:
            if with_mounts:
                for point in sorted(
                    (m for m in record.binds if m.type != "tmpfs" and m.source),
                    key=lambda m: m.destination.count("/"),
                ):
                    if not os.path.isdir(point.source):
                        continue
                    make_dirs_in_root(target, point.destination, 0, 0)
                    with open_in_root(target, point.destination, os.O_PATH | os.O_DIRECTORY) as fd:
                        # The resolved directory, never a path a symlink could move.
                        mount_one(
                            Mount(type="bind", source=point.source, options=("rbind",)),
                            Path(f"/proc/self/fd/{fd}"),
                        )
                    if point.read_only:
                        # As in the container, so no entry written through a symlink
                        # lands in it.
                        with open_in_root(
                            target, point.destination, os.O_PATH | os.O_DIRECTORY
                        ) as fd:
                            remount_read_only(Path(f"/proc/self/fd/{fd}"))
            yield target
        finally:
            for mountpoint in _mounts_under(target):
                unmount(Path(mountpoint))
    finally:
        with contextlib.suppress(OSError):
            target.rmdir()


def _mounts_under(target: Path) -> list[str]:
    """Mount points at and below `target`, deepest first."""
    prefix = str(target)
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def clean_up(tmp_dir: Path) -> None:
    """Unmount and remove the private roots a crash left in `tmp_dir`."""
    for mountpoint in _mounts_under(tmp_dir):
        if mountpoint != str(tmp_dir):
            unmount(Path(mountpoint))
    for entry in os.scandir(tmp_dir):
        with contextlib.suppress(OSError):
            os.rmdir(entry.path)
