"""`pier cp` (both ways, `-` for a tar on stdin or stdout, `-a`, `-L`) and `pier export`,
as docker/cli's cp.go and export.go."""

from __future__ import annotations

import io
import os
import sys

from pier.cli.flags import BOOL, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CP = Spec(
    min_args=2,
    max_args=2,
    flags=(
        Flag(name="archive", short="a", kind=BOOL,
             help="Archive mode (copy all uid/gid information)"),
        Flag(name="follow-link", short="L", kind=BOOL,
             help="Always follow symbol link in SRC_PATH"),
        Flag(name="quiet", short="q", kind=BOOL,
             help="Suppress progress output during copy. Progress output is automatically "
             "suppressed if no terminal is attached"),
    ),
)  # fmt: skip


def _split(arg: str) -> tuple[str, str]:
    """splitCpArg: an absolute path, or one whose part before ":" starts with ".", is
    local."""
    if arg.startswith("/"):
        return "", arg
    ctr, sep, path = arg.partition(":")
    if not sep or ctr.startswith("."):
        return "", arg
    return ctr, path


def _stat(ctx: Context, container: str, path: str) -> dict[str, Any] | None:
    """HEAD archive: the decoded stat header, None when the path does not exist."""
    import base64
    import json

    from pier.cli.common import container_path
    from pier.client.api import error_message
    from pier.client.errors import APIError

    resp = ctx.client.open("HEAD", container_path(container, "archive"), params={"path": path})
    with resp:
        if resp.status == 404:
            # a missing path (or container: the GET or PUT that follows says which)
            return None
        if not 200 <= resp.status < 300:
            raise APIError(resp.status, error_message(resp.status, resp.read()))
        header = resp.headers.get("x-docker-container-path-stat", "")
    if not header:
        return None
    stat: dict[str, Any] = json.loads(base64.b64decode(header))
    return stat


def cp(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CP, argv)
    source, dest = opts.args
    if not source:
        raise StatusError(1, "source can not be empty")
    if not dest:
        raise StatusError(1, "destination can not be empty")
    quiet = opts["quiet"] if "quiet" in opts.given else not os.isatty(1)
    src_ctr, src_path = _split(source)
    dst_ctr, dst_path = _split(dest)
    from pier.cli.cptar import CopyError

    try:
        if src_ctr and dst_ctr:
            raise StatusError(1, "copying between containers is not supported")
        if src_ctr:
            return _from_container(ctx, src_ctr, src_path, dst_path, opts["follow-link"], quiet)
        if dst_ctr:
            return _to_container(ctx, dst_ctr, src_path, dst_path, opts, quiet)
    except CopyError as exc:
        raise StatusError(1, str(exc)) from None
    raise StatusError(1, "must specify at least one container source")


def _local(path: str) -> str:
    from pier.cli.cptar import preserve_trailing

    return preserve_trailing(os.path.abspath(path), path)


def _check_output(path: str) -> None:
    """command.ValidateOutputPath."""
    import stat

    parent = os.path.dirname(os.path.normpath(path))
    if parent and parent != "." and not os.path.exists(parent):
        raise StatusError(1, f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise StatusError(1, f'invalid output path: "{path}" must be a directory or a regular file')


def _from_container(
    ctx: Context, container: str, src: str, dst: str, follow: bool, quiet: bool
) -> int:
    from pier.cli import cptar
    from pier.cli.common import container_path

    if dst != "-":
        dst = _local(dst)
        _check_output(dst)
    rebase_to = ""
    if follow:
        info = _stat(ctx, container, src)
        if info is not None and info["mode"] & cptar.MODE_SYMLINK:
            target = info.get("linkTarget", "")
            if not target.startswith("/"):
                target = os.path.join(cptar.split_path_dir_entry(src)[0], target)
            src, rebase_to = cptar.rebase_name(src, target)
    resp = ctx.client.request("GET", container_path(container, "archive"), params={"path": src})
    with resp:
        if dst == "-":
            out = sys.stdout.buffer
            for chunk in resp.iter_chunks():
                out.write(chunk)
            out.flush()
            return 0
        import base64
        import json

        stat = json.loads(base64.b64decode(resp.headers.get("x-docker-container-path-stat", "")))
        src_is_dir = bool(stat["mode"] & cptar.MODE_DIR)
        src_base = rebase_to or cptar.split_path_dir_entry(src)[1]
        dst_dir, new = _prepare(src_base, src_is_dir, _dest_info(dst), dst)
        counter = _Counter(resp.iter_chunks())
        cptar.extract(io.BufferedReader(cptar.ChunkReader(counter), 1 << 20), dst_dir,
                      cptar.split_path_dir_entry(src)[1], new)  # fmt: skip
    if not quiet:
        ctx.err(f"Successfully copied {_size(counter.total)} to {dst}\n")
    return 0


def _dest_info(dst: str) -> tuple[bool, bool]:
    """archive.CopyInfoDestinationPath: (exists, is a directory), the parent checked."""
    if os.path.lexists(dst):
        return True, os.path.isdir(dst)
    parent = os.path.dirname(dst.rstrip("/")) or "/"
    if not os.path.isdir(parent):
        raise StatusError(1, f"stat {parent}: no such file or directory")
    return False, False


def _prepare(
    src_base: str, src_is_dir: bool, dst_info: tuple[bool, bool], dst: str
) -> tuple[str, str]:
    """archive.PrepareArchiveCopy: the directory to extract into and the name the
    archive's top entry takes there."""
    from pier.cli import cptar

    exists, is_dir = dst_info
    dst_dir, dst_base = cptar.split_path_dir_entry(dst)
    if exists and is_dir:
        return dst.rstrip("/") or "/", src_base
    if exists and src_is_dir:
        raise StatusError(1, "cannot copy a directory to a file")  # ErrCannotCopyDir
    if not exists and not src_is_dir and cptar.asserts_directory(dst):
        raise StatusError(1, "no such directory")  # ErrDirNotExists
    return dst_dir, dst_base


def _to_container(ctx: Context, container: str, src: str, dst: str, opts: Any, quiet: bool) -> int:
    from pier.cli import cptar
    from pier.cli.common import container_path

    if src != "-":
        src = _local(src)
    dst_target = dst
    info = _stat(ctx, container, dst)
    if info is not None and info["mode"] & cptar.MODE_SYMLINK:
        target = info.get("linkTarget", "")
        if not target.startswith("/"):
            target = os.path.join(cptar.split_path_dir_entry(dst)[0], target)
        dst_target = target
        info = _stat(ctx, container, target)
    if info is not None and info["mode"] & (cptar._MODE_TYPE & ~cptar.MODE_DIR):
        raise StatusError(1, f'destination "{container}:{dst}" must be a directory or a regular '
                          "file")  # fmt: skip
    exists, is_dir = info is not None, bool(info and info["mode"] & cptar.MODE_DIR)
    params = {"path": "", "copyUIDGID": "true" if opts["archive"] else None}
    counter: _Counter | None = None
    if src == "-":
        if not is_dir:
            raise StatusError(1, f'destination "{container}:{dst}" must be a directory')
        params["path"] = dst_target
        body: Any = iter(lambda: os.read(0, 1 << 20), b"")
    else:
        path, src_is_dir, rebase_to = cptar.source_info(src, opts["follow-link"])
        src_base = rebase_to or cptar.split_path_dir_entry(path)[1]
        dst_dir, new = _prepare(src_base, src_is_dir, (exists, is_dir), dst_target)
        params["path"] = dst_dir
        counter = _Counter(cptar.tar_source(path, new))
        body = counter
    ctx.client.request(
        "PUT", container_path(container, "archive"), params=params, body=body,
        headers={"Content-Type": "application/x-tar"},
    ).close()  # fmt: skip
    if not quiet and counter is not None:
        ctx.err(f"Successfully copied {_size(counter.total)} to {container}:{dst_target}\n")
    return 0


class _Counter:
    """Passes chunks through, counting their bytes (docker's "Successfully copied")."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self.total = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> bytes:
        chunk: bytes = next(self._chunks)
        self.total += len(chunk)
        return chunk


def _size(n: int) -> str:
    from pier.cli.output import human_size

    return human_size(n)


EXPORT = Spec(
    min_args=1,
    max_args=1,
    flags=(Flag(name="output", short="o", kind=STRING, help="Write to a file, instead of STDOUT"),),
)


def export(ctx: Context, argv: list[str]) -> int:
    from pier.cli.common import container_path

    opts = ctx.parse(EXPORT, argv)
    output = opts["output"] or ""
    if not output and os.isatty(1):
        raise StatusError(1, "cowardly refusing to save to a terminal. Use the -o flag or "
                          "redirect")  # fmt: skip
    if output:
        _check_output(output)
    resp = ctx.client.request("GET", container_path(opts.args[0], "export"))
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if output else 1
    try:
        with resp:
            for chunk in resp.iter_chunks():
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
    finally:
        if output:
            os.close(fd)
    return 0
