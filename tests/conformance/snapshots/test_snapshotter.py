"""Snapshotter conformance, then real overlay mounts of what it returns."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.errors import Conflict, InvalidParameter, NotFound
from pier.metadata import Database
from pier.snapshots.mount import mount_all, unmount
from pier.snapshots.overlay import OverlaySnapshotter
from pier.snapshots.types import Kind, Snapshotter


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


def _diff(
    snap: Snapshotter, key: str, files: dict[str, str], whiteouts: tuple[str, ...] = ()
) -> None:
    """A parentless extraction snapshot holding a layer diff in overlay form."""
    snap.prepare(key)
    for rel, data in files.items():
        _write(snap, key, rel, data)
    for rel in whiteouts:
        path = Path(snap.fs_path(key)) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(path, 0o020000, os.makedev(0, 0))


def test_commit_diff_chains_parentless_snapshots(snapshotter: Snapshotter, tmp_path: Path) -> None:
    # Diffs made side by side, in any order, then stacked: the upper one's whiteout and
    # opaque directory act on the lower one once chained.
    _diff(snapshotter, "x-top", {"etc/conf": "new", "top.txt": "top"}, whiteouts=("gone.txt",))
    os.setxattr(Path(snapshotter.fs_path("x-top")) / "etc", "trusted.overlay.opaque", b"y")
    _diff(snapshotter, "x-base", {"etc/conf": "old", "etc/other": "o", "gone.txt": "g"})
    snapshotter.commit_diff("base", "x-base", None)
    snapshotter.commit_diff("top", "x-top", "base")
    for name, parent in (("base", None), ("top", "base")):
        info = snapshotter.stat(name)
        assert (info.kind, info.parent) == (Kind.COMMITTED, parent)
    assert {i.key for i in snapshotter.walk()} == {"base", "top"}
    assert snapshotter.usage("top").size == len("new") + len("top")
    with pytest.raises(Conflict):
        snapshotter.remove("base")  # the chain is real: base has a child now

    target = tmp_path / "rootfs"
    target.mkdir()
    mount_all(snapshotter.prepare("ctr", "top"), target)
    try:
        assert (target / "etc" / "conf").read_text() == "new"
        assert not (target / "etc" / "other").exists()  # hidden by the opaque directory
        assert not (target / "gone.txt").exists()  # hidden by the whiteout
        assert (target / "top.txt").read_text() == "top"
    finally:
        unmount(target)


def test_commit_diff_refusals_change_nothing(snapshotter: Snapshotter) -> None:
    _chain(snapshotter)
    _diff(snapshotter, "x", {"f": "f"})
    with pytest.raises(NotFound):
        snapshotter.commit_diff("n", "x", "no-such-parent")
    snapshotter.prepare("active-parent")
    with pytest.raises(InvalidParameter):
        snapshotter.commit_diff("n", "x", "active-parent")  # a parent must be committed
    with pytest.raises(Conflict):
        snapshotter.commit_diff("l1", "x", "l2")  # the name is taken
    assert snapshotter.stat("x").kind == Kind.ACTIVE
    assert snapshotter.stat("x").parent is None
    assert (Path(snapshotter.fs_path("x")) / "f").read_text() == "f"
    snapshotter.prepare("stacked", "l1")
    with pytest.raises(InvalidParameter):
        snapshotter.commit_diff("n", "stacked", "l2")  # only a parentless diff may be chained
    snapshotter.commit("l1-view-done", "stacked")
    with pytest.raises(InvalidParameter):
        snapshotter.commit_diff("n", "l1-view-done", "l2")  # committed already
    snapshotter.commit_diff("n", "x", "l2")
    assert snapshotter.stat("n").parent == "l2"
    with pytest.raises(NotFound):
        snapshotter.stat("x")
