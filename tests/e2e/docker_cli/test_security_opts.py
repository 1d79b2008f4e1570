"""Docker's security options through the docker CLI: seccomp profiles (default, a
custom file, unconfined), no-new-privileges, systempaths, capabilities, and what this
host cannot honour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import DockerCLI


def _status_field(docker: DockerCLI, name: str, *opts: str) -> str:
    out = docker.ok("run", "--rm", *opts, "busybox", "grep", f"^{name}:", "/proc/self/status")
    return out.split(":", 1)[1].strip()


def test_default_and_unconfined_seccomp(docker: DockerCLI) -> None:
    assert _status_field(docker, "Seccomp") == "2"
    assert _status_field(docker, "Seccomp", "--security-opt", "seccomp=unconfined") == "0"
    assert _status_field(docker, "Seccomp", "--privileged") == "0"


def test_a_custom_seccomp_profile(docker: DockerCLI, tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                ],
            }
        )
    )
    out = docker(
        "run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "mkdir", "/tmp/x"
    )
    assert out.returncode == 1
    assert "Operation not permitted" in out.stderr
    # The same profile applies to a privileged container that asks for it (moby).
    out = docker(
        "run",
        "--rm",
        "--privileged",
        "--security-opt",
        f"seccomp={profile}",
        "busybox",
        "mkdir",
        "/tmp/x",
    )
    assert out.returncode == 1


def test_a_broken_profile_is_refused_at_create(docker: DockerCLI, tmp_path: Path) -> None:
    profile = tmp_path / "broken.json"
    profile.write_text(json.dumps({"syscalls": [{"name": "a", "names": ["b"], "action": "x"}]}))
    out = docker("create", "--security-opt", f"seccomp={profile}", "busybox", "true")
    assert out.returncode == 1
    assert "both 'name' and 'names' are specified in the seccomp profile" in out.stderr
    assert docker.names() == []


@pytest.mark.parametrize(
    ("opt", "value"),
    [("no-new-privileges", "1"), ("no-new-privileges=true", "1"), ("no-new-privileges=false", "0")],
)
def test_no_new_privileges(docker: DockerCLI, opt: str, value: str) -> None:
    assert _status_field(docker, "NoNewPrivs", "--security-opt", opt) == value


def test_unknown_security_opt(docker: DockerCLI) -> None:
    out = docker("run", "--rm", "--security-opt", "speed=fast", "busybox", "true")
    assert out.returncode == 125
    assert 'invalid --security-opt 2: \\"speed=fast\\"' in out.stderr or (
        'invalid --security-opt 2: "speed=fast"' in out.stderr
    ), out.stderr
    out = docker("run", "--rm", "--security-opt", "no-new-privileges=maybe", "busybox", "true")
    assert out.returncode == 125
    assert "invalid --security-opt 2" in out.stderr


def test_systempaths_unconfined(docker: DockerCLI) -> None:
    masked = docker.ok(
        "run", "--rm", "busybox", "grep", "-c", " /proc/keys ", "/proc/self/mountinfo"
    )
    assert masked.strip() == "1"
    out = docker(
        "run",
        "--rm",
        "--security-opt",
        "systempaths=unconfined",
        "busybox",
        "grep",
        "-c",
        " /proc/keys ",
        "/proc/self/mountinfo",
    )
    assert out.stdout.strip() == "0"


def test_apparmor_where_the_host_has_none_is_a_warning(docker: DockerCLI) -> None:
    out = docker("run", "--rm", "--security-opt", "apparmor=docker-default", "busybox", "true")
    assert out.returncode == 0
    assert "AppArmor is not enabled on this host" in out.stderr


def _cap_eff(docker: DockerCLI, *opts: str) -> int:
    return int(_status_field(docker, "CapEff", *opts), 16)


def test_capabilities_with_prefix_and_all(docker: DockerCLI) -> None:
    net_admin = 1 << 12
    assert not _cap_eff(docker) & net_admin
    assert _cap_eff(docker, "--cap-add", "CAP_NET_ADMIN") & net_admin
    assert _cap_eff(docker, "--cap-add", "net_admin") & net_admin
    assert _cap_eff(docker, "--cap-drop", "ALL") == 0
    assert _cap_eff(docker, "--cap-drop", "ALL", "--cap-add", "CAP_CHOWN") == 1
