"""Layer application on real files: confinement and whiteouts."""

import os
import stat
import tarfile
from pathlib import Path

import pytest

from pier.errors import InvalidParameter
from pier.images.unpack import apply_layer
from pier.snapshots.mount import mount_all, unmount
from pier_testing.image_store import Env, build_tar

DIR = tarfile.DIRTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE


def _apply(tar: Path, root: Path) -> None:
    root.mkdir(exist_ok=True)
    with tar.open("rb") as f:
        apply_layer(f, root)


def test_dotdot_entry_fails_the_import(env: Env, tmp_path: Path) -> None:
    tar = build_tar(
        tmp_path / "l.tar", [{"name": "ok", "data": b"x"}, {"name": "../evil", "data": b"x"}]
    )
    with pytest.raises(InvalidParameter, match="outside of the root"):
        env.run(env.service.import_archive(tar, repo="bad", tag=None))
    assert not (env.root / "snapshots" / "evil").exists()
    assert not any(p.name == "evil" for p in tmp_path.rglob("evil"))
    assert list(env.snapshots.walk()) == []
    assert list(env.content.walk()) == []
    assert env.run(env.service.list()) == []


def test_absolute_symlink_is_followed_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    tar = build_tar(
        tmp_path / "l.tar",
        [
            {"name": "escape", "type": SYM, "linkname": str(outside)},
            {"name": "escape/pwned", "data": b"gotcha"},
            {"name": "up", "type": SYM, "linkname": "../../../../.."},
            {"name": "up/pwned2", "data": b"gotcha"},
        ],
    )
    root = tmp_path / "root"
    _apply(tar, root)
    assert list(outside.iterdir()) == []
    assert (root / str(outside).lstrip("/") / "pwned").read_bytes() == b"gotcha"
    assert (root / "pwned2").read_bytes() == b"gotcha"
    assert os.readlink(root / "escape") == str(outside)


def test_hardlink_outside_fails(tmp_path: Path) -> None:
    before = os.stat("/etc/passwd").st_nlink
    for i, linkname in enumerate(["../../../../etc/passwd", "/etc/passwd"]):
        tar = build_tar(
            tmp_path / f"l{i}.tar", [{"name": "stolen", "type": LNK, "linkname": linkname}]
        )
        root = tmp_path / f"root{i}"
        with pytest.raises(InvalidParameter):
            _apply(tar, root)
        assert not (root / "stolen").exists()
    assert os.stat("/etc/passwd").st_nlink == before


def test_metadata_devices_and_hardlinks(tmp_path: Path) -> None:
    tar = build_tar(
        tmp_path / "l.tar",
        [
            {"name": "d", "type": DIR, "mode": 0o750, "uid": 12, "gid": 34},
            {"name": "d/f", "data": b"data", "mode": 0o4755, "uid": 5, "gid": 6},
            {"name": "d/h", "type": LNK, "linkname": "d/f"},
            {"name": "null", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3, "mode": 0o666},
            {"name": "fifo", "type": tarfile.FIFOTYPE, "mode": 0o600},
            {"name": "x", "data": b"v", "pax_headers": {"SCHILY.xattr.user.k": "val"}},
        ],
    )
    root = tmp_path / "root"
    _apply(tar, root)
    d = os.stat(root / "d")
    assert (stat.S_IMODE(d.st_mode), d.st_uid, d.st_gid) == (0o750, 12, 34)
    assert d.st_mtime == 1_700_000_000
    f = os.stat(root / "d" / "f")
    assert (stat.S_IMODE(f.st_mode), f.st_uid, f.st_gid) == (0o4755, 5, 6)
    assert f.st_mtime == 1_700_000_000
    assert f.st_nlink == 2
    n = os.stat(root / "null")
    assert stat.S_ISCHR(n.st_mode) and os.major(n.st_rdev) == 1 and os.minor(n.st_rdev) == 3
    assert stat.S_ISFIFO(os.stat(root / "fifo").st_mode)
    assert os.getxattr(root / "x", "user.k") == b"val"


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path, env: Env) -> None:
    snaps = env.snapshots
    lower = build_tar(
        tmp_path / "lower.tar",
        [
            {"name": "keep", "data": b"k"},
            {"name": "gone", "data": b"g"},
            {"name": "dir", "type": DIR, "mode": 0o755},
            {"name": "dir/old", "data": b"o"},
        ],
    )
    upper = build_tar(
        tmp_path / "upper.tar",
        [
            {"name": ".wh.gone", "data": b""},
            {"name": "dir", "type": DIR, "mode": 0o755},
            {"name": "dir/.wh..wh..opq", "data": b""},
            {"name": "dir/new", "data": b"n"},
        ],
    )
    snaps.prepare("a")
    _apply(lower, Path(snaps.fs_path("a")))
    snaps.commit("l1", "a")
    snaps.prepare("b", "l1")
    _apply(upper, Path(snaps.fs_path("b")))
    snaps.commit("l2", "b")

    up = Path(snaps.fs_path("l2"))
    wh = os.stat(up / "gone", follow_symlinks=False)
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(up / "dir", "trusted.overlay.opaque") == b"y"

    target = tmp_path / "mnt"
    target.mkdir()
    mount_all(snaps.view("v", "l2"), target)
    try:
        assert sorted(os.listdir(target)) == ["dir", "keep"]
        assert os.listdir(target / "dir") == ["new"]
    finally:
        unmount(target)
