"""A corpus of hostile archives, and the checks that nothing they hold lands outside
its layer or container root.

Each case is built around a token naming everything it writes, so what it left can be
found by name: inside a layer or a container's root (a `snapshots/<key>/fs/` tree) is
fine, anywhere else under the daemon's base or on the host is an escape. A planted
host directory (`/tmp/<token>-dir`) is what the symlink cases aim at; it must stay
empty.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
CHR, FIFO = tarfile.CHRTYPE, tarfile.FIFOTYPE
DOCKERFILE = b"FROM busybox\nCOPY . /ctx/\n"
# Paths that unpack a layer: whiteouts mean something there, and nothing else may
# touch the layer's parent.
LAYER_PATHS = frozenset({"import", "load", "pull"})
ALL_PATHS = frozenset({"import", "load", "pull", "build", "cp"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    name: str
    kind: bytes = REG
    data: bytes | None = b""
    link: str = ""
    mode: int = 0o644
    dev: tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """`refused_by`: the paths that must refuse it (a 4xx or an error in the stream);
    the others may take it, but never write outside. A case with `found` or `sparse`
    is harmless: every path must take it."""

    id: str
    build: Callable[[str, bool], bytes]  # (token, with a Dockerfile) -> archive bytes
    refused_by: frozenset[str] = frozenset()
    # After an accepted upload: the file named with the token, in a layer, holds this.
    found: bytes | None = None
    sparse: bool = False  # that file is a 2 GiB sparse giant that must stay sparse
    said: str = ""  # what a layer path's refusal says


def tar_of(entries: list[Entry], *, with_dockerfile: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        if with_dockerfile:
            entries = [Entry(name="Dockerfile", data=DOCKERFILE), *entries]
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.linkname = e.kind, e.link
            info.mode = 0o755 if e.kind == DIR else e.mode
            info.devmajor, info.devminor = e.dev
            if e.kind == REG and e.data is not None:
                info.size = len(e.data)
                tf.addfile(info, io.BytesIO(e.data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def _entries(make: Callable[[str], list[Entry]]) -> Callable[[str, bool], bytes]:
    return lambda token, df: tar_of(make(token), with_dockerfile=df)


def _truncated(token: str, df: bool) -> bytes:
    data = gzip.compress(tar_of([Entry(name=token, data=os.urandom(200_000))], with_dockerfile=df))
    return data[: len(data) // 2]


def _corrupt(token: str, df: bool) -> bytes:
    data = bytearray(
        gzip.compress(tar_of([Entry(name=token, data=b"z" * 200_000)], with_dockerfile=df))
    )
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    return bytes(data)


def _sparse_giant(token: str, df: bool) -> bytes:
    """GNU tar's PAX sparse format for a 2 GiB file holding 13 bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with open(root / token, "wb") as fh:
            fh.truncate(2 * 1024**3)
            fh.seek(1024**3)
            fh.write(b"in the middle")
        if df:
            (root / "Dockerfile").write_bytes(DOCKERFILE)
        out = subprocess.run(
            ["tar", "--sparse", "--format=posix", "-C", tmp, "-cf", "-", "."],
            check=True,
            capture_output=True,
        )
        return out.stdout


CORPUS: tuple[Case, ...] = (
    Case(
        id="traversal",
        build=_entries(lambda t: [Entry(name=f"../{t}")]),
        refused_by=ALL_PATHS,
        said="breakout",
    ),
    Case(
        id="deep-traversal",
        build=_entries(lambda t: [Entry(name=f"a/../../../../../../tmp/{t}-dir/{t}")]),
        refused_by=ALL_PATHS,
    ),
    Case(id="absolute-name", build=_entries(lambda t: [Entry(name=f"/{t}", data=b"abs")])),
    Case(
        id="symlink-absolute-escape",
        build=_entries(
            lambda t: [
                Entry(name="esc", kind=SYM, data=None, link=f"/tmp/{t}-dir"),
                Entry(name=f"esc/{t}", data=b"through an absolute link"),
            ]
        ),
    ),
    Case(
        id="symlink-relative-escape",
        build=_entries(
            lambda t: [
                Entry(name="up", kind=SYM, data=None, link=f"../../../../../../../../tmp/{t}-dir"),
                Entry(name=f"up/{t}", data=b"through a relative link"),
            ]
        ),
    ),
    Case(
        id="hardlink-absolute-escape",
        build=_entries(lambda t: [Entry(name=t, kind=LNK, data=None, link="/etc/hostname")]),
        refused_by=LAYER_PATHS,
    ),
    Case(
        id="hardlink-relative-escape",
        build=_entries(
            lambda t: [Entry(name=t, kind=LNK, data=None, link="../../../../../../etc/hostname")]
        ),
        refused_by=LAYER_PATHS,
    ),
    Case(
        id="whiteout-of-the-parent",
        build=_entries(lambda t: [Entry(name=t), Entry(name=".wh..")]),
        refused_by=LAYER_PATHS,
        said="bad whiteout",
    ),
    Case(
        id="whiteout-empty",
        build=_entries(lambda t: [Entry(name=t), Entry(name=".wh.")]),
        refused_by=LAYER_PATHS,
        said="bad whiteout",
    ),
    Case(
        id="nested-whiteout-of-the-parent",
        build=_entries(lambda t: [Entry(name=t, kind=DIR, data=None), Entry(name=f"{t}/.wh..")]),
        refused_by=LAYER_PATHS,
        said="bad whiteout",
    ),
    Case(
        id="hardlink-to-a-directory",
        build=_entries(
            lambda t: [Entry(name=t, kind=DIR, data=None), Entry(name="l", kind=LNK, link=t)]
        ),
        refused_by=LAYER_PATHS,
        said="invalid layer tar",
    ),
    Case(
        id="whiteout-traversal",
        build=_entries(lambda t: [Entry(name=f"../.wh.{t}")]),
        refused_by=ALL_PATHS,
    ),
    Case(
        id="device-node",
        build=_entries(lambda t: [Entry(name=t, kind=CHR, data=None, mode=0o666, dev=(1, 3))]),
    ),
    Case(
        id="setuid-file",
        build=_entries(lambda t: [Entry(name=t, data=b"#!/bin/sh\nid\n", mode=0o4755)]),
        found=b"#!/bin/sh\nid\n",
    ),
    Case(id="fifo", build=_entries(lambda t: [Entry(name=t, kind=FIFO, data=None)])),
    Case(id="sparse-giant", build=_sparse_giant, sparse=True),
    Case(
        id="long-name",
        build=_entries(lambda t: [Entry(name=t + "x" * 300, data=b"long")]),
        refused_by=ALL_PATHS,
        said="File name too long",
    ),
    Case(id="truncated-gzip", build=_truncated, refused_by=ALL_PATHS, said="invalid layer tar"),
    Case(id="corrupt-gzip", build=_corrupt, refused_by=ALL_PATHS),
    Case(
        id="duplicate-entries",
        build=_entries(lambda t: [Entry(name=t, data=b"first"), Entry(name=t, data=b"second")]),
        found=b"second",
    ),
)


def plant(token: str) -> Path:
    """The host directory the symlink cases aim at."""
    target = Path(f"/tmp/{token}-dir")
    target.mkdir()
    return target


def escapes(token: str, base: Path) -> list[str]:
    """Everything named with the token outside a layer or container root: under the
    daemon's base, in the planted directory, at the host's root or in /tmp."""
    found = []
    for path in base.rglob(f"*{token}*"):
        rel = path.relative_to(base).parts
        inside = "snapshots" in rel and "fs" in rel[rel.index("snapshots") :]
        if not inside:
            found.append(str(path))
    planted = Path(f"/tmp/{token}-dir")
    if planted.exists():
        found += [str(p) for p in planted.iterdir()]
    found += [str(p) for p in Path("/").glob(f"{token}*")]
    found += [str(p) for p in Path("/tmp").glob(f"{token}*") if p != planted]
    return found


def in_layers(token: str, base: Path) -> list[Path]:
    """Regular files named with the token inside layers and container roots."""
    return [
        p
        for p in (base / "data" / "snapshots").rglob(f"*{token}*")
        if p.is_file() and not p.is_symlink()
    ]


def cleanup(token: str) -> None:
    shutil.rmtree(f"/tmp/{token}-dir", ignore_errors=True)
