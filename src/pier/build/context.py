"""The build context: what `POST /build` sends (a tar, maybe compressed; or a remote
git repository, tarball or Dockerfile URL), unpacked into a private directory.

Entries that would land outside the directory fail the build; symlinks are kept as
they are and resolved inside the context when COPY reads them, so one pointing
outside leads nowhere. `.dockerignore` applies to the context (clients filter too,
but not all of them), and the Dockerfile and `.dockerignore` themselves are dropped
from it when they are listed, as dockerd does. Each regular file's content digest is
taken while it is written, so COPY's cache key costs no second read.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from pier.build.ignore import Matcher, read_patterns
from pier.build.model import BuildRequest
from pier.build.remote import fetch_remote
from pier.errors import InvalidParameter

DEFAULT_DOCKERFILE = "Dockerfile"
_CHUNK = 1 << 20


@dataclass(slots=True, kw_only=True)
class Context:
    root: Path
    dockerfile: str  # its text
    dockerfile_name: str
    digests: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 hex
    has_files: bool = True  # False for a Dockerfile-only context


def _open_maybe_compressed(fh: IO[bytes]) -> IO[bytes]:
    head = fh.read(6)
    fh.seek(0)
    if head[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=fh))
    if head[:3] == b"BZh":
        return cast(IO[bytes], bz2.BZ2File(fh))
    if head == b"\xfd7zXZ\x00":
        return cast(IO[bytes], lzma.LZMAFile(fh))
    return fh


def _clean(name: str) -> str:
    rel = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if rel == ".." or rel.startswith("../"):
        raise InvalidParameter(f'invalid build context: "{name}" is outside of the context')
    return rel


def extract(archive: Path, root: Path, limit: int | None = None) -> dict[str, str]:
    """Unpack the context tar at `archive` into `root`, writing at most `limit` bytes of
    file data (the daemon's `max-unpack-size`; holes do not count); the digests."""
    digests: dict[str, str] = {}
    root.mkdir(parents=True, exist_ok=True)
    with open(archive, "rb") as raw:
        stream = _open_maybe_compressed(raw)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tf:
                unpacker = Unpacker(root, limit)
                for member in _members(tf):
                    unpacker.extract(tf, member, digests)
        except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as exc:
            if isinstance(exc, InvalidParameter):
                raise
            raise InvalidParameter(f"failed to read the build context: {exc}") from exc
    return digests


def _members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's entries. The docker CLI's tar with a Dockerfile from outside the
    context (or stdin) ends right after the last entry's data, without padding or end
    blocks; Go's reader takes that as the end, and so does this one."""
    count = 0
    while True:
        try:
            member = tf.next()
        except tarfile.ReadError as exc:
            if count and "unexpected end of data" in str(exc):
                return
            raise
        if member is None:
            return
        count += 1
        yield member


class Unpacker:
    """Extracts one archive's entries under `root`, confined to it.

    A fully cached rebuild is mostly this (the context is unpacked before the cache is
    asked), so each entry costs few system calls: the directories already resolved
    inside the root are remembered (resolving one costs an lstat per component), and a
    file is created with O_EXCL, the slow path taken only when something is there. A
    symlink entry can change what a remembered path leads to: it forgets them."""

    def __init__(self, root: Path, limit: int | None = None) -> None:
        self._root = root
        self._limit = limit  # file data allowed (None: no bound)
        self._written = 0
        self._base = os.path.realpath(root)
        self._dirs: dict[str, str] = {".": self._base}  # relative dir -> its real path

    def _parent(self, rel: str) -> str:
        parent = posixpath.dirname(rel) or "."
        real = self._dirs.get(parent)
        if real is None:
            path = self._root / parent
            real = str(_inside(self._root, path))
            os.makedirs(real, exist_ok=True)
            # makedirs may have followed nothing new: the path is checked, now it exists.
            self._dirs[parent] = real
        return real

    def extract(self, tf: tarfile.TarFile, m: tarfile.TarInfo, digests: dict[str, str]) -> None:
        rel = _clean(m.name)
        if rel == ".":
            return
        parent = self._parent(rel)
        target = os.path.join(parent, posixpath.basename(rel))
        if m.isfile():
            src = tf.extractfile(m)
            assert src is not None
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(target, flags, 0o600)
            except FileExistsError:
                _make_room(target)
                fd = os.open(target, flags, 0o600)
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                while block := src.read(_CHUNK):
                    h.update(block)
                    if block.count(0) == len(block):
                        # A hole (a sparse entry's, or plain zeros) stays one: a 10 KiB
                        # context declaring a 2 GiB sparse file writes 2 GiB otherwise.
                        out.seek(len(block), os.SEEK_CUR)
                    else:
                        self._spend(len(block), m)
                        out.write(block)
                out.truncate()
                out.flush()
                os.fchmod(fd, m.mode & 0o7777)
                os.utime(fd, (m.mtime, m.mtime))
            digests[rel] = h.hexdigest()
            return
        if m.isdir():
            try:
                os.mkdir(target)
            except FileExistsError:
                if not os.path.isdir(target) or os.path.islink(target):
                    _make_room(target)
                    os.mkdir(target)
            os.chmod(target, m.mode & 0o7777)
            self._dirs[rel] = os.path.join(parent, posixpath.basename(rel))
        elif m.issym():
            _make_room(target)
            os.symlink(m.linkname, target)
            self._dirs = {".": self._base}
        elif m.islnk():
            link = _clean(m.linkname)
            source = _inside(self._root, self._root / link)
            if not source.is_file():
                raise InvalidParameter(
                    f'invalid build context: hard link "{m.name}" to a missing file'
                )
            _make_room(target)
            os.link(source, target)
            if link in digests:
                digests[rel] = digests[link]
        else:
            return  # devices and fifos have no place in a context
        with contextlib.suppress(OSError):
            os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)

    def _spend(self, size: int, m: tarfile.TarInfo) -> None:
        if self._limit is None:
            return
        self._written += size
        if self._written > self._limit:
            raise InvalidParameter(
                f"invalid build context: {m.name!r} takes the context past the daemon's "
                f"max-unpack-size ({self._limit} bytes)"
            )


def _make_room(target: str) -> None:
    """Remove what is at `target` unless it is a directory (an entry met again)."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.islink(target) or not os.path.isdir(target):
            os.unlink(target)


def _extract_one(
    tf: tarfile.TarFile, m: tarfile.TarInfo, root: Path, digests: dict[str, str]
) -> None:
    """One entry on its own (ADD of a local archive)."""
    Unpacker(root).extract(tf, m, digests)


def _inside(root: Path, path: Path) -> Path:
    """`path` with its symlinks resolved; refuses one that leaves `root`."""
    real = Path(os.path.realpath(path))
    base = Path(os.path.realpath(root))
    if real != base and base not in real.parents:
        raise InvalidParameter(
            f'invalid build context: "{path.relative_to(root)}" is outside of the context'
        )
    return real


def locate(root: Path, name: str) -> tuple[str, str]:
    """The Dockerfile's text and name (`dockerfile` is tried when the default is absent)."""
    name = name or DEFAULT_DOCKERFILE
    candidates = [name]
    if name == DEFAULT_DOCKERFILE:
        candidates.append(name.lower())
    for candidate in candidates:
        path = root / _clean(candidate)
        try:
            real = _inside(root, path)
            if real.is_file():
                return real.read_text(errors="replace"), candidate
        except InvalidParameter:
            break
    raise InvalidParameter(f"Cannot locate specified Dockerfile: {name}")


def apply_dockerignore(root: Path, dockerfile_name: str, digests: dict[str, str]) -> None:
    ignore = root / ".dockerignore"
    if not ignore.is_file() or ignore.is_symlink():
        return
    matcher = Matcher(read_patterns(ignore.read_text(errors="replace")))
    for special in (".dockerignore", _clean(dockerfile_name)):
        if matcher.excluded(special):
            with contextlib.suppress(FileNotFoundError):
                (root / special).unlink()
    if not matcher:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in list(dirnames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                if matcher.excluded(rel):
                    os.unlink(full)
                continue
            # A directory stays when an exception may re-include something below it.
            if matcher.excluded(rel) and not matcher.may_include_below(rel):
                shutil.rmtree(full)
                dirnames.remove(name)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if matcher.excluded(rel):
                os.unlink(os.path.join(dirpath, name))
                digests.pop(rel, None)


def digest_tree(root: Path, digests: dict[str, str]) -> None:
    """Content digests of every regular file under `root` (a git checkout)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(full).st_mode):
                h = hashlib.sha256()
                with open(full, "rb") as fh:
                    while block := fh.read(_CHUNK):
                        h.update(block)
                digests[os.path.relpath(full, root)] = h.hexdigest()


def prepare(
    request: BuildRequest,
    archive: Path | None,
    workdir: Path,
    root: Path | None = None,
    *,
    limit: int | None = None,
) -> Context:
    """The build's context unpacked at `root` (default: `workdir/context`), writing at
    most `limit` bytes of file data."""
    root = root or workdir / "context"
    digests: dict[str, str] = {}
    if request.remote:
        fetched, text = fetch_remote(request.remote, workdir)
        if text is not None:
            root.mkdir()
            return Context(
                root=root, dockerfile=text, dockerfile_name=request.dockerfile, has_files=False
            )
        if fetched is None:  # a git checkout, already in place
            digest_tree(root, digests)
        archive = fetched
    if not root.exists():
        if archive is None:
            raise InvalidParameter("missing build context")
        if _looks_like_dockerfile(archive):
            root.mkdir()
            return Context(
                root=root,
                dockerfile=archive.read_text(errors="replace"),
                dockerfile_name=request.dockerfile,
                has_files=False,
            )
        digests = extract(archive, root, limit)
    text, name = locate(root, request.dockerfile)
    apply_dockerignore(root, name, digests)
    return Context(root=root, dockerfile=text, dockerfile_name=name, digests=digests)


def _looks_like_dockerfile(archive: Path) -> bool:
    """`docker build - < Dockerfile` from clients that send the text itself."""
    with open(archive, "rb") as fh:
        head = fh.read(512)
    if not head or head[:2] in (b"\x1f\x8b", b"BZ") or head[:6] == b"\xfd7zXZ\x00":
        return False
    if len(head) == 512 and head[257:262] == b"ustar":
        return False
    try:
        return not tarfile.is_tarfile(archive) and b"\0" not in head
    except OSError:
        return False
