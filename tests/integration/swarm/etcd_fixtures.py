"""Real etcd members for the cluster-store tests, each in a short /tmp directory (the
client socket's absolute path must fit in sun_path)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from pier.cluster.member import EtcdMember
from pier_testing.procs import cmdlines


def etcd_processes(marker: str) -> list[int]:
    """etcd processes whose command line names `marker` (a test's directory)."""
    found = [
        pid
        for pid, cmdline in cmdlines()
        if b"etcd" in cmdline.split(b"\0")[0] and marker.encode() in cmdline
    ]
    return found


def short_dir() -> Iterator[Path]:
    base = Path(f"/tmp/pe-{secrets.token_hex(4)}")
    base.mkdir()
    try:
        yield base
        assert etcd_processes(str(base)) == [], "etcd left running"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def member(base: Path, name: str) -> EtcdMember:
    return EtcdMember(
        name=name, socket_dir=base / name / "run", data_dir=base / name / "etcd" / "data"
    )
