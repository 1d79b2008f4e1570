"""Test images made locally from Debian's busybox-static (there is no registry to
pull from)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = Path("/usr/bin/busybox")
PASSWD = (
    b"root:x:0:0:root:/root:/bin/sh\n"
    b"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    b"www-data:x:33:33:www-data:/var/www:/bin/false\n"
    b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = b"root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nstaff:x:50:www-data\nnogroup:x:65534:\n"


def _applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, check=True, text=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


def _entry(
    tf: tarfile.TarFile,
    name: str,
    *,
    data: bytes | None = None,
    mode: int = 0o755,
    kind: bytes = tarfile.DIRTYPE,
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 1_700_000_000
    info.type = kind
    info.linkname = link
    if data is not None:
        info.type = tarfile.REGTYPE
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    else:
        tf.addfile(info)


def write_busybox_tar(path: Path) -> Path:
    """A root file system with busybox and every applet linked in /bin, plus the
    /etc files a user lookup needs. Deterministic, so its image ID is stable."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for d in ("bin", "dev", "etc", "home", "proc", "root", "sys", "usr", "var"):
            _entry(tf, d, mode=0o700 if d == "root" else 0o755)
        _entry(tf, "tmp", mode=0o1777)
        info = tf.gettarinfo(str(BUSYBOX), arcname="bin/busybox")
        info.mtime = 1_700_000_000
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with open(BUSYBOX, "rb") as fh:
            tf.addfile(info, fh)
        for applet in _applets():
            _entry(tf, f"bin/{applet}", kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        _entry(tf, "etc/passwd", data=PASSWD, mode=0o644)
        _entry(tf, "etc/group", data=GROUP, mode=0o644)
    return path
