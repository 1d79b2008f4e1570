"""Inspect's HostConfig has every field dockerd returns for `docker create busybox`,
with Docker's defaults where Pier sets nothing.

The expected fields are dockerd's: observed on dockerd 20.10 for a CLI-made container,
less KernelMemory and KernelMemoryTCP, which moby 27 (API 1.47) tags omitempty
(api/types/container/hostconfig.go). Sysctls, Tmpfs, StorageOpt, Annotations, Mounts
and Init are omitempty too: absent when unset.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from pier_testing.daemon import PierDaemon

DOCKER = Path("/usr/local/bin/docker")

DOCKERD_FIELDS = frozenset(
    [
        "AutoRemove",
        "Binds",
        "BlkioDeviceReadBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceWriteIOps",
        "BlkioWeight",
        "BlkioWeightDevice",
        "CapAdd",
        "CapDrop",
        "Cgroup",
        "CgroupParent",
        "CgroupnsMode",
        "ConsoleSize",
        "ContainerIDFile",
        "CpuCount",
        "CpuPercent",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "CpuShares",
        "CpusetCpus",
        "CpusetMems",
        "DeviceCgroupRules",
        "DeviceRequests",
        "Devices",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "IOMaximumBandwidth",
        "IOMaximumIOps",
        "IpcMode",
        "Isolation",
        "Links",
        "LogConfig",
        "MaskedPaths",
        "Memory",
        "MemoryReservation",
        "MemorySwap",
        "MemorySwappiness",
        "NanoCpus",
        "NetworkMode",
        "OomKillDisable",
        "OomScoreAdj",
        "PidMode",
        "PidsLimit",
        "PortBindings",
        "Privileged",
        "PublishAllPorts",
        "ReadonlyPaths",
        "ReadonlyRootfs",
        "RestartPolicy",
        "Runtime",
        "SecurityOpt",
        "ShmSize",
        "UTSMode",
        "Ulimits",
        "UsernsMode",
        "VolumeDriver",
        "VolumesFrom",
    ]
)

# moby oci/defaults.go DefaultLinuxSpec, as dockerd stores them in HostConfig at create.
DOCKER_MASKED = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
}
DOCKER_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _cgroupns_default() -> str:
    # dockerd: a private cgroup namespace on a cgroup v2 host (cgroup2 mounted on
    # /sys/fs/cgroup itself), the host's on v1 and hybrid hosts.
    with open("/proc/self/mountinfo") as fh:
        unified = any(line.split()[4] == "/sys/fs/cgroup" and " - cgroup2 " in line for line in fh)
    return "private" if unified else "host"


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        yield c
    finally:
        c.close()


def test_sdk_sees_every_dockerd_field_with_dockers_defaults(client: docker.DockerClient) -> None:
    hc = client.containers.create("busybox", ["true"]).attrs["HostConfig"]
    assert set(hc) == DOCKERD_FIELDS
    defaults = {
        "CgroupnsMode": _cgroupns_default(),
        "Isolation": "",
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ShmSize": 67108864,
        "Runtime": "crun",
        "PortBindings": {},
        "Devices": [],
        "ConsoleSize": [0, 0],
        "IpcMode": "private",
        "OomKillDisable": False,
        "MemorySwappiness": None,
        "PidsLimit": None,
        "ContainerIDFile": "",
        "Cgroup": "",
        "Links": None,
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "BlkioWeightDevice": [],
        "CpuRealtimePeriod": 0,
        "IOMaximumBandwidth": 0,
        "ReadonlyPaths": DOCKER_READONLY,
    }
    assert {k: hc[k] for k in defaults} == defaults
    assert set(hc["MaskedPaths"]) >= DOCKER_MASKED
    for absent in ("MacAddress", "Tmpfs", "Mounts", "Init", "Sysctls", "KernelMemoryTCP"):
        assert absent not in hc


def test_privileged_and_unconfined_system_paths(client: docker.DockerClient) -> None:
    privileged = client.containers.create("busybox", ["true"], privileged=True)
    assert privileged.attrs["HostConfig"]["MaskedPaths"] is None
    assert privileged.attrs["HostConfig"]["ReadonlyPaths"] is None
    unconfined = client.containers.create(
        "busybox", ["true"], security_opt=["systempaths=unconfined"]
    )
    assert unconfined.attrs["HostConfig"]["MaskedPaths"] == []
    assert unconfined.attrs["HostConfig"]["ReadonlyPaths"] == []


def test_set_fields_show_through(client: docker.DockerClient) -> None:
    hc = client.containers.create(
        "busybox", ["true"], init=True, sysctls={"net.ipv4.ip_forward": "1"}, shm_size="1m"
    ).attrs["HostConfig"]
    assert hc["Init"] is True
    assert hc["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert hc["ShmSize"] == 1 << 20


@pytest.mark.docker_cli
def test_docker_inspect_format(pier: PierDaemon) -> None:
    env = pier.env()

    def docker_cli(*args: str) -> str:
        out = subprocess.run(
            [str(DOCKER), *args], env=env, capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    cid = docker_cli("create", "busybox", "true").strip()
    fmt = (
        "{{.HostConfig.ShmSize}}|{{.HostConfig.CgroupnsMode}}|{{.HostConfig.Runtime}}|"
        "{{.HostConfig.IpcMode}}|{{json .HostConfig.ReadonlyPaths}}|"
        "{{json .HostConfig.DeviceCgroupRules}}|{{json .HostConfig.ConsoleSize}}|"
        "{{.HostConfig.OomKillDisable}}"
    )
    readonly = json.dumps(DOCKER_READONLY, separators=(",", ":"))
    assert docker_cli("inspect", "-f", fmt, cid) == (
        f"67108864|{_cgroupns_default()}|crun|private|{readonly}|null|[0,0]|false\n"
    )
