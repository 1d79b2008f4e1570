"""build, builder prune, commit, diff.

`pier build` sends the context as docker's CLI does (a tar of the directory; a
Dockerfile given with `-f` from outside the context, or on stdin with `-f -`, is
added to it under a private name; `-` reads a tar or a bare Dockerfile from stdin; a
git or http(s) URL is left to the daemon). On a terminal the progress is one line per
step with its time and the running step's last output lines; otherwise the daemon's
lines as they come, as docker prints them.
"""

from __future__ import annotations

import os
import sys
import time

from pier.cli.common import container_path, split_tag
from pier.cli.flags import BOOL, LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, TextIO

    from pier.client.http import Response

BUILD = Spec(
    min_args=1,
    max_args=1,
    flags=(
        Flag(name="add-host", kind=LIST, type_name="list",
             help="Add a custom host-to-IP mapping (\"host:ip\")"),
        Flag(name="build-arg", kind=LIST, type_name="list", help="Set build-time variables"),
        Flag(name="cache-from", kind=LIST, type_name="strings",
             help="Images to consider as cache sources"),
        Flag(name="cpuset-cpus", kind=STRING,
             help="CPUs in which to allow execution (0-3, 0,1)"),
        Flag(name="file", short="f", kind=STRING,
             help="Name of the Dockerfile (Default is \"PATH/Dockerfile\")"),
        Flag(name="force-rm", help="Always remove intermediate containers"),
        Flag(name="iidfile", kind=STRING, help="Write the image ID to the file"),
        Flag(name="label", kind=LIST, type_name="list", help="Set metadata for an image"),
        Flag(name="memory", short="m", kind=STRING, type_name="bytes", help="Memory limit"),
        Flag(name="network", kind=STRING,
             help="Set the networking mode for the RUN instructions during build"),
        Flag(name="no-cache", help="Do not use cache when building the image"),
        Flag(name="platform", kind=STRING, help="Set platform if server is multi-platform capable"),
        Flag(name="pull", help="Always attempt to pull a newer version of the image"),
        Flag(name="quiet", short="q",
             help="Suppress the build output and print image ID on success"),
        Flag(name="rm", kind=BOOL, default=True,
             help="Remove intermediate containers after a successful build"),
        Flag(name="shm-size", kind=STRING, type_name="bytes", help="Size of /dev/shm"),
        Flag(name="squash", help="Squash newly built layers into a single new layer"),
        Flag(name="tag", short="t", kind=LIST, type_name="list",
             help="Name and optionally a tag in the \"name:tag\" format"),
        Flag(name="target", kind=STRING, help="Set the target build stage to build."),
        Flag(name="ulimit", kind=LIST, type_name="ulimit", help="Ulimit options"),
    ),
)  # fmt: skip

_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _bytes(text: str) -> int:
    t = text.strip().lower()
    if t.endswith("b") and len(t) > 1 and t[-2] in _UNITS:
        t = t[:-1]
    mult = _UNITS.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in _UNITS else t
    try:
        return int(float(number) * mult)
    except ValueError:
        raise StatusError(125, f"invalid argument \"{text}\": invalid size: '{text}'") from None


def _ulimits(values: list[str]) -> list[dict[str, Any]]:
    out = []
    for v in values:
        name, _, limits = v.partition("=")
        soft, _, hard = limits.partition(":")
        try:
            out.append({"Name": name, "Soft": int(soft), "Hard": int(hard or soft)})
        except ValueError:
            raise StatusError(125, f'invalid argument "{v}" for "--ulimit" flag') from None
    return out


def _tar_directory(root: str, extra: tuple[str, bytes] | None) -> bytes:
    """The context as a tar (owners zeroed, as docker's CLI sends it)."""
    import io
    import tarfile

    buf = io.BytesIO()

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir(root)):
            tf.add(os.path.join(root, name), arcname=name, filter=owned)
        if extra is not None:
            info = tarfile.TarInfo(extra[0])
            info.size = len(extra[1])
            info.mode = 0o600
            info.mtime = int(time.time())
            tf.addfile(info, io.BytesIO(extra[1]))
    return buf.getvalue()


def _tar_single(name: str, data: bytes) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o600
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _stdin() -> bytes:
    chunks: list[bytes] = []
    while True:
        data = os.read(0, 1 << 20)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _context(source: str, dockerfile: str) -> tuple[bytes | None, str, str]:
    """(tar body or None for a remote, the `dockerfile` parameter, the `remote` one)."""
    if source.startswith(("http://", "https://", "git://", "git@", "github.com/")):
        return None, dockerfile, source
    if source == "-":
        if dockerfile == "-":
            raise StatusError(
                125, "invalid argument: can't use stdin for both build context and dockerfile"
            )
        data = _stdin()
        head = data[:512]
        if data[:2] == b"\x1f\x8b" or (len(head) == 512 and head[257:262] == b"ustar"):
            return data, dockerfile, ""
        return _tar_single("Dockerfile", data), "Dockerfile", ""
    if not os.path.isdir(source):
        raise StatusError(1, f'unable to prepare context: path "{source}" not found')
    root = os.path.abspath(source)
    if dockerfile == "-":
        name = ".dockerfile." + os.urandom(10).hex()
        return _tar_directory(root, (name, _stdin())), name, ""
    path = os.path.abspath(dockerfile) if dockerfile else os.path.join(root, "Dockerfile")
    if not os.path.exists(path):
        shown = dockerfile or os.path.join(root, "Dockerfile")
        raise StatusError(
            1,
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {shown}: no such file or directory",
        )
    rel = os.path.relpath(path, root)
    if rel.startswith(".."):
        name = ".dockerfile." + os.urandom(10).hex()
        with open(path, "rb") as fh:
            return _tar_directory(root, (name, fh.read())), name, ""
    return _tar_directory(root, None), rel, ""


def build(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(BUILD, argv)
    if opts["squash"]:
        raise StatusError(
            1, "Error response from daemon: squash is only supported with experimental mode"
        )
    body, dockerfile, remote = _context(opts.args[0], opts["file"] or "")
    build_args: dict[str, Any] = {}
    for item in opts["build-arg"]:
        key, sep, value = item.partition("=")
        build_args[key] = value if sep else os.environ.get(key)
    labels = {}
    for item in opts["label"]:
        key, _, value = item.partition("=")
        labels[key] = value
    for tag in opts["tag"]:
        name, tag_part = split_tag(tag)
        if not name or name != name.lower() or " " in tag:
            raise StatusError(
                125, f'invalid argument "{tag}" for "-t, --tag" flag: invalid reference format'
            )
        del tag_part
    params: dict[str, Any] = {
        "t": tuple(opts["tag"]) or None,
        "dockerfile": dockerfile or None,
        "q": opts["quiet"] or None,
        "nocache": opts["no-cache"] or None,
        "rm": None if opts["rm"] else False,
        "forcerm": opts["force-rm"] or None,
        "pull": opts["pull"] or None,
        "buildargs": build_args or None,
        "labels": labels or None,
        "cachefrom": list(opts["cache-from"]) or None,
        "target": opts["target"] or None,
        "networkmode": opts["network"] or None,
        "platform": opts["platform"] or None,
        "shmsize": _bytes(opts["shm-size"]) if opts["shm-size"] else None,
        "memory": _bytes(opts["memory"]) if opts["memory"] else None,
        "cpusetcpus": opts["cpuset-cpus"] or None,
        "extrahosts": tuple(opts["add-host"]) or None,
        "ulimits": _ulimits(opts["ulimit"]) or None,
        "remote": remote or None,
        "version": "1",
    }
    headers = {"Content-Type": "application/x-tar"}
    resp = ctx.client.request("POST", "/build", params=params, body=body, headers=headers)
    tty = sys.stdout.isatty() and not opts["quiet"]
    image_id = _show(resp, sys.stdout, tty=tty, quiet=opts["quiet"])
    if opts["iidfile"] and image_id:
        with open(opts["iidfile"], "w") as fh:
            fh.write(image_id)
    return 0


def _messages(resp: Response) -> Iterator[dict[str, Any]]:
    from pier.client import jsonlite

    with resp:
        for line in resp.iter_lines():
            try:
                msg = jsonlite.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict):
                yield msg


def _show(resp: Response, out: TextIO, *, tty: bool, quiet: bool) -> str:
    """Print the build's progress; the image ID. A failed build raises StatusError."""
    view = _Steps(out) if tty else None
    image_id = ""
    for msg in _messages(resp):
        if "error" in msg or "errorDetail" in msg:
            if view is not None:
                view.close()
            detail = msg.get("errorDetail") or {}
            code = int(detail.get("code") or 1)
            raise StatusError(code, str(detail.get("message") or msg.get("error")))
        aux = msg.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = str(aux["ID"])
        text = msg.get("stream")
        if not isinstance(text, str):
            continue
        if quiet:
            image_id = text.strip() or image_id
            out.write(text)
        elif view is not None:
            view.feed(text)
        else:
            out.write(text)
            out.flush()
    if view is not None:
        view.close()
    return image_id


class _Steps:
    """The terminal display: finished steps one line each (with `CACHED` or their
    time), the running one with its last output lines under it, redrawn in place."""

    TAIL = 5

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._step = ""
        self._started = 0.0
        self._cached = False
        self._tail: list[str] = []
        self._partial = ""
        self._drawn = 0
        self._done: list[str] = []

    def feed(self, text: str) -> None:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._line(line)
        self._draw()

    def _line(self, line: str) -> None:
        if line.startswith("Step "):
            self._finish()
            self._step = line.split(" : ", 1)[0][5:] + " " + line.split(" : ", 1)[-1]
            self._started = time.monotonic()
            self._cached = False
            self._tail = []
        elif line == " ---> Using cache":
            self._cached = True
        elif line.startswith(" ---> ") or not line.strip():
            return
        elif line.startswith(("Successfully", "[Warning]", "#")):
            self._finish()
            self._done.append(line)
        else:
            self._tail = [*self._tail, line][-self.TAIL :]

    def _finish(self) -> None:
        if self._step:
            how = "CACHED" if self._cached else f"{time.monotonic() - self._started:.1f}s"
            self._done.append(
                f"[{self._step.split(' ', 1)[0]}] {self._step.split(' ', 1)[1]}  {how}"
            )
            self._step = ""
            self._tail = []

    def _draw(self) -> None:
        if self._drawn:
            self._out.write(f"\x1b[{self._drawn}F\x1b[J")
        for line in self._done:
            self._out.write(line + "\n")
        self._done = []
        lines: list[str] = []
        if self._step:
            num, _, what = self._step.partition(" ")
            lines.append(f"[{num}] {what}  {time.monotonic() - self._started:.1f}s")
            lines += ["\x1b[2m  " + t[:200] + "\x1b[0m" for t in self._tail]
        for line in lines:
            self._out.write(line + "\n")
        self._drawn = len(lines)
        self._out.flush()

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        self._finish()
        self._draw()


# -- builder prune ------------------------------------------------------------------------

BUILDER_PRUNE = Spec(
    max_args=0,
    flags=(
        Flag(name="all", short="a", help="Remove all unused build cache, not just dangling ones"),
        Flag(name="filter", kind=LIST, type_name="filter",
             help="Provide filter values (e.g. \"until=24h\")"),
        Flag(name="force", short="f", help="Do not prompt for confirmation"),
    ),
)  # fmt: skip


def builder_prune(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(BUILDER_PRUNE, argv)
    if not opts["force"]:
        what = "all build cache" if opts["all"] else "all dangling build cache"
        ctx.out(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    report = ctx.client.post_json("/build/prune", all=opts["all"] or None) or {}
    deleted = report.get("CachesDeleted") or []
    if deleted:
        ctx.out("Deleted build cache objects:\n" + "".join(f"{d}\n" for d in deleted) + "\n")
    from pier.cli.output import human_size

    ctx.out(f"Total reclaimed space: {human_size(int(report.get('SpaceReclaimed') or 0))}\n")
    return 0


# -- commit, diff ---------------------------------------------------------------------------

COMMIT = Spec(
    min_args=1,
    max_args=2,
    flags=(
        Flag(name="author", short="a", kind=STRING,
             help="Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"),
        Flag(name="change", short="c", kind=LIST,
             help="Apply Dockerfile instruction to the created image"),
        Flag(name="message", short="m", kind=STRING, help="Commit message"),
        Flag(name="pause", short="p", kind=BOOL, default=True,
             help="Pause container during commit"),
    ),
)  # fmt: skip


def commit(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(COMMIT, argv)
    container = opts.args[0]
    repo, tag = split_tag(opts.args[1]) if len(opts.args) > 1 else ("", "")
    params: dict[str, Any] = {
        "container": container,
        "repo": repo or None,
        "tag": tag or None,
        "comment": opts["message"] or None,
        "author": opts["author"] or None,
        "pause": None if opts["pause"] else False,
        "changes": tuple(opts["change"]) or None,
    }
    answer = ctx.client.post_json("/commit", None, **params) or {}
    ctx.out(f"{answer.get('Id', '')}\n")
    return 0


DIFF = Spec(min_args=1, max_args=1)


def diff(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(DIFF, argv)
    changes = ctx.client.get_json(container_path(opts.args[0], "changes")) or []
    letters = {0: "C", 1: "A", 2: "D"}
    ctx.out("".join(f"{letters.get(c.get('Kind'), '?')} {c.get('Path')}\n" for c in changes))
    return 0
