"""pierd reads an image's /etc/passwd and /etc/group and makes its WORKDIR from the
host: hostile images must not make it read the host's files, block, or grow."""

from __future__ import annotations

import tarfile
import threading
from pathlib import Path

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, wait
from pier_testing.daemon import PierDaemon


def _variant(busybox_tar: Path, out: Path, replace: dict[str, tarfile.TarInfo]) -> Path:
    """The busybox root file system with some entries replaced (data-less ones)."""
    with tarfile.open(busybox_tar) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            if member.name in replace:
                continue
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name, info in replace.items():
            info.name = name
            dst.addfile(info)
    return out


def _import(pier: PierDaemon, tar: Path, repo: str) -> None:
    resp = pier.client.request(
        "POST",
        "/images/create",
        params={"fromSrc": "-", "repo": repo, "tag": "latest"},
        body=tar.read_bytes(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert b"sha256:" in resp.read()


def _special(kind: bytes, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo()
    info.type = kind
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _start(pier: PierDaemon, image: str, **config: object) -> int:
    cid = create(pier.client, ["true"], image=image, **config)
    pier.client.post(f"/containers/{cid}/start")
    return wait(pier.client, cid)


def _pid(pier: PierDaemon) -> int:
    assert pier.proc is not None
    return pier.proc.pid


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_passwd_as_a_fifo_blocks_nothing(
    pier: PierDaemon, busybox_tar: Path, tmp_path: Path
) -> None:
    tar = _variant(busybox_tar, tmp_path / "fifo.tar", {"etc/passwd": _special(tarfile.FIFOTYPE)})
    _import(pier, tar, "fifo-passwd")
    # More starts at once than pierd has worker threads: none may hang on the FIFO.
    codes: list[int] = []
    threads = [
        threading.Thread(target=lambda: codes.append(_start(pier, "fifo-passwd", User="0")))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert codes == [0] * 10
    assert pier.client.get_json("/images/json")
    with pytest.raises(APIError, match="unable to find user nobody"):
        _start(pier, "fifo-passwd", User="nobody")


def test_passwd_as_a_device_is_not_read(
    pier: PierDaemon, busybox_tar: Path, tmp_path: Path
) -> None:
    zero = _special(tarfile.CHRTYPE, devmajor=1, devminor=5)
    tar = _variant(busybox_tar, tmp_path / "zero.tar", {"etc/passwd": zero, "etc/group": zero})
    _import(pier, tar, "zero-passwd")
    before = _rss_kib(_pid(pier))
    assert _start(pier, "zero-passwd", User="0:0") == 0
    assert _rss_kib(_pid(pier)) - before < 64 * 1024  # reading /dev/zero would take GiBs


def test_passwd_symlink_to_a_host_file_reads_the_image_only(
    pier: PierDaemon, busybox_tar: Path, tmp_path: Path
) -> None:
    host_passwd = tmp_path / "host-passwd"
    host_passwd.write_text("hostuser:x:4242:4242::/:/bin/sh\n")
    link = _special(tarfile.SYMTYPE, linkname=str(host_passwd))
    tar = _variant(busybox_tar, tmp_path / "link.tar", {"etc/passwd": link})
    _import(pier, tar, "link-passwd")
    with pytest.raises(APIError, match="unable to find user hostuser"):
        _start(pier, "link-passwd", User="hostuser")


def test_workdir_through_a_symlink_is_not_made_on_the_host(
    pier: PierDaemon, busybox_tar: Path, tmp_path: Path
) -> None:
    target = tmp_path / "outside"
    link = _special(tarfile.SYMTYPE, linkname=str(target))
    tar = _variant(busybox_tar, tmp_path / "wd.tar", {"work": link})
    _import(pier, tar, "workdir-link")
    with pytest.raises(APIError):
        _start(pier, "workdir-link", WorkingDir="/work/sub")
    assert not target.exists()


def test_workdir_is_made_for_the_user(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "stat -c %u:%g /a/b/c"], User="33", WorkingDir="/a/b/c")
    pier.client.post(f"/containers/{cid}/start")
    assert wait(pier.client, cid) == 0
    out = pier.client.request("GET", f"/containers/{cid}/logs", params={"stdout": 1}).read()
    assert out.endswith(b"33:33\n")
