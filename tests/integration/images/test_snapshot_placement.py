"""The overlay snapshotter's root carries ext4's top-directory flag (`chattr +T`): each
snapshot directory starts in a block group of its own, away from the inodes an image
just removed left behind (see pier.snapshots.overlay.mark_top_directory)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pier.metadata import Database
from pier.snapshots.overlay import OverlaySnapshotter


def _fs_type(path: Path) -> str:
    return subprocess.run(
        ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_snapshot_root_is_a_top_directory(tmp_path: Path) -> None:
    if _fs_type(tmp_path) not in ("ext2/ext3",):  # stat's name for ext4 too
        pytest.skip(f"the top-directory flag is ext4's; {tmp_path} is {_fs_type(tmp_path)}")
    db = Database(tmp_path / "pier.db")
    try:
        OverlaySnapshotter(root=tmp_path / "snapshots", db=db)
        attrs = subprocess.run(
            ["lsattr", "-d", str(tmp_path / "snapshots")],
            capture_output=True, text=True, check=True,
        ).stdout.split()[0]  # fmt: skip
        assert "T" in attrs, attrs
    finally:
        db.close()
