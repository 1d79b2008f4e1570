"""Image layers and containers' files are reachable by root only (the CVE-2021-41091
class): checked as an unprivileged host user, through setpriv."""

from __future__ import annotations

import copy
import os
import stat
import subprocess
import tarfile
from pathlib import Path

from pier_testing.api import create, inspect, wait_for
from pier_testing.daemon import PierDaemon

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*NOBODY, *argv], capture_output=True, timeout=30)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _suid_image(pier: PierDaemon, busybox_tar: Path, tmp_path: Path) -> None:
    """busybox plus a setuid-root copy of it and a world-writable /dev/null twin."""
    tar = tmp_path / "suid.tar"
    with tarfile.open(busybox_tar) as src, tarfile.open(tar, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
            if member.name == "bin/busybox":
                twin = copy.copy(member)
                twin.name, twin.mode = "bin/suid-busybox", 0o4755
                dst.addfile(twin, src.extractfile(member))
        dev = tarfile.TarInfo("dev/mynull")
        dev.type, dev.mode, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 0o666, 1, 3
        dst.addfile(dev)
    resp = pier.client.request(
        "POST",
        "/images/create",
        params={"fromSrc": "-", "repo": "suid", "tag": "latest"},
        body=tar.read_bytes(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert b"sha256:" in resp.read()


def test_layers_and_roots_are_root_only(
    pier: PierDaemon, busybox_tar: Path, tmp_path: Path
) -> None:
    _suid_image(pier, busybox_tar, tmp_path)
    layers = list((pier.data_root / "snapshots").rglob("bin/suid-busybox"))
    assert layers, "the setuid file is in a layer"
    nodes = list((pier.data_root / "snapshots").rglob("dev/mynull"))
    assert nodes
    cid = create(pier.client, ["sleep", "60"], image="suid")
    pier.client.post(f"/containers/{cid}/start")
    merged = Path(inspect(pier.client, cid)["GraphDriver"]["Data"]["MergedDir"])
    wait_for(lambda: (merged / "bin/suid-busybox").exists())

    assert _mode(pier.data_root) == 0o710
    assert _mode(pier.data_root / "snapshots") == 0o700
    assert _mode(pier.exec_root / "conmon") == 0o700
    for path in (layers[0], merged / "bin/suid-busybox"):
        out = _as_nobody(str(path), "id", "-u")
        assert (out.returncode, out.stdout) == (127, b""), out  # never ran, as root or not
        out = _as_nobody("cat", str(path))
        assert out.returncode != 0 and b"Permission denied" in out.stderr, out
    out = _as_nobody("sh", "-c", f"echo x > {nodes[0]}")
    assert out.returncode != 0 and b"Permission denied" in out.stderr
    out = _as_nobody("ls", str(pier.exec_root / "conmon"))
    assert out.returncode != 0
    pier.client.delete(f"/containers/{cid}", force=1)


def test_modes_of_an_older_layout_are_fixed_at_start(pier: PierDaemon) -> None:
    pier.stop()
    for path in (pier.data_root, pier.data_root / "snapshots", pier.exec_root / "conmon"):
        os.chmod(path, 0o755)
    pier.start()
    assert _mode(pier.data_root) == 0o710
    assert _mode(pier.data_root / "snapshots") == 0o700
    assert _mode(pier.exec_root / "conmon") == 0o700
