"""How a remapped container's root reaches the image's layers: idmapped mounts where
the kernel and file system allow them (this one does), shifted copies otherwise."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.snapshots.idmap import (
    IdMapping,
    IdRange,
    MappedNamespaces,
    idmapped_mounts_work,
    mount_rootfs_idmapped,
    shifted_copy,
)
from pier.snapshots.mount import unmount
from pier.snapshots.types import Mount

MAPPING = IdMapping(
    uids=(IdRange(container_id=0, host_id=200000, size=1000),),
    gids=(IdRange(container_id=0, host_id=300000, size=1000),),
)


def _mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory the mapped root may traverse (pytest's own is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="pt-userns-"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def layer(base: Path) -> Path:
    fs = base / "snap" / "fs"
    (fs / "bin").mkdir(parents=True)
    (fs / "bin" / "tool").write_text("x")
    os.chmod(fs / "bin" / "tool", 0o4755)
    os.link(fs / "bin" / "tool", fs / "bin" / "alias")  # one inode, two names
    (fs / "home").mkdir()
    os.chown(fs / "home", 5, 7)
    os.symlink("/bin/tool", fs / "link")
    os.lchown(fs / "link", 3, 4)
    return fs


def test_shifted_copy(layer: Path) -> None:
    copy = shifted_copy(layer, MAPPING)
    assert copy == layer.with_name("fs-200000.300000")
    assert _owner(copy) == (200000, 300000)
    assert _owner(copy / "bin" / "tool") == (200000, 300000)
    assert os.stat(copy / "bin" / "tool").st_ino == os.stat(copy / "bin" / "alias").st_ino
    assert stat.S_IMODE(os.stat(copy / "bin" / "tool").st_mode) == 0o4755
    assert _owner(copy / "home") == (200005, 300007)
    assert _owner(copy / "link") == (200003, 300004)
    assert os.readlink(copy / "link") == "/bin/tool"
    assert _owner(layer / "home") == (5, 7)  # the layer itself is untouched
    assert shifted_copy(layer, MAPPING) == copy  # made once
    assert not layer.with_name("fs-200000.300000.tmp").exists()


@pytest.fixture
def overlay(base: Path, layer: Path) -> Iterator[tuple[Mount, Path, Path]]:
    upper = base / "upper"
    (upper / "fs").mkdir(parents=True)
    (upper / "work").mkdir()
    target = base / "rootfs"
    target.mkdir()
    options = (f"lowerdir={layer}", f"upperdir={upper / 'fs'}", f"workdir={upper / 'work'}")
    yield Mount(type="overlay", source="overlay", options=options), target, upper / "fs"
    unmount(target)


@pytest.mark.parametrize("idmapped", [True, False], ids=["idmapped", "shifted-copy"])
def test_a_remapped_root_sees_the_layers_as_its_own(
    overlay: tuple[Mount, Path, Path], base: Path, idmapped: bool
) -> None:
    mount, target, upper = overlay
    namespaces = MappedNamespaces() if idmapped else None
    try:
        mount_rootfs_idmapped([mount], target, namespaces=namespaces, mapping=MAPPING)
    finally:
        if namespaces is not None:
            namespaces.close()
    assert _owner(target) == (200000, 300000)
    assert _owner(target / "bin" / "tool") == (200000, 300000)
    assert _owner(target / "home") == (200005, 300007)
    # Nothing but the overlay is mounted: the idmapped layers were never attached.
    assert [p for p in _mount_points() if p.startswith(str(base))] == [str(target)]
    # The mapped root writes; what it writes is stored with its host ids.
    subprocess.run(
        [
            "setpriv",
            "--reuid=200000",
            "--regid=300000",
            "--clear-groups",
            "--",
            "sh",
            "-c",
            f"echo hi > {target}/new && echo more >> {target}/bin/tool",
        ],
        check=True,
    )
    # Through an idmapped upper, what the mapped root writes is stored with the
    # container's ids (a commit is the same layer as without user namespaces); a
    # shifted copy's upper keeps the host's, as dockerd's layers.
    stored = (0, 0) if idmapped else (200000, 300000)
    assert _owner(upper / "new") == stored
    assert _owner(upper / "bin" / "tool") == stored
    assert _owner(upper) == (0, 0) if idmapped else (200000, 300000)


def test_the_probe(tmp_path: Path) -> None:
    assert idmapped_mounts_work(tmp_path / "probe")
    assert not (tmp_path / "probe").exists()
    # ramfs allows no idmapped mounts: the probe says so and leaves nothing mounted.
    ram = tmp_path / "ram"
    ram.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(ram)], check=True)
    try:
        assert not idmapped_mounts_work(ram / "probe")
        assert not any(p.startswith(str(ram / "probe")) for p in _mount_points())
    finally:
        unmount(ram)
