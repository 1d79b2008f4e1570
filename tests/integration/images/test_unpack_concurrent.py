"""Layer application with concurrent file creation (images/writers.py): the tree is the
one an in-order extraction makes, whatever the order the workers finish in."""

import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from pier.errors import InvalidParameter
from pier_testing.image_store import build_tar
from pier_testing.unpacked import apply_tar, tree

DIR = tarfile.DIRTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE


def test_many_small_files_match_gnu_tar(tmp_path: Path) -> None:
    entries: list[dict[str, object]] = []
    for d in range(12):
        entries.append({"name": f"d{d}", "type": DIR, "mode": 0o751})
        for f in range(40):
            entries.append(
                {
                    "name": f"d{d}/f{f}",
                    "data": os.urandom(f * 97),
                    "mode": 0o640 + (f % 2),
                    "uid": f,
                    "gid": d,
                }
            )
        entries.append({"name": f"d{d}/big", "data": os.urandom((1 << 20) + 3)})
        entries.append({"name": f"d{d}/s", "type": SYM, "linkname": "f1"})
    tar = build_tar(tmp_path / "l.tar.gz", entries, gzip=True)
    ours, gnu = tmp_path / "ours", tmp_path / "gnu"
    apply_tar(tar, ours)
    gnu.mkdir()
    subprocess.run(["tar", "-C", str(gnu), "--numeric-owner", "-xzf", str(tar)], check=True)
    assert tree(ours) == tree(gnu)
    assert not [t for t in threading.enumerate() if t.name.startswith("unpack-write")]


def test_a_name_met_again_is_the_last_entry(tmp_path: Path) -> None:
    tar = build_tar(
        tmp_path / "l.tar",
        [
            {"name": "a", "data": b"first"},
            {"name": "b", "data": b"file"},
            {"name": "c/x", "data": b"in an implicit directory"},
            {"name": "a", "data": b"second"},
            {"name": "b", "type": DIR},
            {"name": "b/inside", "data": b"ok"},
            {"name": "c", "data": b"replaces the directory"},
            {"name": "h", "type": LNK, "linkname": "a"},
            {"name": "s", "type": SYM, "linkname": "a"},
        ],
    )
    root = tmp_path / "root"
    apply_tar(tar, root)
    assert (root / "a").read_bytes() == b"second"
    assert (root / "b" / "inside").read_bytes() == b"ok"
    assert (root / "c").read_bytes() == b"replaces the directory"
    assert os.stat(root / "h").st_ino == os.stat(root / "a").st_ino
    assert os.readlink(root / "s") == "a"


def test_a_file_whited_out_in_its_own_layer_is_gone(tmp_path: Path) -> None:
    tar = build_tar(
        tmp_path / "l.tar",
        [
            {"name": "d", "type": DIR},
            {"name": "d/f", "data": b"x"},
            {"name": "d/.wh.f", "data": b""},
        ],
    )
    root = tmp_path / "root"
    apply_tar(tar, root)
    assert os.lstat(root / "d" / "f").st_rdev == os.makedev(0, 0)
    assert (root / "d" / "f").is_char_device()


def test_a_file_used_as_a_directory_fails_the_layer(tmp_path: Path) -> None:
    tar = build_tar(
        tmp_path / "l.tar", [{"name": "f", "data": b"x"}, {"name": "f/under", "data": b"y"}]
    )
    with pytest.raises(InvalidParameter, match="not a directory"):
        apply_tar(tar, tmp_path / "root")
    assert not [t for t in threading.enumerate() if t.name.startswith("unpack-write")]


def test_a_worker_failure_fails_the_layer(tmp_path: Path) -> None:
    tar = build_tar(
        tmp_path / "l.tar",
        [{"name": f"ok{i}", "data": b"x"} for i in range(50)] + [{"name": "x" * 300, "data": b"y"}],
    )
    with pytest.raises(InvalidParameter, match="File name too long"):
        apply_tar(tar, tmp_path / "root")
