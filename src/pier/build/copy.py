"""COPY and ADD: sources found and hashed, then copied into a mounted root file system.

Sources are resolved inside their root (the build context, or a stage's or an
image's file system for `--from`): symlinks on the way are followed *within* that
root, as dockerd's FollowSymlinkInScope does, so nothing outside can be read. The
source hash (`file:<hex>`, `dir:<hex>`, `multi:<hex>`) covers names, modes, link
targets and contents, not times: it goes into the step's cache key, as in dockerd's
history comment `COPY file:... in /dest `.

The copy follows the classic builder: a directory's contents (not the directory) go
into the destination; a file goes to `dest` itself, or into it when `dest` ends in `/`
or is a directory; files become root's unless `--chown` (or `--from`, which keeps
owners); ADD unpacks a local tar archive and downloads a URL.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import re
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from pier.build.context import _extract_one, _open_maybe_compressed
from pier.build.remote import git_clone
from pier.errors import InvalidParameter

_CHUNK = 1 << 20
_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One source: `path` is where it is on the host, `name` how the copy names it."""

    path: Path
    name: str  # the source as written, for the destination's file name
    digest: str  # file:/dir:/url: hash
    is_dir: bool
    decompress: bool = True  # ADD may unpack it (not a download)
    content: bytes | None = None  # a heredoc's data


def in_scope(root: Path, rel: str, *, max_links: int = 255) -> Path:
    """`rel` under `root`, every symlink on the way resolved as if `root` were `/`."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > max_links:
                raise InvalidParameter(f"too many links resolving {rel}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return Path(root, *done)


def _go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match: `*` and `?` do not cross `/`."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = pattern.find("]", i)
            if j < 0:
                return False
            body = pattern[i:j]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
        elif ch == "\\" and i < len(pattern):
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.fullmatch("".join(out), name) is not None


def file_hash(path: Path, rel: str, digests: Mapping[str, str] | None, owners: bool) -> str:
    st = os.lstat(path)
    h = hashlib.sha256()
    h.update(f"{rel}\0{stat.S_IMODE(st.st_mode):o}\0{stat.S_IFMT(st.st_mode):o}\0".encode())
    if owners:
        h.update(f"{st.st_uid}:{st.st_gid}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode())
    elif stat.S_ISREG(st.st_mode):
        known = digests.get(rel) if digests is not None else None
        h.update((known or _content_digest(path)).encode())
    return h.hexdigest()


def _content_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def dir_hash(path: Path, rel: str, digests: Mapping[str, str] | None, owners: bool) -> str:
    parts = [file_hash(path, rel, digests, owners)]
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        base = os.path.relpath(dirpath, path)
        for name in sorted(dirnames + filenames):
            sub = name if base == "." else f"{base}/{name}"
            full = Path(dirpath, name)
            parts.append(
                sub + ":" + file_hash(full, f"{rel}/{sub}" if rel else sub, digests, owners)
            )
    return hashlib.sha256(",".join(parts).encode()).hexdigest()


def sources(
    root: Path,
    patterns: Sequence[str],
    *,
    digests: Mapping[str, str] | None,
    owners: bool,
    command: str,
) -> list[Item]:
    """The sources of a COPY/ADD in `root` (the context or an image's file system)."""
    items: list[Item] = []
    for pattern in patterns:
        orig = pattern.lstrip("/")
        orig = orig[2:] if orig.startswith("./") else orig
        if _WILDCARD.search(orig):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                base = os.path.relpath(dirpath, root)
                for name in sorted(dirnames + filenames):
                    rel = name if base == "." else f"{base}/{name}"
                    if _go_match(orig, rel):
                        items.append(_item(root, rel, digests, owners, command))
            continue
        items.append(_item(root, orig, digests, owners, command))
    if not items:
        raise InvalidParameter("no source files were specified")
    return items


def _item(root: Path, rel: str, digests: Mapping[str, str] | None, owners: bool, cmd: str) -> Item:
    path = in_scope(root, rel)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidParameter(
            f"{cmd} failed: file not found in build context or excluded by .dockerignore: "
            f"stat {rel or '.'}: file does not exist"
        ) from None
    clean = os.path.relpath(path, root)
    clean = "" if clean == "." else clean
    if stat.S_ISDIR(st.st_mode):
        digest = "dir:" + dir_hash(path, clean, digests, owners)
        return Item(path=path, name=rel, digest=digest, is_dir=True)
    digest = "file:" + file_hash(path, clean, digests, owners)
    return Item(path=path, name=rel, digest=digest, is_dir=False)


def heredoc_item(name: str, data: bytes) -> Item:
    return Item(
        path=Path("/dev/null"),
        name=name,
        digest="file:" + hashlib.sha256(name.encode() + b"\0" + data).hexdigest(),
        is_dir=False,
        decompress=False,
        content=data,
    )


def download(url: str, workdir: Path, checksum: str) -> Item:
    """ADD <url>: the file, named after the URL's path, mode 0600, mtime from
    Last-Modified (as dockerd)."""
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "__unnamed__"
    target = workdir / f"download-{len(list(workdir.iterdir()))}"
    target.mkdir(parents=True)
    path = target / name
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as out:
            while block := resp.read(_CHUNK):
                h.update(block)
                out.write(block)
            modified = resp.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        raise InvalidParameter(f"failed to GET {url} with status {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InvalidParameter(f'Get "{url}": {reason}') from None
    if checksum:
        algo, _, expected = checksum.partition(":")
        if algo != "sha256" or not expected:
            raise InvalidParameter(f"unsupported digest format: {checksum}")
        if expected != h.hexdigest():
            raise InvalidParameter(f"digest mismatch {checksum}: sha256:{h.hexdigest()}")
    os.chmod(path, 0o600)
    if modified:
        with contextlib.suppress(ValueError, TypeError):
            when = parsedate_to_datetime(modified).timestamp()
            os.utime(path, (when, when))
    return Item(
        path=path,
        name=name,
        digest="file:" + hashlib.sha256(f"{name}\0{h.hexdigest()}".encode()).hexdigest(),
        is_dir=False,
        decompress=False,
    )


def git_checkout(url: str, workdir: Path, *, keep_git: bool) -> Item:
    """ADD <git URL> as BuildKit: the repository's tree at the ref (`#ref:subdir`),
    without `.git` unless `--keep-git-dir`, copied as a directory's contents are. Its
    cache digest is the commit's (with the subdirectory and the .git choice), as
    BuildKit keys a git source: a moved branch rebuilds the step, a clone's own files
    in `.git` do not."""
    target = workdir / f"git-{len(list(workdir.iterdir()))}"
    commit = git_clone(url, target, keep_git=keep_git, what=f"failed to fetch {url}")
    subdir = url.partition("#")[2].partition(":")[2]
    key = f"{commit}\0{subdir}\0{keep_git}"
    digest = "git:" + hashlib.sha256(key.encode()).hexdigest()
    return Item(path=target, name=".", digest=digest, is_dir=True, decompress=False)


def source_digest(items: Sequence[Item]) -> str:
    if len(items) == 1:
        return items[0].digest
    joined = ",".join(i.digest for i in items)
    return "multi:" + hashlib.sha256(joined.encode()).hexdigest()


# -- the copy ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Ownership:
    uid: int | None  # None: keep the source's (COPY --from)
    gid: int | None
    chmod: int | None = None
    # --exclude: whether a path under a copied directory (relative to it) is left out
    skip: Callable[[str], bool] | None = None


def copy_items(
    rootfs: Path, dest: str, items: Sequence[Item], own: Ownership, *, add: bool
) -> None:
    """Copy `items` to `dest` (absolute, in the container) inside `rootfs`."""
    if len(items) > 1 and not dest.endswith("/"):
        cmd = "ADD" if add else "COPY"
        raise InvalidParameter(
            f"When using {cmd} with more than one source file, the destination must be a "
            "directory and end with a /"
        )
    for item in items:
        target = in_scope(rootfs, dest)
        if item.is_dir:
            existed = target.is_dir()
            _mkdirs(rootfs, target, own)
            _copy_tree(item.path, target, own, "")
            if not existed:
                _own(target, os.stat(item.path), own)
            continue
        if add and item.decompress and item.content is None and _is_archive(item.path):
            _mkdirs(rootfs, target, own)
            _untar(item.path, target)
            continue
        if dest.endswith("/") or target.is_dir():
            target = in_scope(rootfs, posixpath.join(dest, posixpath.basename(item.name)))
        _mkdirs(rootfs, target.parent, own)
        if item.content is not None:
            _write_new(target, item.content, own)
        else:
            _copy_entry(item.path, target, own, follow=True)


def _mkdirs(rootfs: Path, path: Path, own: Ownership) -> None:
    missing: list[Path] = []
    p = path
    while not p.exists() and p != rootfs:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
        os.lchown(d, own.uid or 0, own.gid or 0)


def _own(path: Path, st: os.stat_result, own: Ownership) -> None:
    uid = st.st_uid if own.uid is None else own.uid
    gid = st.st_gid if own.gid is None else own.gid
    os.lchown(path, uid, gid)
    if own.chmod is not None and not stat.S_ISLNK(st.st_mode):
        os.chmod(path, own.chmod)


def _copy_tree(src: Path, dst: Path, own: Ownership, rel: str) -> None:
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        sub = f"{rel}/{entry.name}" if rel else entry.name
        if own.skip is not None and own.skip(sub):
            continue
        target = dst / entry.name
        _copy_entry(Path(entry.path), target, own, follow=False)
        if entry.is_dir(follow_symlinks=False):
            _copy_tree(Path(entry.path), target, own, sub)
            st = os.lstat(entry.path)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_entry(src: Path, dst: Path, own: Ownership, *, follow: bool) -> None:
    st = os.stat(src) if follow else os.lstat(src)
    if os.path.lexists(dst) and not (stat.S_ISDIR(st.st_mode) and dst.is_dir()):
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        else:
            dst.unlink()
    if stat.S_ISDIR(st.st_mode):
        dst.mkdir(exist_ok=True)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(st.st_mode):
        with open(src, "rb") as fin, open(dst, "xb") as fout:
            size = st.st_size
            offset = 0
            if st.st_blocks * 512 < size:
                _copy_sparse(fin.fileno(), fout.fileno(), size)
                offset = size
            while offset < size:
                sent = os.sendfile(fout.fileno(), fin.fileno(), offset, min(size - offset, 1 << 30))
                if sent == 0:
                    break
                offset += sent
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    else:
        return  # devices, fifos and sockets are not copied
    _own(dst, st, own)
    if not stat.S_ISDIR(st.st_mode):
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_sparse(fin: int, fout: int, size: int) -> None:
    """Copy only the data segments: a sparse file in a context (a 2 GiB file of 13
    bytes) must not become gigabytes of zeros in the layer."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fin, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole to the end
                break
            raise
        end = os.lseek(fin, start, os.SEEK_HOLE)
        while start < end:
            try:
                sent = os.copy_file_range(fin, fout, end - start, start, start)
            except OSError as exc:
                # Between file systems of different types (a context in memory, a
                # layer on disk) the kernel refuses: the bytes go through here.
                if exc.errno != errno.EXDEV:
                    raise
                sent = os.pwrite(fout, os.pread(fin, min(end - start, 1 << 20), start), start)
            if sent == 0:
                break
            start += sent
        offset = end
    os.ftruncate(fout, size)


def _write_new(target: Path, data: bytes, own: Ownership) -> None:
    if os.path.lexists(target):
        target.unlink()
    target.write_bytes(data)
    os.chmod(target, own.chmod if own.chmod is not None else 0o644)
    os.lchown(target, own.uid or 0, own.gid or 0)


def _is_archive(path: Path) -> bool:
    try:
        with open(path, "rb") as raw:
            stream = _open_maybe_compressed(raw)
            with tarfile.open(fileobj=stream, mode="r|") as tf:
                return tf.next() is not None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False
    except Exception:
        return False


def _untar(path: Path, dest: Path) -> None:
    """ADD of a local archive: unpacked with owners and modes kept, confined to `dest`."""
    with open(path, "rb") as raw:
        stream = _open_maybe_compressed(raw)
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                _extract_one(tf, m, dest, {})
                rel = posixpath.normpath(m.name.lstrip("/"))
                if rel not in (".", ""):
                    with contextlib.suppress(OSError):
                        os.lchown(dest / rel, m.uid, m.gid)


def now() -> float:
    return time.time()
