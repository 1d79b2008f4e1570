"""Escape attempts from inside containers (default, --read-only, --cap-drop ALL,
no-new-privileges): every one is denied; --privileged is allowed the harmless ones,
which shows the probes can tell."""

from __future__ import annotations

import pytest

from .conftest import DockerCLI

# Each probe prints OK when the attempt worked: it must never, except where noted.
PROBES = {
    # /dev is a writable tmpfs even with --read-only: the attempt is the mount itself.
    "mount-tmpfs": "mkdir -p /dev/m1 && mount -t tmpfs none /dev/m1",
    "bind-proc": "mkdir -p /dev/m2 && mount --bind /proc /dev/m2",
    "remount-proc-sys": "mount -o remount,rw /proc/sys",
    "write-proc-sys": "echo 1 > /proc/sys/vm/drop_caches",
    "read-keys": "test -s /proc/keys && cat /proc/keys | head -c1 | grep -q .",
    "sysrq": "echo h > /proc/sysrq-trigger",
    "firmware": 'ls /sys/firmware/* >/dev/null 2>&1 && test -n "$(ls /sys/firmware)"',
    "block-device": "mknod /tmp/sda b 8 0 2>/dev/null; head -c1 /tmp/sda >/dev/null",
    "mem-device": "mknod /tmp/mem c 1 1 2>/dev/null; head -c1 /tmp/mem >/dev/null",
    "unshare-user": "unshare -U -r true",
    "unshare-mount": "unshare -m true",
    "net-admin": "ip link set lo mtu 1280",
    "hostname": "hostname escaped",
    "module": "modprobe dummy",
    "kernel-hostname": "sysctl -w kernel.hostname=escaped",
}
# What --privileged may do (harmless inside the container's own namespaces).
PRIVILEGED_CAN = {"mount-tmpfs", "bind-proc", "net-admin", "hostname", "unshare-mount"}


def _probe(docker: DockerCLI, opts: list[str]) -> dict[str, bool]:
    script = "; ".join(
        f'if ({cmd}) >/dev/null 2>&1; then echo "{name}=OK"; else echo "{name}=no"; fi'
        for name, cmd in PROBES.items()
    )
    out = docker.ok("run", "--rm", *opts, "busybox", "sh", "-c", script, timeout=60)
    result = dict(line.split("=", 1) for line in out.split())
    assert set(result) == set(PROBES), out
    return {name: value == "OK" for name, value in result.items()}


@pytest.mark.parametrize(
    "opts",
    [
        [],
        ["--read-only"],
        ["--cap-drop", "ALL"],
        ["--security-opt", "no-new-privileges"],
        ["--user", "65534"],
    ],
    ids=["default", "read-only", "cap-drop-all", "no-new-privileges", "nobody"],
)
def test_every_escape_is_denied(docker: DockerCLI, opts: list[str]) -> None:
    worked = [name for name, ok in _probe(docker, opts).items() if ok]
    assert worked == []


def test_privileged_is_told_apart(docker: DockerCLI) -> None:
    worked = {name for name, ok in _probe(docker, ["--privileged"]).items() if ok}
    assert worked >= PRIVILEGED_CAN
