"""Apply a layer tar to a snapshot directory, confined to that directory.

The layer is applied to the snapshot's own (overlay upper) directory, so Docker/OCI
whiteouts become overlay's: `.wh.<name>` -> a 0/0 character device, `.wh..wh..opq` ->
the `trusted.overlay.opaque=y` xattr on its directory.

Confinement (DESIGN §8), as Docker's applier does it: an entry whose cleaned name or
hard-link target leaves the root fails the whole layer ("breakout"); absolute names are
taken relative to the root; symlinks met while resolving a parent directory are followed
*inside* the root (openat2 RESOLVE_IN_ROOT), the same effect as Docker's chroot.

File creation on this disk is slow, so each entry costs as few syscalls as possible:
parent directories are resolved once and their descriptors kept, files are created
with O_EXCL and only unlinked when that fails. The pieces: `confine` (paths kept inside
the root), `filedata` (a file's data and holes), `writers` (small files written by
threads of their own), `compressed` (the stream's compression); `extract` uses the same
applier for `docker cp`.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pier.errors import InvalidParameter, SystemFailure
from pier.images.budget import Budget
from pier.images.compressed import bad_compression_is_a_400
from pier.images.confine import clean, openat2_dir, proc, rmtree_at
from pier.images.filedata import spend, write_dense, write_sparse
from pier.images.parents import Parents
from pier.images.tarsource import TarSource
from pier.images.writers import SMALL_FILE, SmallFile, Writers, fill, finish_link

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
_XATTR_PREFIX = "SCHILY.xattr."

# Threads creating a layer's small files (writers.py): measured on this disk, 4 beat 1
# and 2, and more only add contention.
WRITERS = 4
# Who owns what an upload writes: the entries' own ids (None), one owner for all, or
# the entries' ids mapped (a user-namespaced container's, seen from the host).
Owner = tuple[int, int] | Callable[[int, int], tuple[int, int]] | None
# Errors that say the tar is wrong, not the host (a name too long, a hard link to a
# directory, a path through a file...): a 400 with the entry named.
TAR_ERRNOS = frozenset(
    {
        errno.ENAMETOOLONG,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ELOOP,
        errno.EINVAL,
        errno.EEXIST,
        errno.ENOTEMPTY,
        errno.EMLINK,
    }
)


@contextlib.contextmanager
def tar_errors(kind: str, failed: str) -> Iterator[None]:
    """A fault of the tar (`kind`: "layer tar", "tar") is the client's 400 with the
    entry named; one of the host a 500 saying `failed`."""
    try:
        yield
    except tarfile.TarError as exc:
        raise InvalidParameter(f"invalid {kind}: {exc}") from exc
    except gzip.BadGzipFile as exc:  # an OSError, but the client's (a CRC mismatch)
        raise InvalidParameter(f"invalid {kind}: {exc}") from exc
    except OSError as exc:
        if exc.errno in TAR_ERRNOS:
            raise InvalidParameter(
                f"invalid {kind}: {exc.strerror}: {exc.filename or ''}".rstrip(": ")
            ) from exc
        raise SystemFailure(f"{failed}: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpackResult:
    diff_id: str  # sha256 of the uncompressed tar stream
    size: int  # sum of the sizes of the regular files in the layer (Docker's layer size)
    compressed_digest: str  # sha256 of the stream as read
    compressed_size: int


def apply_layer(
    stream: BinaryIO, root: Path, *, budget: Budget | None = None, verified: bool = False
) -> UnpackResult:
    """Apply the (possibly compressed) layer tar read from `stream` to `root`, writing
    the file data `budget` allows (the daemon's `max-unpack-size`; holes do not
    count, so that a 10 KiB upload cannot fill the disk; None: no bound).
    `verified`: the stream's digest is checked by whoever supplies it (a pull's
    download): it is not taken again here, and the result's `compressed_digest` is
    empty."""
    with (
        TarSource(stream, hash_compressed=not verified) as source,
        Applier(root, budget, workers=WRITERS, fresh=True) as applier,
        bad_compression_is_a_400(),
    ):
        with tar_errors("layer tar", "failed to apply layer"):
            # Seekable mode over a forward-only source: see tarsource.py for why.
            with tarfile.open(fileobj=source, mode="r:") as tf:  # type: ignore[call-overload]
                for member in tf:
                    applier.apply(member, tf)
                applier.settle()  # the workers' errors are the tar's too
            # The DiffID covers the whole stream, including the tar's zero-block padding.
            source.drain()
        applier.finish()
    return UnpackResult(
        diff_id=source.diff_id,
        size=applier.size,
        compressed_digest=source.digest,
        compressed_size=source.compressed_size,
    )


class Applier:
    def __init__(
        self,
        root: Path,
        budget: Budget | None,
        *,
        whiteouts: bool = True,
        owner: Owner = None,
        workers: int = 0,
        fresh: bool = False,
    ) -> None:
        self._root = root
        self._budget = budget
        # A `docker cp` tar has no whiteouts, and its files may all go to one owner.
        self._whiteouts = whiteouts
        self._owner = owner
        self._dir_times: list[tuple[str, int]] = []  # directory -> mtime ns, set at the end
        # A layer's own root is empty: creation's defaults may hold there (parents.py).
        self._fresh = fresh
        self._parents: Parents  # from __enter__
        # Every name under an empty root was made by this applier, so the writers know
        # it: a symlink can go to them. Elsewhere (`docker cp`) a symlink may replace
        # one that later entries' paths go through, and must be there before them.
        self._links_to_writers = fresh
        self._workers = workers
        self._writers: Writers | None = None
        self.size = 0

    def _owner_of(self, m: tarfile.TarInfo) -> tuple[int, int]:
        if self._owner is None:
            return m.uid, m.gid
        if callable(self._owner):
            return self._owner(m.uid, m.gid)
        return self._owner

    def __enter__(self) -> Applier:
        root_fd = os.open(self._root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if self._workers:
                self._writers = Writers(self._workers)
            self._parents = Parents(
                root_fd, fresh=self._fresh, writers=self._writers, settle=self.settle
            )
        except BaseException:
            if self._writers is not None:
                self._writers.close()
            os.close(root_fd)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # The workers use the cached descriptors: they stop before those close.
        if self._writers is not None:
            self._writers.close()
        self._parents.close()

    def settle(self) -> None:
        """Wait for the files handed to workers (before removing, linking, replacing a
        name met before, or closing cached directories)."""
        if self._writers is not None:
            self._writers.drain(self._redo)

    def _redo(self, f: SmallFile) -> None:
        """A worker found `f`'s name taken: create it here, replacing what is there."""
        if f.linkname is not None:
            try:
                os.symlink(f.linkname, f.name, dir_fd=f.dfd)
            except FileExistsError:
                self._remove(f.name, f.dfd)
                os.symlink(f.linkname, f.name, dir_fd=f.dfd)
            finish_link(f)
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(f.name, flags, f.create_mode, dir_fd=f.dfd)
        except FileExistsError:
            self._remove(f.name, f.dfd)
            fd = os.open(f.name, flags, f.create_mode, dir_fd=f.dfd)
        try:
            fill(fd, f)
        finally:
            os.close(fd)

    @property
    def threaded(self) -> bool:
        """Small files and links go to writer threads."""
        return self._writers is not None

    def parent_fd(self, rel: str) -> int:
        """The cached descriptor of directory `rel` (made if missing, as for an entry)."""
        return self._parents.fd(rel)

    def settle_if_handed(self, dfd: int, name: str) -> bool:
        """If an earlier entry `name` under `dfd` went to a writer, wait for the writers
        (it may not be on disk yet) and say so."""
        if self._writers is None or not self._writers.seen(self._parents.key(dfd, name)):
            return False
        self.settle()
        return True

    def _remove(self, name: str, dfd: int) -> None:
        self.settle()
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            rmtree_at(dfd, name)
            self._parents.forget(keep=dfd)
        else:
            os.unlink(name, dir_fd=dfd)

    # -- entries -----------------------------------------------------------------------

    def apply(self, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        rel = clean(m.name)
        if rel == ".":
            if m.isdir():
                self._meta_path(".", self._parents.root_fd, m, is_dir=True)
            return
        parent, name = posixpath.split(rel)
        parent = parent or "."
        dfd = self._parents.fd(parent)
        if self._writers is not None:
            if self._handed_off(name, dfd, m, tf):
                return
            self._writers.mark(self._parents.key(dfd, name))
        self._apply_here(name, dfd, rel, m, tf)

    def _handed_off(self, name: str, dfd: int, m: tarfile.TarInfo, tf: tarfile.TarFile) -> bool:
        """Give a small new file or a symlink to the workers; otherwise settle them
        when the entry may touch what they write. True when the entry was handed off."""
        assert self._writers is not None
        key = self._parents.key(dfd, name)
        special = name.startswith(WHITEOUT_PREFIX) or m.islnk()
        if special or self._writers.seen(key):
            self.settle()
            return False
        link = m.issym() and self._links_to_writers
        if not (m.isfile() or link) or m.sparse is not None or m.size > SMALL_FILE:
            return False
        size = 0 if link else m.size
        spend(self._budget, size, m)
        data = b""
        if size:
            src = tf.extractfile(m)
            assert src is not None
            data = src.read(m.size)
        uid, gid = self._owner_of(m)
        mode = m.mode & 0o7777
        small = SmallFile(
            dfd=dfd,
            name=name,
            data=data,
            uid=uid,
            gid=gid,
            mode=mode,
            mtime_ns=int(m.mtime * 1e9),
            xattrs=tuple(_xattrs(m)),
            chown=not self._parents.owner_holds(dfd, uid, gid),
            chmod=not self._parents.mode_holds(dfd, mode),
            linkname=m.linkname if link else None,
        )
        self._writers.submit(key, small, self._redo)
        self.size += size
        return True

    def _apply_here(
        self, name: str, dfd: int, rel: str, m: tarfile.TarInfo, tf: tarfile.TarFile
    ) -> None:
        if self._whiteouts and name.startswith(WHITEOUT_PREFIX):
            if name == WHITEOUT_OPAQUE:
                os.setxattr(proc(dfd), "trusted.overlay.opaque", b"y")
            elif not name.startswith(WHITEOUT_META_PREFIX):
                target = name[len(WHITEOUT_PREFIX) :]
                if target in ("", ".", ".."):
                    raise InvalidParameter(f"invalid layer tar: bad whiteout {m.name!r}")
                self._remove(target, dfd)
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=dfd)
                if self._writers is not None:
                    self._writers.mark(self._parents.key(dfd, target))
            # Other .wh..wh. entries are aufs bookkeeping: skipped, as Docker does.
            return

        if m.isdir():
            mode = m.mode & 0o7777
            new = self._parents.mode_holds(dfd, mode)
            try:
                os.mkdir(name, mode if new else 0o700, dir_fd=dfd)
            except FileExistsError:
                new = False
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=dfd)
                    os.mkdir(name, 0o700, dir_fd=dfd)
            self._meta_path(name, dfd, m, is_dir=True, new=new)
            self._parents.changed(rel, mode, self._owner_of(m)[1])
            self._dir_times.append((rel, int(m.mtime * 1e9)))
            return

        if m.isfile():
            self._regular(name, dfd, m, tf)
            return

        if m.islnk():
            self._hardlink(name, dfd, m)
            return

        self._create_special(name, dfd, m)
        self._meta_path(name, dfd, m, is_dir=False, new=m.issym())

    def _create_special(self, name: str, dfd: int, m: tarfile.TarInfo) -> None:
        for attempt in (0, 1):
            try:
                if m.issym():
                    os.symlink(m.linkname, name, dir_fd=dfd)
                elif m.ischr() or m.isblk():
                    kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                    dev = os.makedev(m.devmajor, m.devminor)
                    os.mknod(name, kind | (m.mode & 0o7777), dev, dir_fd=dfd)
                elif m.isfifo():
                    os.mkfifo(name, m.mode & 0o7777, dir_fd=dfd)
                else:
                    raise InvalidParameter(
                        f"invalid layer tar: unhandled entry type {m.type!r} for {m.name!r}"
                    )
                return
            except FileExistsError:
                if attempt:
                    raise
                self._remove(name, dfd)

    def _regular(self, name: str, dfd: int, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, 0o600, dir_fd=dfd)
        except FileExistsError:
            self._remove(name, dfd)
            fd = os.open(name, flags, 0o600, dir_fd=dfd)
        try:
            if m.sparse is not None:
                write_sparse(fd, m, tf, self._budget)
            elif m.size:
                write_dense(fd, m, tf, self._budget)
            self.size += m.size
            os.fchown(fd, *self._owner_of(m))
            os.fchmod(fd, m.mode & 0o7777)
            for key, value in _xattrs(m):
                os.setxattr(fd, key, value)
            ns = int(m.mtime * 1e9)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)

    def _hardlink(self, name: str, dfd: int, m: tarfile.TarInfo) -> None:
        target = m.linkname
        if not target.strip("/"):
            raise InvalidParameter(f"invalid layer tar: {m.name!r} links to the root")
        rel = posixpath.normpath(target.lstrip("/"))
        if rel == ".." or rel.startswith("../"):
            raise InvalidParameter(
                f"invalid layer tar: {m.name!r} hardlink to {target!r} is outside of the root "
                "(breakout)"
            )
        tparent, tname = posixpath.split(rel)
        tfd = self._parents.fd(tparent or ".")
        for attempt in (0, 1):
            try:
                os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=dfd, follow_symlinks=False)
                return
            except FileExistsError:
                if attempt:
                    raise
                self._remove(name, dfd)
            except FileNotFoundError:
                raise InvalidParameter(
                    f"invalid layer tar: {m.name!r} hardlink target {target!r} does not exist"
                ) from None

    def _meta_path(
        self, name: str, dfd: int, m: tarfile.TarInfo, *, is_dir: bool, new: bool = False
    ) -> None:
        """Owner, mode, xattrs and (but for directories) times of the entry `name`;
        `new`: it was just created with its mode (a symlink has none)."""
        uid, gid = self._owner_of(m)
        if not (new and self._parents.owner_holds(dfd, uid, gid)):
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
        if not (new or m.issym()):
            os.chmod(name, m.mode & 0o7777, dir_fd=dfd)
        xattrs = _xattrs(m)
        if xattrs:
            if any(key == "system.posix_acl_default" for key, _ in xattrs):
                self._parents.fresh = False  # its new entries' modes are the ACL's, not ours
            path = proc(dfd) + "/" + name if name != "." else proc(dfd)
            for key, value in xattrs:
                os.setxattr(path, key, value, follow_symlinks=False)
        if not is_dir:
            ns = int(m.mtime * 1e9)
            os.utime(name, ns=(ns, ns), dir_fd=dfd, follow_symlinks=False)

    def finish(self) -> None:
        self.settle()
        # Directory times last: creating children changed them.
        for rel, ns in reversed(self._dir_times):
            try:
                fd = openat2_dir(self._parents.root_fd, rel)
            except OSError:
                continue  # replaced or removed by a later entry
            try:
                os.utime(proc(fd), ns=(ns, ns))
            finally:
                os.close(fd)


def _xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    if not m.pax_headers:
        return []
    out = []
    for key, value in m.pax_headers.items():
        if key.startswith(_XATTR_PREFIX):
            # tarfile decodes pax values as UTF-8 with surrogateescape; undo it for the raw bytes.
            out.append((key[len(_XATTR_PREFIX) :], value.encode("utf-8", "surrogateescape")))
    return out
