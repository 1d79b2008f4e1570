"""The applier's parent directories: resolved inside the root once, their O_PATH
descriptors cached by path, with what creation gives a new entry in each.

An entry created with its own mode and pierd's ids needs no chmod or chown afterwards
unless its directory passes something on (a set-group-ID bit, another group on a
`grpid` mount, a default ACL) or the umask takes bits away: the applier asks here."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable

from pier.errors import InvalidParameter
from pier.images.confine import openat2_dir, proc
from pier.images.writers import Writers

_CACHED = 256  # parents kept open at most (descriptors)


class Parents:
    def __init__(
        self, root_fd: int, *, fresh: bool, writers: Writers | None, settle: Callable[[], None]
    ) -> None:
        self.root_fd = root_fd
        self._writers = writers
        # Waits for the writers: a path missing now may be a name a worker still makes.
        self._settle = settle
        self._dirs: dict[str, int] = {".": root_fd}  # parent path (relative) -> O_PATH fd
        self._ino: dict[int, int] = {}  # cached directory fd -> its inode (names' identity)
        # Cached directory fd -> whether its new entries may not take pierd's group and
        # their own mode: it is set-group-ID (they take its group, new directories its
        # bit), or its group is another (a `grpid` mount gives them the directory's).
        self._inherits: dict[int, bool] = {}
        self._umask = _umask()
        self.ids = (os.geteuid(), os.getegid())
        # A layer's own root is empty (no default ACL above its entries): there a new
        # entry created with its mode keeps it unless the umask takes bits away. Inherited
        # from a parent of the layer's directory, an ACL gives new entries its modes.
        self.fresh = fresh and not _has_default_acl(root_fd)
        self._note(root_fd)

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        self._ino.clear()

    def key(self, dfd: int, name: str) -> tuple[int, str]:
        """The identity of `name` under a cached directory, as the writers know names."""
        return (self._ino[dfd], name)

    def fd(self, rel: str, depth: int = 0) -> int:
        """An O_PATH descriptor of directory `rel`, resolved inside the root and created
        (like mkdir -p, through dangling symlinks too, as Docker's chroot would) if missing."""
        fd = self._dirs.get(rel)
        if fd is not None:
            return fd
        if depth > 40:
            raise InvalidParameter(f"invalid layer tar: too many levels of symbolic links: {rel!r}")
        try:
            fd = self._open(rel)
        except FileNotFoundError:
            parent, name = posixpath.split(rel)
            parent = parent or "."
            pfd = self.fd(parent, depth + 1)
            try:
                os.mkdir(name, 0o755, dir_fd=pfd)
                if self._writers is not None:
                    self._writers.mark(self.key(pfd, name))
            except FileExistsError:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise
                target = os.readlink(name, dir_fd=pfd)
                base = "/" if target.startswith("/") else "/" + parent
                inner = posixpath.normpath(posixpath.join(base, target)).lstrip("/") or "."
                tfd = self.fd(inner, depth + 1)
                del tfd  # cached; only its creation mattered
            fd = openat2_dir(self.root_fd, rel)
        except NotADirectoryError as exc:
            raise InvalidParameter(f"invalid layer tar: parent {rel!r} is not a directory") from exc
        if len(self._dirs) > _CACHED:
            self.forget()
        self._dirs[rel] = fd
        if self._writers is not None:
            self._note(fd)
        return fd

    def changed(self, rel: str, mode: int, gid: int) -> None:
        """Directory `rel` was given `mode` and group `gid`: so may its defaults change."""
        cached = self._dirs.get(rel)
        if cached is not None:
            self._inherits[cached] = self._passes_on(mode, gid)

    def owner_holds(self, dfd: int, uid: int, gid: int) -> bool:
        """A new entry under `dfd` is owned by uid:gid already (pierd's own ids, and
        no directory to give it another group): no chown."""
        return (uid, gid) == self.ids and not self._inherits.get(dfd, True)

    def mode_holds(self, dfd: int, mode: int) -> bool:
        """A new entry under `dfd` created with `mode` has it (no chmod): no special
        bits, none the umask takes, no default ACL or set-group-ID directory above."""
        return (
            self.fresh
            and not mode & 0o7000
            and not mode & self._umask
            and not self._inherits.get(dfd, True)
        )

    def forget(self, keep: int = -1) -> None:
        """Drop cached parents (after a directory was replaced, or to bound the cache);
        `keep` is a descriptor the caller still uses (the removed directory's parent)."""
        self._settle()
        for rel, fd in list(self._dirs.items()):
            if rel != "." and fd != keep:
                os.close(fd)
                del self._dirs[rel]
                self._ino.pop(fd, None)
                self._inherits.pop(fd, None)

    def _open(self, rel: str) -> int:
        try:
            return openat2_dir(self.root_fd, rel)
        except FileNotFoundError:
            if self._writers is None:
                raise
        # Missing, or a file a worker has not created yet (which must fail the entry,
        # as it would have in order): look again once they are done.
        self._settle()
        return openat2_dir(self.root_fd, rel)

    def _note(self, fd: int) -> None:
        st = os.fstat(fd)
        self._ino[fd] = st.st_ino
        self._inherits[fd] = self._passes_on(st.st_mode, st.st_gid)

    def _passes_on(self, mode: int, gid: int) -> bool:
        return bool(mode & stat.S_ISGID) or gid != self.ids[1]


def _has_default_acl(fd: int) -> bool:
    try:
        os.getxattr(proc(fd), "system.posix_acl_default")
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
