"""The applier skips chown and chmod where creation already gives an entry its owner
and mode, and reads the layer through its own inflating reader: these pin down what
must still come out exactly as the tar says, and the compressed forms it must take."""

import gzip
import io
import os
import stat
import struct
import subprocess
import tarfile
import threading
import zlib
from pathlib import Path

import pytest
import zstandard

from pier.errors import InvalidParameter
from pier.images.compressed import bad_compression_is_a_400
from pier.images.unpack import apply_layer
from pier_testing.image_store import build_tar
from pier_testing.unpacked import apply_tar, tree

DIR = tarfile.DIRTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE


def _apply_bytes(data: bytes, root: Path) -> str:
    root.mkdir(exist_ok=True)
    with bad_compression_is_a_400():
        return apply_layer(io.BytesIO(data), root).diff_id


def _owner_mode(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def _applied(entries: list[dict[str, object]], tmp_path: Path, root: Path | None = None) -> Path:
    root = root or tmp_path / "root"
    apply_tar(build_tar(tmp_path / "l.tar", entries), root)
    return root


def _assert_owner_modes(root: Path, expected: dict[str, tuple[int, int, int]]) -> None:
    assert {name: _owner_mode(root / name) for name in expected} == expected


def test_entries_under_a_setgid_directory_keep_the_tars_group_and_mode(tmp_path: Path) -> None:
    # A new entry in a set-group-ID directory takes the directory's group (and a new
    # directory its bit): the applier must not take creation's defaults there.
    entries: list[dict[str, object]] = [
        {"name": "mail", "type": DIR, "mode": 0o2775, "uid": 0, "gid": 8},
        {"name": "mail/f", "data": b"x", "mode": 0o644},
        {"name": "mail/sub", "type": DIR, "mode": 0o755},
        {"name": "mail/sub/g", "data": b"y", "mode": 0o600},
        {"name": "mail/link", "type": SYM, "linkname": "f"},
        {"name": "mail/implicit/deep", "data": b"z", "mode": 0o644},
    ]
    root = _applied(entries, tmp_path)
    _assert_owner_modes(
        root,
        {
            "mail": (0, 8, 0o2775),
            "mail/f": (0, 0, 0o644),
            "mail/sub": (0, 0, 0o755),
            "mail/sub/g": (0, 0, 0o600),
            "mail/implicit/deep": (0, 0, 0o644),
        },
    )
    assert os.lstat(root / "mail" / "link")[4:6] == (0, 0)


def test_entries_on_a_grpid_mount_keep_the_tars_group(tmp_path: Path) -> None:
    # On a file system mounted `grpid` every new entry takes its directory's group,
    # set-group-ID or not: under a directory of another group a chown is still due.
    image, mnt = tmp_path / "fs.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop,grpid", str(image), str(mnt)], check=True)
    try:
        entries: list[dict[str, object]] = [
            {"name": "spool", "type": DIR, "mode": 0o755, "uid": 0, "gid": 8},
            {"name": "spool/f", "data": b"x", "mode": 0o644},
            {"name": "spool/sub", "type": DIR, "mode": 0o755},
            {"name": "spool/link", "type": SYM, "linkname": "f"},
        ]
        root = _applied(entries, tmp_path, mnt / "root")
        _assert_owner_modes(
            root,
            {"spool": (0, 8, 0o755), "spool/f": (0, 0, 0o644), "spool/sub": (0, 0, 0o755)},
        )
        assert os.lstat(root / "spool" / "link")[4:6] == (0, 0)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_modes_the_umask_would_take_and_special_bits_are_set(tmp_path: Path) -> None:
    entries: list[dict[str, object]] = [
        {"name": "open", "type": DIR, "mode": 0o777},
        {"name": "open/f", "data": b"x", "mode": 0o666},
        {"name": "tmp", "type": DIR, "mode": 0o1777},
        {"name": "tmp/s", "data": b"x", "mode": 0o4755},
        {"name": "plain", "data": b"x", "mode": 0o640, "uid": 7, "gid": 9},
        {"name": "none", "data": b"x", "mode": 0o000},
    ]
    _assert_owner_modes(
        _applied(entries, tmp_path),
        {
            "open": (0, 0, 0o777),
            "open/f": (0, 0, 0o666),
            "tmp": (0, 0, 0o1777),
            "tmp/s": (0, 0, 0o4755),
            "plain": (7, 9, 0o640),
            "none": (0, 0, 0o000),
        },
    )


def _restrictive_default_acl() -> bytes:
    """u::rwx g::--- o::--- as the kernel's posix_acl xattr holds it (no setfacl here)."""
    undefined = 0xFFFFFFFF
    entries = ((0x01, 0o7), (0x04, 0), (0x20, 0))  # USER_OBJ, GROUP_OBJ, OTHER
    return struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, undefined) for tag, perm in entries
    )


def test_modes_hold_under_a_default_acl_the_layer_directory_inherited(tmp_path: Path) -> None:
    # A default ACL above the layer's directory (set by the host's admin on pier's
    # root, say) is inherited by it: new entries then take the ACL's modes, not the
    # umask's, so the modes given at creation do not hold and must be set.
    parent = tmp_path / "acl"
    parent.mkdir()
    os.setxattr(parent, "system.posix_acl_default", _restrictive_default_acl())
    entries: list[dict[str, object]] = [
        {"name": "d", "type": DIR, "mode": 0o755},
        {"name": "d/f", "data": b"x", "mode": 0o644},
        {"name": "g", "data": b"y", "mode": 0o644},
    ]
    _assert_owner_modes(
        _applied(entries, tmp_path, parent / "root"),
        {"d": (0, 0, 0o755), "d/f": (0, 0, 0o644), "g": (0, 0, 0o644)},
    )


def _layer(tmp_path: Path) -> bytes:
    big = os.urandom(3 << 20)  # several inflate chunks
    tar = build_tar(
        tmp_path / "l.tar",
        [{"name": "big", "data": big}, {"name": "small", "data": b"hello"}],
    )
    return tar.read_bytes()


def _diff_id(raw: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_gzip_members_one_after_another_and_zero_padding(tmp_path: Path) -> None:
    raw = _layer(tmp_path)
    cut = len(raw) // 3
    # pigz and concatenated gzip files: several members; zeros after one are padding.
    data = gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]) + bytes(1024)
    assert _apply_bytes(data, tmp_path / "root") == _diff_id(raw)
    assert (tmp_path / "root" / "small").read_bytes() == b"hello"


def test_zstd_frames_one_after_another(tmp_path: Path) -> None:
    raw = _layer(tmp_path)
    cut = len(raw) // 2
    cctx = zstandard.ZstdCompressor()
    data = cctx.compress(raw[:cut]) + cctx.compress(raw[cut:])
    assert _apply_bytes(data, tmp_path / "root") == _diff_id(raw)
    assert (tmp_path / "root" / "small").read_bytes() == b"hello"


@pytest.mark.parametrize(
    "damage",
    ["truncated", "crc", "garbage-after"],
)
def test_damaged_gzip_is_a_400(tmp_path: Path, damage: str) -> None:
    data = bytearray(gzip.compress(_layer(tmp_path)))
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "crc":
        data[-6] ^= 0xFF
    else:
        data += b"not gzip at all"
    with pytest.raises(InvalidParameter, match="invalid layer tar"):
        _apply_bytes(bytes(data), tmp_path / "root")


def test_a_gzip_bomb_is_inflated_a_chunk_at_a_time(tmp_path: Path) -> None:
    # 64 MiB of zeros in one entry, about 64 KiB compressed: the applier writes it as
    # a hole, and the reader never holds more than a chunk of it.
    info = tarfile.TarInfo("zeros")
    info.size = 64 << 20
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = comp.compress(buf.getvalue()) + comp.flush()
    assert len(data) < 1 << 20
    root = tmp_path / "root"
    _apply_bytes(data, root)
    st = os.stat(root / "zeros")
    assert st.st_size == 64 << 20
    assert st.st_blocks * 512 < 1 << 20


def test_symlinks_made_by_the_workers_give_gnu_tars_tree(tmp_path: Path) -> None:
    # Symlinks are created by the writer threads too: a later entry through one, over
    # one, or replacing one must meet it as an in-order extraction would.
    entries: list[dict[str, object]] = [
        {"name": "usr", "type": DIR},
        {"name": "usr/bin", "type": DIR},
        {"name": "bin", "type": SYM, "linkname": "usr/bin", "uid": 3, "gid": 4},
        {"name": "bin/sh", "data": b"shell"},  # through the link: usr/bin/sh
        {"name": "s", "type": SYM, "linkname": "nowhere"},
        {"name": "s", "data": b"a file replaces the link"},
        {"name": "t", "data": b"a link replaces the file"},
        {"name": "t", "type": SYM, "linkname": "bin/sh"},
        {"name": "h", "type": LNK, "linkname": "t"},  # a hard link to the symlink
    ]
    for i in range(300):
        entries.append({"name": f"usr/bin/l{i}", "type": SYM, "linkname": "sh"})
    tar = build_tar(tmp_path / "l.tar", entries)
    ours, gnu = tmp_path / "ours", tmp_path / "gnu"
    apply_tar(tar, ours)
    gnu.mkdir()
    subprocess.run(["tar", "-C", str(gnu), "--numeric-owner", "-xf", str(tar)], check=True)
    assert tree(ours) == tree(gnu)
    assert (ours / "usr" / "bin" / "sh").read_bytes() == b"shell"
    assert os.lstat(ours / "bin")[4:6] == (3, 4)


def test_a_path_through_a_dangling_symlink_made_by_a_worker(tmp_path: Path) -> None:
    # Docker's applier makes the missing directory through the link (its chroot's
    # mkdir -p); GNU tar refuses, so this one is checked on its own.
    entries: list[dict[str, object]] = [
        {"name": "usr", "type": DIR},
        {"name": "lib", "type": SYM, "linkname": "usr/lib"},
        {"name": "lib/x.so", "data": b"lib"},
    ]
    root = _applied(entries, tmp_path)
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / "usr" / "lib" / "x.so").read_bytes() == b"lib"


def test_damaged_deflate_data_read_whole_is_a_400() -> None:
    # The import and load path reads a layer through `decompressed`: ISA-L's own error
    # type (module "igzip_lib") must be the client's 400 too, not a 500.
    from pier.images.compressed import decompressed

    data = bytearray(gzip.compress(bytes(range(256)) * 1000))
    data[100] ^= 0xFF
    with pytest.raises(InvalidParameter, match="invalid layer tar"), bad_compression_is_a_400():
        decompressed(io.BytesIO(bytes(data))).read()


def _unpack_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name == "layer-inflate" or t.name.startswith("unpack-write")
    ]


@pytest.mark.parametrize("where", ["first-entry", "after-small-files"])
def test_a_failing_layer_leaves_no_reading_or_writing_thread(tmp_path: Path, where: str) -> None:
    # The inflating thread is chunks ahead of the tar reader (a queue it may be blocked
    # on) and the writers hold files not yet made: a failure must stop and join both
    # before apply_layer answers, whatever the reader had not read.
    before = _unpack_threads()
    entries: list[dict[str, object]] = []
    if where == "after-small-files":
        entries += [{"name": f"f{i}", "data": os.urandom(64)} for i in range(300)]
    entries += [
        {"name": "bad", "type": LNK, "linkname": "missing"},
        {"name": "big", "data": os.urandom(12 << 20)},  # many chunks behind the failure
    ]
    data = gzip.compress(build_tar(tmp_path / "l.tar", entries).read_bytes(), compresslevel=1)
    with pytest.raises(InvalidParameter, match="does not exist"):
        _apply_bytes(data, tmp_path / "root")
    assert _unpack_threads() == before
