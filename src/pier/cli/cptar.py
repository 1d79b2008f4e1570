"""The local side of `pier cp`, as moby/go-archive's copy.go: path splitting, the
rebase of an archive's top entry to the destination's name, the source archive and a
confined extraction (nothing lands outside the destination, owners kept by number)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

# Go's os.FileMode bits in the X-Docker-Container-Path-Stat header
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
_MODE_TYPE = MODE_DIR | MODE_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
_CHUNK = 1 << 20


class CopyError(Exception):
    """A local condition docker's cp reports as a plain error (exit 1)."""


def specifies_current_dir(path: str) -> bool:
    return os.path.basename(path.rstrip("/") if path != "/" else path) == "."


def has_trailing_sep(path: str) -> bool:
    return len(path) > 0 and path.endswith("/")


def asserts_directory(path: str) -> bool:
    return has_trailing_sep(path) or specifies_current_dir(path)


def split_path_dir_entry(path: str) -> tuple[str, str]:
    cleaned = os.path.normpath(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return os.path.dirname(cleaned) or ".", os.path.basename(cleaned) or "/"


def preserve_trailing(cleaned: str, original: str) -> str:
    """archive.PreserveTrailingDotOrSeparator."""
    if specifies_current_dir(original) and not specifies_current_dir(cleaned):
        cleaned += "/."
    if has_trailing_sep(original) and not has_trailing_sep(cleaned):
        cleaned += "/"
    return cleaned


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """archive.GetRebaseName: the resolved path with the original's trailing "/." or
    "/", and the name entries must take when the last component changed."""
    resolved = preserve_trailing(resolved, path)
    rebase = ""
    if _base(path) != _base(resolved):
        rebase = _base(path)
    return resolved, rebase


def _base(path: str) -> str:
    stripped = path.rstrip("/")
    return os.path.basename(stripped) if stripped else "/"


def rebase(name: str, old: str, new: str) -> str:
    """archive.RebaseArchiveEntries for one entry name."""
    if old == new or not new:
        return name
    first, sep, rest = name.partition("/")
    if first == old:
        return new + sep + rest
    return name


def source_info(path: str, follow: bool) -> tuple[str, bool, str]:
    """archive.CopyInfoSourcePath: (resolved path, is a directory, rebase name)."""
    if follow:
        resolved, rebase_to = rebase_name(path, os.path.realpath(path))
    else:
        parent, base = split_path_dir_entry(path)
        resolved = preserve_trailing(os.path.join(os.path.realpath(parent), base), path)
        rebase_to = ""
    try:
        st = os.lstat(resolved)
    except OSError as exc:
        raise CopyError(f"lstat {resolved.rstrip('/')}: {(exc.strerror or '').lower()}") from None
    return resolved, stat.S_ISDIR(st.st_mode), rebase_to


def tar_source(path: str, top: str) -> Iterator[bytes]:
    """A tar of `path` whose top entry is named `top`, streamed from a thread through a
    pipe so that large trees never sit in memory."""
    parent, base = split_path_dir_entry(path)
    rfd, wfd = os.pipe()
    failure: list[BaseException] = []

    def named(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.name = rebase(info.name, base, top)
        info.uname = info.gname = ""
        return info

    def write() -> None:
        try:
            with (
                os.fdopen(wfd, "wb") as out,
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                tar.add(os.path.join(parent, base), arcname=base, filter=named)
        except BaseException as exc:  # reported by the reader
            failure.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        with os.fdopen(rfd, "rb") as src:
            while chunk := src.read(_CHUNK):
                yield chunk
    finally:
        thread.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise CopyError(str(failure[0]))


class ChunkReader(io.RawIOBase):
    """A raw stream over an iterator of byte chunks (wrap it in io.BufferedReader)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._buf:
            self._buf = next(self._chunks, b"")
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def extract(stream: IO[bytes], dest: str, old: str, new: str) -> None:
    """Untar into `dest`, the top entry renamed from `old` to `new`: a member whose
    path (its symlinks followed, as extracted so far) leaves `dest` is an error."""
    if not hasattr(tarfile, "tar_filter"):
        _extract_checked(stream, dest, old, new)
        return

    def confined(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        renamed = member.replace(name=rebase(member.name, old, new), deep=False)
        try:
            checked = tarfile.tar_filter(renamed, path)
        except tarfile.FilterError as exc:
            raise CopyError(str(exc)) from None
        # tar_filter's checks, but as docker keeps the modes (setuid and all)
        return checked.replace(mode=member.mode, deep=False)

    with tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(dest, numeric_owner=True, filter=confined)


def _extract_checked(stream: IO[bytes], dest: str, old: str, new: str) -> None:
    """`extract` for an interpreter without extraction filters (PEP 706 came in 3.11.4;
    Debian 12 has 3.11.2): tar_filter's check of each entry's path, made just before
    the entry is written, in its words."""

    def checked(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        for member in tar:
            member.name = rebase(member.name, old, new).lstrip("/")
            _check_confined(member, dest)
            yield member

    with tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(dest, members=checked(tar), numeric_owner=True)


def _check_confined(member: tarfile.TarInfo, dest: str) -> None:
    """tarfile.tar_filter's refusal: an entry whose path (its leading "/" stripped)
    resolves, symlinks followed as extracted so far, outside `dest`. Links themselves
    may point anywhere, as in a docker cp (tar_filter checks links only for data_filter)."""
    root = os.path.realpath(dest)
    target = os.path.realpath(os.path.join(root, member.name))
    if os.path.commonpath([target, root]) != root:
        raise CopyError(
            f"{member.name!r} would be extracted to {target!r}, which is outside the destination"
        )
