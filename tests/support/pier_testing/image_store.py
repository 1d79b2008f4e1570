"""Helpers shared by the image integration tests (a unique module name: `conftest` is
ambiguous once several test directories are collected together)."""

import asyncio
import io
import tarfile
from pathlib import Path

import pytest

from pier.content.local import LocalContentStore
from pier.images.service import ImageService
from pier.metadata import Database
from pier.snapshots.overlay import OverlaySnapshotter

APPLETS = ("sh", "ls", "cat", "echo", "true")


def _add(
    tf: tarfile.TarFile, name: str, *, data: bytes = b"", mode: int = 0o644, **kw: object
) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 1_700_000_000
    for key, value in kw.items():
        setattr(info, key, value)
    if info.type == tarfile.REGTYPE:
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    else:
        tf.addfile(info)


def build_tar(path: Path, entries: list[dict[str, object]], *, gzip: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gzip else "w", format=tarfile.PAX_FORMAT) as tf:
        for entry in entries:
            _add(tf, **entry)  # type: ignore[arg-type]
    return path


def make_busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox rootfs: /bin/busybox from the host, applet symlinks, passwd and group."""
    path = tmp_path_factory.mktemp("busybox") / "rootfs.tar"
    with tarfile.open(path, "w") as tf:
        for d in ("bin", "etc", "tmp"):
            _add(tf, d, type=tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
        tf.add("/usr/bin/busybox", arcname="bin/busybox")
        for applet in APPLETS:
            _add(tf, f"bin/{applet}", type=tarfile.SYMTYPE, linkname="busybox", mode=0o777)
        _add(
            tf,
            "etc/passwd",
            data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        )
        _add(tf, "etc/group", data=b"root:x:0:\nnogroup:x:65534:\n")
    return path


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = Database(root / "pier.db")
        self.content = LocalContentStore(root=root / "content")
        self.snapshots = OverlaySnapshotter(root=root / "snapshots", db=self.db)
        self.users: dict[str, list[str]] = {}
        self.running: dict[str, list[str]] = {}
        self.service = ImageService(
            data_root=root,
            db=self.db,
            content=self.content,
            snapshotter=self.snapshots,
            image_users=lambda image_id: self.users.get(image_id, []),
            running_image_users=lambda image_id: self.running.get(image_id, []),
        )

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)
