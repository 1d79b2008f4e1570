"""The escape corpus: attempts to get out of a container, run as one shell script
inside it (tests/e2e/docker_cli/test_escapes.py, tests/integration/userns)."""

from __future__ import annotations

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


def script() -> str:
    """One `sh -c` script printing `<probe>=OK` or `<probe>=no` per probe."""
    return "; ".join(
        f'if ({cmd}) >/dev/null 2>&1; then echo "{name}=OK"; else echo "{name}=no"; fi'
        for name, cmd in PROBES.items()
    )


def parse(out: str) -> dict[str, bool]:
    result = dict(line.split("=", 1) for line in out.split())
    assert set(result) == set(PROBES), out
    return {name: value == "OK" for name, value in result.items()}
