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
with O_EXCL and only unlinked when that fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import gzip
import os
import posixpath
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from pier.errors import InvalidParameter, SystemFailure
from pier.images.budget import Budget
from pier.images.tarsource import TarSource
from pier.images.writers import SMALL_FILE, SmallFile, Writers, fill, finish_link

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
_XATTR_PREFIX = "SCHILY.xattr."

_SYS_OPENAT2 = 437  # same number on x86_64 and aarch64
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_CHUNK = 1 << 20
_HOLE_GRAIN = 1 << 16  # the smallest zero run a plain entry leaves as a hole
_HOLE = bytes(_HOLE_GRAIN)
# Threads creating a layer's small files (writers.py): measured on this disk, 4 beat 1
# and 2, and more only add contention.
_WRITERS = 4

# Who owns what an upload writes: the entries' own ids (None), one owner for all, or
# the entries' ids mapped (a user-namespaced container's, seen from the host).
Owner = tuple[int, int] | Callable[[int, int], tuple[int, int]] | None
# Errors that say the tar is wrong, not the host (a name too long, a hard link to a
# directory, a path through a file...): a 400 with the entry named.
_TAR_ERRNOS = frozenset(
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


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpackResult:
    diff_id: str  # sha256 of the uncompressed tar stream
    size: int  # sum of the sizes of the regular files in the layer (Docker's layer size)
    compressed_digest: str  # sha256 of the stream as read
    compressed_size: int


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


@functools.cache
def _syscall() -> Callable[..., int]:
    libc = ctypes.CDLL(None, use_errno=True)
    fn: Callable[..., int] = libc.syscall
    return fn


def _openat2_dir(root_fd: int, rel: str) -> int:
    how = _OpenHow(
        flags=os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC,
        mode=0,
        resolve=_RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS,
    )
    fd = _syscall()(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(root_fd),
        ctypes.c_char_p(os.fsencode(rel)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return fd


def decompressed(stream: IO[bytes]) -> IO[bytes]:
    """`stream` itself, or a decompressing reader over it (gzip; zstd when `zstandard` is
    installed). Peeks at the magic bytes without consuming them."""
    peekable: Any = stream if hasattr(stream, "peek") else _Peekable(stream)
    head = peekable.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        try:  # ISA-L inflates about 3x faster than zlib here (measured, decisions.md)
            from isal import igzip
        except ImportError:
            return cast(IO[bytes], gzip.GzipFile(fileobj=peekable, mode="rb"))
        return cast(IO[bytes], igzip.IGzipFile(fileobj=peekable, mode="rb"))  # type: ignore[no-untyped-call]
    if head == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise InvalidParameter("zstd-compressed layers need the zstandard module") from None
        return cast(IO[bytes], zstandard.ZstdDecompressor().stream_reader(peekable))
    if head[:3] == b"BZh" or head == b"\xfd7zX":
        raise InvalidParameter("unsupported layer compression (bzip2/xz)")
    return cast(IO[bytes], peekable)


@contextlib.contextmanager
def bad_compression_is_a_400() -> Iterator[None]:
    """A truncated or corrupt compressed stream is the client's fault, whatever the
    decompressor calls it."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InvalidParameter(f"invalid layer tar: {exc}") from exc
    except Exception as exc:
        # zstandard.ZstdError, ISA-L's IsalError (its module calls itself "igzip_lib"):
        # the decompressors' own types
        if type(exc).__module__.startswith(("zstandard", "isal", "igzip_lib")):
            raise InvalidParameter(f"invalid layer tar: {exc}") from exc
        raise


class _Peekable:
    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._buf = b""

    def peek(self, n: int) -> bytes:
        if len(self._buf) < n:
            self._buf += self._raw.read(n - len(self._buf))
        return self._buf

    def read(self, n: int = -1) -> bytes:
        if self._buf:
            if n < 0:
                out, self._buf = self._buf + self._raw.read(), b""
                return out
            out, self._buf = self._buf[:n], self._buf[n:]
            if len(out) < n:
                out += self._raw.read(n - len(out))
            return out
        return self._raw.read(n)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


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
        _Applier(root, budget, workers=_WRITERS, fresh=True) as applier,
        bad_compression_is_a_400(),
    ):
        try:
            # Seekable mode over a forward-only source: see tarsource.py for why.
            with tarfile.open(fileobj=source, mode="r:") as tf:  # type: ignore[call-overload]
                for member in tf:
                    applier.apply(member, tf)
                applier.settle()  # the workers' errors are the tar's too
            # The DiffID covers the whole stream, including the tar's zero-block padding.
            source.drain()
        except tarfile.TarError as exc:
            raise InvalidParameter(f"invalid layer tar: {exc}") from exc
        except gzip.BadGzipFile as exc:  # an OSError, but the client's (a CRC mismatch)
            raise InvalidParameter(f"invalid layer tar: {exc}") from exc
        except OSError as exc:
            if exc.errno in _TAR_ERRNOS:
                raise InvalidParameter(
                    f"invalid layer tar: {exc.strerror}: {exc.filename or ''}".rstrip(": ")
                ) from exc
            raise SystemFailure(f"failed to apply layer: {exc}") from exc
        applier.finish()
    return UnpackResult(
        diff_id=source.diff_id,
        size=applier.size,
        compressed_digest=source.digest,
        compressed_size=source.compressed_size,
    )


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
    applier = _Applier(root, None, whiteouts=False, owner=owner, workers=_WRITERS)
    existing = _Existing(applier)
    with applier, bad_compression_is_a_400():
        try:
            with tarfile.open(fileobj=decompressed(stream), mode="r|") as tf:
                for member in tf:
                    rel = _clean(member.name)
                    if member.islnk():
                        member.linkname = posixpath.join(base, _clean(member.linkname))
                    member.name = posixpath.join(base, rel)
                    if check is not None:
                        st = existing.lookup(_clean(member.name), member)
                        if st is not None:
                            check(member.name, member, st)
                    applier.apply(member, tf)
        except tarfile.TarError as exc:
            raise InvalidParameter(f"invalid tar: {exc}") from exc
        except gzip.BadGzipFile as exc:  # an OSError, but the client's (a CRC mismatch)
            raise InvalidParameter(f"invalid tar: {exc}") from exc
        except OSError as exc:
            if exc.errno in _TAR_ERRNOS:
                raise InvalidParameter(
                    f"invalid tar: {exc.strerror}: {exc.filename or ''}".rstrip(": ")
                ) from exc
            raise SystemFailure(f"failed to extract the archive: {exc}") from exc
        applier.finish()


class _Existing:
    """What is already where an upload's entries go (for its no-overwrite check).

    One lstat per entry, on the applier's cached parent descriptor; none in a directory
    this upload made itself, where only names it wrote can be (the writers know those:
    such a name waits for them and is looked up). A symlink entry could make a path
    lead elsewhere, so it forgets those directories."""

    def __init__(self, applier: _Applier) -> None:
        self._applier = applier
        self._made: set[str] = set()

    def lookup(self, rel: str, member: tarfile.TarInfo) -> os.stat_result | None:
        applier = self._applier
        parent, name = posixpath.split(rel)
        parent = parent or "."
        dfd = applier._dir_fd(parent)
        writers = applier._writers
        known = writers is not None and parent in self._made
        if writers is not None and writers.seen(applier._key(dfd, name)):
            applier.settle()  # an earlier entry of this name may be with a worker still
            known = False
        st = None
        if not known:
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if member.issym():
            self._made.clear()
        elif st is None and member.isdir():
            self._made.add(rel)
        return st


def _clean(name: str) -> str:
    """The entry name relative to the root; breakout error when it leaves the root."""
    joined = posixpath.normpath(posixpath.join("/", name))
    # normpath of an absolute path cannot contain "..": check the raw name lexically, as
    # Docker's Rel(dest, Join(dest, name)) check does.
    rel = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if rel == ".." or rel.startswith("../"):
        raise InvalidParameter(f"invalid layer tar: {name!r} is outside of the root (breakout)")
    return joined.lstrip("/") or "."


class _Applier:
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
        self._root_fd = -1
        self._dirs: dict[str, int] = {}  # parent path (relative) -> O_PATH fd
        self._dir_times: list[tuple[str, int]] = []  # directory -> mtime ns, set at the end
        self._ino: dict[int, int] = {}  # cached directory fd -> its inode (names' identity)
        # Cached directory fd -> whether its new entries may not take pierd's group and
        # their own mode: it is set-group-ID (they take its group, new directories its
        # bit), or its group is another (a `grpid` mount gives them the directory's).
        self._inherits: dict[int, bool] = {}
        # A layer's own root is empty (no default ACL above its entries): there a new
        # entry created with its mode keeps it unless the umask takes bits away.
        self._fresh = fresh
        # Every name under an empty root was made by this applier, so the writers know
        # it: a symlink can go to them. Elsewhere (`docker cp`) a symlink may replace
        # one that later entries' paths go through, and must be there before them.
        self._links_to_writers = fresh
        self._umask = _umask()
        self._ids = (os.geteuid(), os.getegid())
        self._workers = workers
        self._writers: Writers | None = None
        self.size = 0

    def _owner_of(self, m: tarfile.TarInfo) -> tuple[int, int]:
        if self._owner is None:
            return m.uid, m.gid
        if callable(self._owner):
            return self._owner(m.uid, m.gid)
        return self._owner

    def __enter__(self) -> _Applier:
        self._root_fd = os.open(self._root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dirs["."] = self._root_fd
        self._note_dir(self._root_fd)
        if self._fresh and _has_default_acl(self._root_fd):
            # Inherited from a parent of the layer's directory: new entries take the
            # ACL's modes there, not the ones they are created with.
            self._fresh = False
        if self._workers:
            self._writers = Writers(self._workers)
        return self

    def __exit__(self, *exc: object) -> None:
        # The workers use the cached descriptors: they stop before those close.
        if self._writers is not None:
            self._writers.close()
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        self._ino.clear()

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

    def _key(self, dfd: int, name: str) -> tuple[int, str]:
        return (self._ino[dfd], name)

    # -- directory resolution ----------------------------------------------------------

    def _dir_fd(self, rel: str, depth: int = 0) -> int:
        """An O_PATH descriptor of directory `rel`, resolved inside the root and created
        (like mkdir -p, through dangling symlinks too, as Docker's chroot would) if missing."""
        fd = self._dirs.get(rel)
        if fd is not None:
            return fd
        if depth > 40:
            raise InvalidParameter(f"invalid layer tar: too many levels of symbolic links: {rel!r}")
        try:
            fd = self._open_dir(rel)
        except FileNotFoundError:
            parent, name = posixpath.split(rel)
            parent = parent or "."
            pfd = self._dir_fd(parent, depth + 1)
            try:
                os.mkdir(name, 0o755, dir_fd=pfd)
                if self._writers is not None:
                    self._writers.mark(self._key(pfd, name))
            except FileExistsError:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise
                target = os.readlink(name, dir_fd=pfd)
                base = "/" if target.startswith("/") else "/" + parent
                inner = posixpath.normpath(posixpath.join(base, target)).lstrip("/") or "."
                tfd = self._dir_fd(inner, depth + 1)
                del tfd  # cached; only its creation mattered
            fd = _openat2_dir(self._root_fd, rel)
        except NotADirectoryError as exc:
            raise InvalidParameter(f"invalid layer tar: parent {rel!r} is not a directory") from exc
        if len(self._dirs) > 256:
            self._forget()
        self._dirs[rel] = fd
        if self._writers is not None:
            self._note_dir(fd)
        return fd

    def _note_dir(self, fd: int) -> None:
        st = os.fstat(fd)
        self._ino[fd] = st.st_ino
        self._inherits[fd] = self._passes_on(st.st_mode, st.st_gid)

    def _passes_on(self, mode: int, gid: int) -> bool:
        return bool(mode & stat.S_ISGID) or gid != self._ids[1]

    def _owner_holds(self, dfd: int, uid: int, gid: int) -> bool:
        """A new entry under `dfd` is owned by uid:gid already (pierd's own ids, and
        no directory to give it another group): no chown."""
        return (uid, gid) == self._ids and not self._inherits.get(dfd, True)

    def _mode_holds(self, dfd: int, mode: int) -> bool:
        """A new entry under `dfd` created with `mode` has it (no chmod): no special
        bits, none the umask takes, no default ACL or set-group-ID directory above."""
        return (
            self._fresh
            and not mode & 0o7000
            and not mode & self._umask
            and not self._inherits.get(dfd, True)
        )

    def _open_dir(self, rel: str) -> int:
        try:
            return _openat2_dir(self._root_fd, rel)
        except FileNotFoundError:
            if self._writers is None:
                raise
        # Missing, or a file a worker has not created yet (which must fail the entry,
        # as it would have in order): look again once they are done.
        self.settle()
        return _openat2_dir(self._root_fd, rel)

    def _forget(self, keep: int = -1) -> None:
        """Drop cached parents (after a directory was replaced, or to bound the cache);
        `keep` is a descriptor the caller still uses (the removed directory's parent)."""
        self.settle()
        for rel, fd in list(self._dirs.items()):
            if rel != "." and fd != keep:
                os.close(fd)
                del self._dirs[rel]
                self._ino.pop(fd, None)
                self._inherits.pop(fd, None)

    def _remove(self, name: str, dfd: int) -> None:
        self.settle()
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            _rmtree_at(dfd, name)
            self._forget(keep=dfd)
        else:
            os.unlink(name, dir_fd=dfd)

    # -- entries -----------------------------------------------------------------------

    def apply(self, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        rel = _clean(m.name)
        if rel == ".":
            if m.isdir():
                self._meta_path(".", self._root_fd, m, is_dir=True)
            return
        parent, name = posixpath.split(rel)
        parent = parent or "."
        dfd = self._dir_fd(parent)
        if self._writers is not None:
            if self._handed_off(name, dfd, m, tf):
                return
            self._writers.mark(self._key(dfd, name))
        self._apply_here(name, dfd, rel, m, tf)

    def _handed_off(self, name: str, dfd: int, m: tarfile.TarInfo, tf: tarfile.TarFile) -> bool:
        """Give a small new file or a symlink to the workers; otherwise settle them
        when the entry may touch what they write. True when the entry was handed off."""
        assert self._writers is not None
        key = self._key(dfd, name)
        special = name.startswith(WHITEOUT_PREFIX) or m.islnk()
        if special or self._writers.seen(key):
            self.settle()
            return False
        link = m.issym() and self._links_to_writers
        if not (m.isfile() or link) or m.sparse is not None or m.size > SMALL_FILE:
            return False
        size = 0 if link else m.size
        self._count(size, m)
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
            chown=not self._owner_holds(dfd, uid, gid),
            chmod=not self._mode_holds(dfd, mode),
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
                os.setxattr(_proc(dfd), "trusted.overlay.opaque", b"y")
            elif not name.startswith(WHITEOUT_META_PREFIX):
                target = name[len(WHITEOUT_PREFIX) :]
                if target in ("", ".", ".."):
                    raise InvalidParameter(f"invalid layer tar: bad whiteout {m.name!r}")
                self._remove(target, dfd)
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=dfd)
                if self._writers is not None:
                    self._writers.mark(self._key(dfd, target))
            # Other .wh..wh. entries are aufs bookkeeping: skipped, as Docker does.
            return

        if m.isdir():
            mode = m.mode & 0o7777
            new = self._mode_holds(dfd, mode)
            try:
                os.mkdir(name, mode if new else 0o700, dir_fd=dfd)
            except FileExistsError:
                new = False
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=dfd)
                    os.mkdir(name, 0o700, dir_fd=dfd)
            self._meta_path(name, dfd, m, is_dir=True, new=new)
            cached = self._dirs.get(rel)
            if cached is not None:  # its mode and group may have changed: so may its defaults
                self._inherits[cached] = self._passes_on(mode, self._owner_of(m)[1])
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
                self._sparse(fd, m, tf)
            elif m.size:
                self._dense(fd, m, tf)
            self.size += m.size
            os.fchown(fd, *self._owner_of(m))
            os.fchmod(fd, m.mode & 0o7777)
            for key, value in _xattrs(m):
                os.setxattr(fd, key, value)
            ns = int(m.mtime * 1e9)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)

    def _count(self, size: int, m: tarfile.TarInfo) -> None:
        if self._budget is not None:
            self._budget.spend(size, m.name)

    def _dense(self, fd: int, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        """A plain entry, its zero runs left as holes: a layer Pier made of a sparse
        file (tar's plain format has no holes) must not become gigabytes on disk, and
        only what is written counts against the budget."""
        src = tf.extractfile(m)
        assert src is not None
        offset = 0
        while block := src.read(_CHUNK):
            if _HOLE not in block:  # most data: one write
                self._write_at(fd, memoryview(block), offset, m)
            elif block.count(0) != len(block):
                # Pieces of the block, so that a few bytes amid zeros allocate little.
                view = memoryview(block)
                for start in range(0, len(view), _HOLE_GRAIN):
                    piece = view[start : start + _HOLE_GRAIN]
                    if block.count(0, start, start + len(piece)) != len(piece):
                        self._write_at(fd, piece, offset + start, m)
            offset += len(block)
        os.ftruncate(fd, offset)

    def _write_at(self, fd: int, data: memoryview, offset: int, m: tarfile.TarInfo) -> None:
        self._count(len(data), m)
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], offset + done)

    def _sparse(self, fd: int, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        """A sparse entry keeps its holes: only its data segments are written."""
        reader = tf.extractfile(m)
        assert reader is not None and m.sparse is not None
        # The buffered reader refuses to seek on a stream; the raw one under it only
        # moves its position, and reads holes as zeros without touching the stream.
        src = cast(Any, reader).raw
        # typeshed says int; tarfile keeps the (offset, size) map of the data here.
        segments = cast(list[tuple[int, int]], m.sparse)
        for offset, size in segments:
            self._count(size, m)
            src.seek(offset)
            done = 0
            while done < size:
                block = src.read(min(_CHUNK, size - done))
                if not block:
                    raise InvalidParameter(f"invalid layer tar: {m.name!r} is truncated")
                os.pwrite(fd, block, offset + done)
                done += len(block)
        os.ftruncate(fd, m.size)

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
        tfd = self._dir_fd(tparent or ".")
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
        if not (new and self._owner_holds(dfd, uid, gid)):
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
        if not (new or m.issym()):
            os.chmod(name, m.mode & 0o7777, dir_fd=dfd)
        xattrs = _xattrs(m)
        if xattrs:
            if any(key == "system.posix_acl_default" for key, _ in xattrs):
                self._fresh = False  # its new entries' modes are the ACL's, not ours
            path = _proc(dfd) + "/" + name if name != "." else _proc(dfd)
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
                fd = _openat2_dir(self._root_fd, rel)
            except OSError:
                continue  # replaced or removed by a later entry
            try:
                os.utime(_proc(fd), ns=(ns, ns))
            finally:
                os.close(fd)


def _has_default_acl(fd: int) -> bool:
    try:
        os.getxattr(_proc(fd), "system.posix_acl_default")
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            return False
        return True  # unknown: take creation's modes as not holding
    return True


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for a moment,
    for every thread)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: no mode is taken as holding


def _proc(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    if not m.pax_headers:
        return []
    out = []
    for key, value in m.pax_headers.items():
        if key.startswith(_XATTR_PREFIX):
            # tarfile decodes pax values as UTF-8 with surrogateescape; undo it for the raw bytes.
            out.append((key[len(_XATTR_PREFIX) :], value.encode("utf-8", "surrogateescape")))
    return out


def _rmtree_at(dfd: int, name: str) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                _rmtree_at(fd, entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)
