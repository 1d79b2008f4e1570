"""OCI config generation: Docker's defaults and how the options change them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pier.errors import InvalidParameter
from pier.runtime.capabilities import DEFAULT_CAPABILITIES, KNOWN_CAPABILITIES
from pier.runtime.process import render_process
from pier.runtime.resources import render_resources
from pier.runtime.spec import (
    HOST,
    ContainerSpec,
    DeviceSpec,
    HostFacts,
    MountSpec,
    NamespaceMode,
    NamespaceSpec,
    ProcessSpec,
    Resources,
    Ulimit,
    build_config,
    container_process,
    secure_process,
)

EMPTY: MappingProxyType[str, str] = MappingProxyType({})
FACTS = HostFacts(
    nofile_hard=20000,
    cgroup_v2=False,
    capabilities=KNOWN_CAPABILITIES[:41],
    sysctls_present=frozenset({"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}),
    host_devices=(DeviceSpec(path="/dev/sda", type="b", major=8, minor=0),),
)


def make(**changes: Any) -> ContainerSpec:
    base = ContainerSpec(
        cid="c" * 64,
        rootfs=Path("/var/lib/pier/snap/1/fs"),
        hostname="cccccccccccc",
        process=ProcessSpec(args=("sh", "-c", "true"), env=("PATH=/bin",)),
        cgroups_path="/pier/" + "c" * 64,
    )
    return replace(base, **changes)


def mount(config: dict[str, Any], dest: str) -> dict[str, Any] | None:
    return next((m for m in config["mounts"] if m["destination"] == dest), None)


def test_defaults() -> None:
    config = build_config(make(), FACTS)
    process = config["process"]
    assert process["args"] == ["sh", "-c", "true"]
    assert process["capabilities"]["bounding"] == list(DEFAULT_CAPABILITIES)
    assert process["capabilities"]["effective"] == list(DEFAULT_CAPABILITIES)
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}]
    assert process["noNewPrivileges"] is False
    assert config["root"] == {"path": "/var/lib/pier/snap/1/fs", "readonly": False}
    assert config["hostname"] == "cccccccccccc"
    linux = config["linux"]
    assert [n["type"] for n in linux["namespaces"]] == ["mount", "network", "uts", "pid", "ipc"]
    assert "/proc/kcore" in linux["maskedPaths"]
    assert "/proc/sys" in linux["readonlyPaths"]
    assert linux["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert linux["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "0"
    assert linux["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert mount(config, "/dev/shm")["options"][-1] == "size=67108864"  # type: ignore[index]
    assert mount(config, "/sys")["options"][-1] == "ro"  # type: ignore[index]
    assert [m["destination"] for m in config["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    ]


@pytest.mark.parametrize(
    ("add", "drop", "expected"),
    [
        (("NET_ADMIN",), (), [*DEFAULT_CAPABILITIES, "CAP_NET_ADMIN"]),
        (
            (),
            ("chown", "CAP_KILL"),
            [c for c in DEFAULT_CAPABILITIES if c not in ("CAP_CHOWN", "CAP_KILL")],
        ),
        (("ALL",), ("MKNOD",), [c for c in KNOWN_CAPABILITIES if c != "CAP_MKNOD"]),
        (("NET_RAW",), ("ALL",), ["CAP_NET_RAW"]),
        ((), ("all",), []),
    ],
    ids=["add", "drop", "add-all", "drop-all", "drop-all-only"],
)
def test_cap_add_drop(add: tuple[str, ...], drop: tuple[str, ...], expected: list[str]) -> None:
    config = build_config(make(cap_add=add, cap_drop=drop), FACTS)
    assert config["process"]["capabilities"]["bounding"] == expected


def test_unknown_capability() -> None:
    with pytest.raises(InvalidParameter, match="unknown capability"):
        build_config(make(cap_add=("FLY",)), FACTS)


def test_seccomp_follows_capabilities() -> None:
    def names(config: dict[str, Any]) -> set[str]:
        return {n for rule in config["linux"]["seccomp"]["syscalls"] for n in rule["names"]}

    assert "mount" not in names(build_config(make(), FACTS))
    assert "mount" in names(build_config(make(cap_add=("SYS_ADMIN",)), FACTS))
    assert "ptrace" in names(build_config(make(), FACTS))  # kernel >= 4.8 rule


def test_privileged() -> None:
    config = build_config(make(privileged=True, cap_drop=("CHOWN",)), FACTS)
    assert config["process"]["capabilities"]["bounding"] == list(KNOWN_CAPABILITIES)
    linux = config["linux"]
    assert "seccomp" not in linux
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert linux["devices"][0]["path"] == "/dev/sda"
    assert "ro" not in mount(config, "/sys")["options"]  # type: ignore[index]


def test_unconfined_options() -> None:
    config = build_config(make(seccomp_unconfined=True, masked_paths_unconfined=True), FACTS)
    assert "seccomp" not in config["linux"]
    assert "maskedPaths" not in config["linux"]
    assert build_config(make(no_new_privileges=True), FACTS)["process"]["noNewPrivileges"]


def test_init() -> None:
    config = build_config(make(init_path="/usr/bin/tini-static"), FACTS)
    assert config["process"]["args"] == ["/sbin/docker-init", "--", "sh", "-c", "true"]
    assert mount(config, "/sbin/docker-init") == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/usr/bin/tini-static",
        "options": ["bind", "ro"],
    }
    # No init when the pid namespace is not the container's own.
    config = build_config(make(init_path="/usr/bin/tini-static", pid=HOST), FACTS)
    assert config["process"]["args"][0] == "sh"


def test_user_and_groups() -> None:
    process = ProcessSpec(
        args=("id",),
        env=(),
        cwd="/w",
        uid=1000,
        gid=100,
        additional_gids=(10, 20),
        terminal=True,
        umask=0o22,
    )
    config = build_config(make(process=process), FACTS)
    assert config["process"]["user"] == {
        "uid": 1000,
        "gid": 100,
        "additionalGids": [10, 20],
        "umask": 0o22,
    }
    assert config["process"]["terminal"] is True
    assert config["process"]["cwd"] == "/w"


def test_readonly_rootfs() -> None:
    config = build_config(make(readonly_rootfs=True), FACTS)
    assert config["root"]["readonly"] is True
    assert "ro" in mount(config, "/sys/fs/cgroup")["options"]  # type: ignore[index]
    assert "ro" not in mount(config, "/dev/shm")["options"]  # type: ignore[index]
    assert "ro" not in mount(config, "/proc")["options"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"network": HOST}, ["mount", "uts", "pid", "ipc"]),
        ({"uts_host": True}, ["mount", "network", "pid", "ipc"]),
        ({"pid": HOST, "ipc": HOST}, ["mount", "network", "uts"]),
    ],
    ids=["net-host", "uts-host", "pid-ipc-host"],
)
def test_namespace_modes(changes: dict[str, Any], expected: list[str]) -> None:
    config = build_config(make(**changes), FACTS)
    assert [n["type"] for n in config["linux"]["namespaces"]] == expected


def test_namespace_path_and_cgroup_v2() -> None:
    net = NamespaceSpec(mode=NamespaceMode.PATH, path="/proc/42/ns/net")
    config = build_config(make(network=net), replace(FACTS, cgroup_v2=True))
    namespaces = config["linux"]["namespaces"]
    assert {"type": "network", "path": "/proc/42/ns/net"} in namespaces
    assert {"type": "cgroup"} in namespaces
    # Joined network: the default net sysctls are not ours to set.
    assert "net.ipv4.ping_group_range" not in config["linux"]["sysctl"]


def test_uts_host_has_no_hostname() -> None:
    assert "hostname" not in build_config(make(uts_host=True), FACTS)


def test_ipc_host_and_none() -> None:
    host = build_config(make(ipc=HOST), FACTS)
    assert mount(host, "/dev/shm")["type"] == "bind"  # type: ignore[index]
    assert mount(build_config(make(shm_size=0), FACTS), "/dev/shm") is None


def test_ulimits_and_clamp() -> None:
    facts = replace(FACTS, nofile_hard=2_000_000)
    assert build_config(make(), facts)["process"]["rlimits"][0]["hard"] == 1048576
    config = build_config(
        make(
            ulimits=(
                Ulimit(name="nofile", soft=100, hard=200),
                Ulimit(name="nproc", soft=5, hard=6),
            )
        ),
        FACTS,
    )
    assert config["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100},
        {"type": "RLIMIT_NPROC", "hard": 6, "soft": 5},
    ]
    with pytest.raises(InvalidParameter):
        build_config(make(ulimits=(Ulimit(name="bogus", soft=1, hard=1),)), FACTS)


def test_user_mount_overrides_default() -> None:
    shm = MountSpec(destination="/dev/shm", type="bind", source="/x", options=("rbind",))
    config = build_config(make(mounts=(shm,)), FACTS)
    found = [m for m in config["mounts"] if m["destination"] == "/dev/shm"]
    assert found == [
        {"destination": "/dev/shm", "type": "bind", "source": "/x", "options": ["rbind"]}
    ]
    dev = MountSpec(destination="/dev", type="bind", source="/dev", options=("rbind",))
    dests = [m["destination"] for m in build_config(make(mounts=(dev,)), FACTS)["mounts"]]
    assert "/dev/pts" not in dests and "/dev/mqueue" not in dests


def test_resources_and_devices() -> None:
    res = Resources(
        memory=1 << 20,
        memory_swap=-1,
        cpu_shares=512,
        cpu_quota=50000,
        cpu_period=100000,
        cpuset_cpus="0",
        pids_limit=-1,
    )
    device = DeviceSpec(path="/dev/fuse", type="c", major=10, minor=229, permissions="rw")
    config = build_config(
        make(resources=res, devices=(device,), device_cgroup_rules=("c 1:3 rwm", "b *:* m")),
        FACTS,
    )
    r = config["linux"]["resources"]
    assert r["memory"] == {"limit": 1 << 20, "swap": -1}
    assert r["cpu"] == {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}
    assert "pids" not in r  # unlimited: a new cgroup's default
    assert r["devices"][-3:] == [
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "b", "access": "m"},
    ]
    assert config["linux"]["devices"][0]["path"] == "/dev/fuse"
    with pytest.raises(InvalidParameter):
        build_config(make(device_cgroup_rules=("x 1:2 q",)), FACTS)


def test_sysctls_and_annotations() -> None:
    config = build_config(
        make(sysctls={"net.ipv4.ip_unprivileged_port_start": "1024"}, annotations={"a": "b"}),
        FACTS,
    )
    assert config["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "1024"
    assert config["annotations"] == {"a": "b"}


def test_one_renderer_for_a_container_and_its_execs() -> None:
    spec = make(
        cap_drop=("NET_RAW",),
        no_new_privileges=True,
        ulimits=(Ulimit(name="nproc", soft=5, hard=6),),
        oom_score_adj=500,
    )
    container = container_process(spec, FACTS)
    assert build_config(spec, FACTS)["process"] == render_process(container)
    # An exec: another command, user and terminal, the container's privileges.
    exec_p = secure_process(
        ProcessSpec(args=("id",), uid=33, gid=33, terminal=True, console_size=(24, 80)),
        privileged=False,
        cap_add=(),
        cap_drop=("NET_RAW",),
        no_new_privileges=True,
        ulimits=(Ulimit(name="nproc", soft=5, hard=6),),
        oom_score_adj=500,
        facts=FACTS,
    )
    rendered = render_process(exec_p)
    for key in ("capabilities", "rlimits", "noNewPrivileges", "oomScoreAdj"):
        assert rendered[key] == render_process(container)[key], key
    assert "CAP_NET_RAW" not in rendered["capabilities"]["effective"]
    assert rendered["consoleSize"] == {"height": 24, "width": 80}
    assert rendered["user"] == {"uid": 33, "gid": 33}


def test_process_labels_render_when_set() -> None:
    p = ProcessSpec(args=("true",), apparmor_profile="docker-default", selinux_label="s0:c1")
    rendered = render_process(p)
    assert (rendered["apparmorProfile"], rendered["selinuxLabel"]) == ("docker-default", "s0:c1")
    assert "apparmorProfile" not in render_process(ProcessSpec(args=("true",)))
    # A console size is a terminal's only.
    assert "consoleSize" not in render_process(ProcessSpec(args=("x",), console_size=(1, 2)))


def test_update_resources_hold_only_what_is_set() -> None:
    assert render_resources(Resources()) == {}
    assert render_resources(Resources(memory=64 << 20, pids_limit=32, blkio_weight=300)) == {
        "memory": {"limit": 64 << 20},
        "pids": {"limit": 32},
        "blockIO": {"weight": 300},
    }
    lifted = Resources(pids_limit=-1, cpuset_mems="0")
    assert render_resources(lifted, update=True) == {"pids": {"limit": -1}, "cpu": {"mems": "0"}}
    assert render_resources(lifted) == {"cpu": {"mems": "0"}}
