"""Runtime error text -> Docker's wording, and the cgroup mount table parser."""

from __future__ import annotations

import pytest

from pier.errors import InvalidParameter, SystemFailure
from pier.runtime import cgroups, seccomp
from pier.runtime.messages import create_error, runtime_message, start_error_exit_code

RUNC_NOT_FOUND = (
    'time="2024-01-01T00:00:00Z" level=error msg="runc create failed: unable to start '
    'container process: exec: \\"no-such-cmd\\": executable file not found in $PATH"\n'
)


@pytest.mark.parametrize(
    ("runtime", "stderr", "exe", "detail", "code"),
    [
        (
            "runc",
            RUNC_NOT_FOUND,
            "no-such-cmd",
            'runc create failed: unable to start container process: exec: "no-such-cmd": '
            "executable file not found in $PATH",
            127,
        ),
        (
            "crun",
            "executable file `no-such-cmd` not found in $PATH: No such file or directory\n",
            "no-such-cmd",
            'crun create failed: unable to start container process: exec: "no-such-cmd": '
            "executable file not found in $PATH",
            127,
        ),
        (
            "crun",
            "executable file `/a/b` not found in $PATH: No such file or directory\n",
            "/a/b",
            'crun create failed: unable to start container process: exec: "/a/b": stat /a/b: '
            "no such file or directory",
            127,
        ),
        (
            "crun",
            "open executable: Permission denied\n",
            "/x",
            'crun create failed: unable to start container process: exec: "/x": permission denied',
            126,
        ),
        (
            "crun",
            "open executable: Operation not permitted\n",
            "/dir",
            'crun create failed: unable to start container process: exec: "/dir": '
            "permission denied",
            126,
        ),
    ],
    ids=["runc-not-found", "crun-not-found", "crun-missing-path", "crun-eacces", "crun-dir"],
)
def test_create_error(runtime: str, stderr: str, exe: str, detail: str, code: int) -> None:
    err = create_error(runtime, stderr, exe)
    assert isinstance(err, InvalidParameter)
    assert str(err) == (
        "failed to create task for container: failed to create shim task: "
        f"OCI runtime create failed: {detail}: unknown"
    )
    assert start_error_exit_code(str(err)) == code


def test_other_create_error_is_500() -> None:
    err = create_error(
        "crun", "crun: mount `proc` to `/proc`: Operation not permitted: OCI\n", "sh"
    )
    assert isinstance(err, SystemFailure)
    assert start_error_exit_code("boom") is None
    assert runtime_message("") == ""


MOUNTINFO_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        (MOUNTINFO_HYBRID, cgroups.CgroupMode.HYBRID),
        ("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", cgroups.CgroupMode.V2),
        ("\n".join(MOUNTINFO_HYBRID.splitlines()[:3]), cgroups.CgroupMode.V1),
    ],
    ids=["hybrid", "v2", "v1"],
)
def test_cgroup_mode(text: str, mode: cgroups.CgroupMode) -> None:
    assert cgroups.parse_mountinfo(text).mode is mode


def test_cgroup_v1_controllers() -> None:
    m = cgroups.parse_mountinfo(MOUNTINFO_HYBRID)
    assert str(m.v1["cpuacct"]) == "/sys/fs/cgroup/cpu,cpuacct"
    assert str(m.v1["name=systemd"]) == "/sys/fs/cgroup/systemd"
    assert str(m.unified) == "/sys/fs/cgroup/unified"


def test_seccomp_render_arches() -> None:
    profile = seccomp.render([], machine="x86_64", kernel_release="6.1.0")
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = {n for r in profile["syscalls"] for n in r["names"]}
    assert "arch_prctl" in names  # amd64-only rule
    assert "s390_pci_mmio_read" not in names
    old = seccomp.render([], machine="x86_64", kernel_release="4.4.0")
    assert len(old["syscalls"]) == len(profile["syscalls"]) - 1  # the minKernel 4.8 rule
