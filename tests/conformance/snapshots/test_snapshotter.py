"""Snapshotter conformance, then real overlay mounts of what it returns."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.errors import Conflict, NotFound
from pier.metadata import Database
from pier.snapshots import Kind, OverlaySnapshotter, Snapshotter
from pier.snapshots.mount import mount_all, unmount


@pytest.fixture
def snapshotter(tmp_path: Path) -> Iterator[Snapshotter]:
    db = Database(tmp_path / "pier.db")
    try:
        yield OverlaySnapshotter(root=tmp_path / "snapshots", db=db)
    finally:
        db.close()


def _write(snap: Snapshotter, key: str, rel: str, data: str) -> None:
    path = Path(snap.fs_path(key)) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)


def _chain(snap: Snapshotter) -> None:
    snap.prepare("l1-active")
    _write(snap, "l1-active", "base.txt", "base")
    _write(snap, "l1-active", "gone.txt", "will be whited out")
    snap.commit("l1", "l1-active")
    snap.prepare("l2-active", "l1")
    _write(snap, "l2-active", "top.txt", "top")
    whiteout = Path(snap.fs_path("l2-active")) / "gone.txt"
    os.mknod(whiteout, 0o020000, os.makedev(0, 0))
    snap.commit("l2", "l2-active")


def test_prepare_without_parent_is_a_bind(snapshotter: Snapshotter) -> None:
    mounts = snapshotter.prepare("a")
    assert [(m.type, m.options) for m in mounts] == [("bind", ("rbind", "rw"))]
    assert mounts[0].source == snapshotter.fs_path("a")
    assert snapshotter.mounts("a") == mounts
    info = snapshotter.stat("a")
    assert (info.kind, info.parent) == (Kind.ACTIVE, None)


def test_chain_commit_view_and_overlay_options(snapshotter: Snapshotter) -> None:
    _chain(snapshotter)
    assert snapshotter.stat("l2").kind == Kind.COMMITTED
    assert snapshotter.stat("l2").parent == "l1"
    with pytest.raises(NotFound):
        snapshotter.stat("l1-active")
    mounts = snapshotter.prepare("rw", "l2")
    (m,) = mounts
    assert m.type == "overlay"
    lower = next(o for o in m.options if o.startswith("lowerdir="))
    assert lower == f"lowerdir={snapshotter.fs_path('l2')}:{snapshotter.fs_path('l1')}"
    assert any(o.startswith("upperdir=") for o in m.options)
    assert any(o.startswith("workdir=") for o in m.options)
    (v,) = snapshotter.view("v1", "l1")
    assert (v.type, v.source, v.options) == ("bind", snapshotter.fs_path("l1"), ("rbind", "ro"))
    (v2,) = snapshotter.view("v2", "l2")
    assert v2.type == "overlay"
    assert "ro" in v2.options
    assert {i.key for i in snapshotter.walk()} == {"l1", "l2", "rw", "v1", "v2"}


def test_conflicts_and_not_found(snapshotter: Snapshotter) -> None:
    _chain(snapshotter)
    with pytest.raises(Conflict):
        snapshotter.prepare("l1")
    with pytest.raises(Conflict):
        snapshotter.remove("l1")
    with pytest.raises(NotFound):
        snapshotter.prepare("x", "no-such-parent")
    with pytest.raises(NotFound):
        snapshotter.remove("no-such")
    snapshotter.remove("l2")
    snapshotter.remove("l1")
    assert list(snapshotter.walk()) == []


def test_usage(snapshotter: Snapshotter) -> None:
    snapshotter.prepare("u")
    _write(snapshotter, "u", "a/b.txt", "x" * 5000)
    usage = snapshotter.usage("u")
    assert usage.size == 5000
    assert usage.inodes == 2
    snapshotter.commit("u-done", "u")
    assert snapshotter.usage("u-done").size == 5000


def test_remove_deletes_directories(snapshotter: Snapshotter, tmp_path: Path) -> None:
    snapshotter.prepare("gone")
    fs = Path(snapshotter.fs_path("gone"))
    snapshotter.remove("gone")
    assert not fs.exists()
    assert list((tmp_path / "snapshots").iterdir()) == []


def test_real_overlay_mount(snapshotter: Snapshotter, tmp_path: Path) -> None:
    _chain(snapshotter)
    mounts = snapshotter.prepare("container", "l2")
    target = tmp_path / "rootfs"
    target.mkdir()
    mount_all(mounts, target)
    try:
        assert (target / "base.txt").read_text() == "base"
        assert (target / "top.txt").read_text() == "top"
        assert not (target / "gone.txt").exists()
        (target / "new.txt").write_text("new")
        (target / "base.txt").write_text("changed")
    finally:
        unmount(target)
    unmount(target)  # idempotent
    upper = Path(snapshotter.fs_path("container"))
    assert (upper / "new.txt").read_text() == "new"
    assert (upper / "base.txt").read_text() == "changed"
    assert (Path(snapshotter.fs_path("l1")) / "base.txt").read_text() == "base"
    assert snapshotter.usage("container").size == len("new") + len("changed")


def test_real_readonly_view(snapshotter: Snapshotter, tmp_path: Path) -> None:
    _chain(snapshotter)
    target = tmp_path / "view"
    target.mkdir()
    mount_all(snapshotter.view("v", "l1"), target)
    try:
        assert (target / "base.txt").read_text() == "base"
        with pytest.raises(OSError):
            (target / "x").write_text("no")
    finally:
        unmount(target)
