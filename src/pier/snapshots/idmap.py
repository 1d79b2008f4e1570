"""Identity mappings and idmapped mounts (Linux 5.12+, overlayfs on idmapped layers 5.19+).

A user-namespaced container's root is an unprivileged host uid, so the image's files,
owned by host root on disk, would look like `nobody`'s to it. An idmapped mount shows
a directory's files shifted by the container's mapping without touching the disk:
each layer of a container's overlay gets a detached idmapped copy of its mount
(open_tree + mount_setattr, never attached anywhere, named /proc/self/fd/<n> in the
overlay's options), so the only mount there is is the overlay, as without a user
namespace, and no crash can leave a layer mounted elsewhere.

The upper directory (with its work directory) is idmapped too, so what a remapped
container writes is stored with its own ids and a commit, a build step or a diff is
the same layer as without a user namespace. overlayfs makes its work files and
whiteouts as the mounter (host root), so the upper's mapping also gives host root an
id, the first past the container's range (65536): without one, the kernel mounts the
overlay read-only. Those files are never seen by the container.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pier.errors import SystemFailure
from pier.snapshots.mount import mount_one, unmount
from pier.snapshots.types import Mount

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_OPEN_TREE_CLONE = 1
_OPEN_TREE_CLOEXEC = os.O_CLOEXEC
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x00000001
_MOUNT_ATTR_IDMAP = 0x00100000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4


@dataclass(frozen=True, slots=True, kw_only=True)
class IdRange:
    """`size` ids from `container_id` inside, `host_id` outside (a uid_map line)."""

    container_id: int
    host_id: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class IdMapping:
    """A container's uid and gid maps (moby's IdentityMapping)."""

    uids: tuple[IdRange, ...]
    gids: tuple[IdRange, ...]

    def root_pair(self) -> tuple[int, int]:
        """The host uid and gid of the container's root."""
        return self.host_uid(0), self.host_gid(0)

    def host_uid(self, uid: int) -> int:
        return _to_host(self.uids, uid)

    def host_gid(self, gid: int) -> int:
        return _to_host(self.gids, gid)


def _to_host(ranges: Sequence[IdRange], cid: int) -> int:
    for r in ranges:
        if r.container_id <= cid < r.container_id + r.size:
            return r.host_id + cid - r.container_id
    raise SystemFailure(f"id {cid} is outside the container's mapping")


def map_text(ranges: Sequence[IdRange]) -> str:
    return "".join(f"{r.container_id} {r.host_id} {r.size}\n" for r in ranges)


class _Calls:
    def __init__(self) -> None:
        lib = ctypes.CDLL(None, use_errno=True)
        self.syscall = lib.syscall
        self.syscall.restype = ctypes.c_long


@functools.cache
def _calls() -> _Calls:
    return _Calls()


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


def _check(rc: int, what: str, path: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise SystemFailure(f"idmapped mount of {path}: {what}: {os.strerror(err)}")
    return rc


@contextlib.contextmanager
def child_in_userns(
    *, mapping: IdMapping | None = None, join: str | None = None, net: bool = False
) -> Iterator[int]:
    """The pid of a short-lived child in a new user namespace with `mapping`, or in the
    existing one at `join`; with `net`, in a network namespace of its own made there
    (so owned by that user namespace). Made with `unshare`/`nsenter`: pierd has
    threads, so it cannot fork and unshare itself. The child is killed at the end."""
    # A bounded sleep: should pierd be killed meanwhile, the child does not outlive
    # it by more than a minute.
    sleep = ["sleep", "60"]
    if join is not None:
        argv = ["nsenter", f"--user={join}", "unshare", *(["--net"] if net else []), *sleep]
    else:
        argv = ["unshare", "--user", *(["--net"] if net else []), *sleep]
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    kind = "net" if net else "user"
    try:
        own = os.readlink(f"/proc/self/ns/{kind}")
        deadline = time.monotonic() + 10
        # Until the child has execed sleep, it may still be in our namespaces.
        while not _in_own_namespace(child.pid, kind, own):
            if child.poll() is not None or time.monotonic() > deadline:
                err = child.stderr.read().decode(errors="replace") if child.stderr else ""
                raise SystemFailure(f"could not make a user namespace: {err.strip()}")
            time.sleep(0.001)
        if mapping is not None:
            with open(f"/proc/{child.pid}/uid_map", "w") as f:
                f.write(map_text(mapping.uids))
            with open(f"/proc/{child.pid}/gid_map", "w") as f:
                f.write(map_text(mapping.gids))
        yield child.pid
    except OSError as exc:
        raise SystemFailure(f"could not make a user namespace: {exc}") from exc
    finally:
        child.kill()
        child.wait()
        if child.stderr is not None:
            child.stderr.close()


_SLEEP = os.path.realpath(shutil.which("sleep") or "/bin/sleep")


def _in_own_namespace(pid: int, kind: str, own: str) -> bool:
    """Whether the child at `pid` runs sleep in a namespace of `kind` other than ours."""
    try:
        return (
            os.readlink(f"/proc/{pid}/ns/{kind}") != own
            and os.readlink(f"/proc/{pid}/exe") == _SLEEP
        )
    except OSError:
        return False  # it exited (unshare or nsenter failed): its stderr says why


def open_userns(mapping: IdMapping) -> int:
    """A descriptor of a new user namespace with `mapping` (it lives while the
    descriptor is open)."""
    with child_in_userns(mapping=mapping) as pid:
        try:
            return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise SystemFailure(f"could not make a user namespace: {exc}") from exc


class MappedNamespaces:
    """User namespaces with a given mapping, made once and kept open: an idmapped
    mount takes a descriptor of one, and making one costs a child process (about 15
    ms on a loaded machine), at every start otherwise. Closed with its owner."""

    def __init__(self) -> None:
        self._fds: dict[IdMapping, int] = {}
        self._lock = threading.Lock()

    def fd(self, mapping: IdMapping) -> int:
        with self._lock:
            if mapping not in self._fds:
                self._fds[mapping] = open_userns(mapping)
            return self._fds[mapping]

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


_NS_GET_USERNS = 0xB701


def owner_of(namespace: str) -> int:
    """A descriptor of the user namespace that owns the namespace at `namespace`."""
    fd = os.open(namespace, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, _NS_GET_USERNS)
    except OSError as exc:
        raise SystemFailure(f"the owner of {namespace}: {exc}") from exc
    finally:
        os.close(fd)


def with_mounter(mapping: IdMapping) -> IdMapping:
    """`mapping` plus host root at the first container id past it (the upper's)."""
    uid = max(r.container_id + r.size for r in mapping.uids)
    gid = max(r.container_id + r.size for r in mapping.gids)
    return IdMapping(
        uids=(*mapping.uids, IdRange(container_id=uid, host_id=0, size=1)),
        gids=(*mapping.gids, IdRange(container_id=gid, host_id=0, size=1)),
    )


def detached_idmapped(source: str, userns_fd: int, *, read_only: bool = True) -> int:
    """A descriptor of a detached copy of the mount tree at `source` (recursively),
    its ids shifted by the namespace's mapping; read-only unless asked. It is
    attached nowhere: it is reached as /proc/self/fd/<fd> and goes with the last
    reference to it."""
    calls = _calls()
    tree = _check(
        calls.syscall(
            _SYS_OPEN_TREE,
            _AT_FDCWD,
            source.encode(),
            _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | _AT_RECURSIVE,
        ),
        "open_tree",
        source,
    )
    try:
        flags = _MOUNT_ATTR_IDMAP | (_MOUNT_ATTR_RDONLY if read_only else 0)
        attr = _MountAttr(flags, 0, 0, userns_fd)
        _check(
            calls.syscall(
                _SYS_MOUNT_SETATTR,
                tree,
                b"",
                _AT_EMPTY_PATH | _AT_RECURSIVE,
                ctypes.byref(attr),
                ctypes.sizeof(attr),
            ),
            "mount_setattr",
            source,
        )
    except BaseException:
        os.close(tree)
        raise
    return tree


def bind_idmapped(source: str, target: Path, userns_fd: int, *, read_only: bool = True) -> None:
    """Mount `source` on `target`, its ids shifted by the namespace's mapping."""
    tree = detached_idmapped(source, userns_fd, read_only=read_only)
    try:
        _check(
            _calls().syscall(
                _SYS_MOVE_MOUNT,
                tree,
                b"",
                _AT_FDCWD,
                str(target).encode(),
                _MOVE_MOUNT_F_EMPTY_PATH,
            ),
            "move_mount",
            source,
        )
    finally:
        os.close(tree)


@contextlib.contextmanager
def idmapped_layers(mount: Mount, userns_fd: int, upper_fd: int) -> Iterator[Mount]:
    """`mount` (an overlay) with its lower directories replaced by detached idmapped
    copies of them (read-only, `userns_fd`'s mapping), and its upper and work
    directories by one of their common parent (writable, `upper_fd`'s), named through
    /proc/self/fd. The overlay keeps what it needs of them once mounted: nothing but
    the overlay is ever attached, so a crash cannot leave a layer mounted elsewhere."""
    options = []
    fds: list[int] = []
    parents: dict[str, int] = {}
    try:
        for opt in mount.options:
            if opt.startswith("lowerdir="):
                lowers = []
                for lower in opt[len("lowerdir=") :].split(":"):
                    fds.append(detached_idmapped(lower, userns_fd))
                    lowers.append(f"/proc/self/fd/{fds[-1]}")
                opt = "lowerdir=" + ":".join(lowers)
            elif opt.startswith(("upperdir=", "workdir=")):
                key, _, path = opt.partition("=")
                parent = os.path.dirname(path)
                if parent not in parents:
                    fds.append(detached_idmapped(parent, upper_fd, read_only=False))
                    parents[parent] = fds[-1]
                opt = f"{key}=/proc/self/fd/{parents[parent]}/{os.path.basename(path)}"
            options.append(opt)
        yield Mount(type=mount.type, source=mount.source, options=tuple(options))
    finally:
        for fd in fds:
            os.close(fd)


def mount_rootfs_idmapped(
    mounts: Sequence[Mount],
    target: Path,
    *,
    namespaces: MappedNamespaces | None,
    mapping: IdMapping,
) -> None:
    """Mount a container's root file system for a remapped container: every layer
    idmapped (through `namespaces`); without idmapped mounts (None), shifted copies of the lower
    layers and an upper directory that keeps host ids, its root owned by the
    container's root, as dockerd's."""
    root = mapping.root_pair()
    if len(mounts) != 1:
        raise SystemFailure(f"a root file system of {len(mounts)} mounts cannot be idmapped")
    (m,) = mounts
    if namespaces is None:
        if m.type == "overlay":
            for opt in m.options:
                if opt.startswith("upperdir="):
                    os.chown(opt[len("upperdir=") :], *root)
            mount_one(shifted_layers(m, mapping), target)
        else:  # a single writable directory: no layer below it
            os.chown(m.source, *root)
            mount_one(m, target)
        return
    upper_fd = namespaces.fd(with_mounter(mapping))
    if m.type == "overlay":
        with idmapped_layers(m, namespaces.fd(mapping), upper_fd) as shifted:
            mount_one(shifted, target)
    else:
        bind_idmapped(m.source, target, upper_fd, read_only=False)


# -- without idmapped mounts: a shifted copy of each layer ------------------------------


def shifted_copy(layer: Path, mapping: IdMapping) -> Path:
    """A copy of the layer directory `layer` (a snapshot's `fs`) with every owner
    shifted by `mapping`, made once beside it (`fs-<uid>.<gid>`, removed with the
    snapshot) for kernels or file systems without idmapped mounts. Made in a staging
    directory of its own and renamed, so a crash never leaves half a copy in use and
    concurrent starts of one image never meet another's half-made copy (the first
    rename wins; the others drop theirs). A crash's staging directory goes with the
    snapshot."""
    uid, gid = mapping.root_pair()
    done = layer.with_name(f"{layer.name}-{uid}.{gid}")
    if done.is_dir():
        return done
    staging = Path(tempfile.mkdtemp(prefix=f".{done.name}.", dir=layer.parent))
    try:
        tmp = staging / layer.name
        result = subprocess.run(
            ["cp", "-a", "--reflink=auto", "--", str(layer), str(tmp)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemFailure(
                f"copying layer {layer} for a remapped root: {result.stderr.strip()}"
            )
        _shift_owners(tmp, mapping)
        try:
            os.rename(tmp, done)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not done.is_dir():
                raise SystemFailure(f"copying layer {layer} for a remapped root: {exc}") from exc
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(staging)], check=False)
    return done


def _shift_owners(root: Path, mapping: IdMapping) -> None:
    seen: set[int] = set()  # hard links are one inode: shifted once

    def shift(path: str) -> None:
        st = os.lstat(path)
        if st.st_nlink > 1:
            if st.st_ino in seen:
                return
            seen.add(st.st_ino)
        os.lchown(path, mapping.host_uid(st.st_uid), mapping.host_gid(st.st_gid))
        if not os.path.islink(path) and st.st_mode & 0o6000:
            os.chmod(path, st.st_mode & 0o7777)  # chown clears setuid and setgid

    shift(str(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            shift(os.path.join(dirpath, name))


def shifted_layers(mount: Mount, mapping: IdMapping) -> Mount:
    """`mount` (an overlay) on shifted copies of its lower layers."""
    options = []
    for opt in mount.options:
        if opt.startswith("lowerdir="):
            lowers = [str(shifted_copy(Path(p), mapping)) for p in opt[9:].split(":")]
            opt = "lowerdir=" + ":".join(lowers)
        options.append(opt)
    return Mount(type=mount.type, source=mount.source, options=tuple(options))


def idmapped_mounts_work(scratch: Path) -> bool:
    """Whether this kernel and the file system under `scratch` can stack an overlay
    on idmapped layers (Linux 5.19+ with a file system that allows idmapping)."""
    mapping = IdMapping(
        uids=(IdRange(container_id=0, host_id=100000, size=1),),
        gids=(IdRange(container_id=0, host_id=100000, size=1),),
    )
    for name in ("low", "snap/fs", "snap/work", "merged"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    namespaces = MappedNamespaces()
    try:
        options = (
            f"lowerdir={scratch / 'low'}",
            f"upperdir={scratch / 'snap/fs'}",
            f"workdir={scratch / 'snap/work'}",
        )
        overlay = Mount(type="overlay", source="overlay", options=options)
        mount_rootfs_idmapped([overlay], scratch / "merged", namespaces=namespaces, mapping=mapping)
        unmount(scratch / "merged")
        return True
    except SystemFailure:
        return False
    finally:
        namespaces.close()
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(scratch)], check=False)
