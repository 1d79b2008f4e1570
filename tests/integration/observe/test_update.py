"""POST /containers/{id}/update: live limits in the cgroup files and in inspect, on
running and stopped containers, with dockerd's refusals and warnings."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from pier.client.errors import APIError
from pier.runtime import cgroupstats
from pier.runtime.cgroups import CgroupMode, read_mounts
from pier_testing.api import create, inspect
from pier_testing.daemon import PierDaemon

SLEEPER = ["sleep", "600"]
MB = 1024 * 1024


def _cgroup_file(pid: int, controller: str, v1_name: str, v2_name: str) -> str:
    own = cgroupstats.parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    mounts = read_mounts()
    if mounts.mode is CgroupMode.V2:
        assert mounts.unified is not None
        return (mounts.unified / own[""].lstrip("/") / v2_name).read_text().strip()
    return (mounts.v1[controller] / own[controller].lstrip("/") / v1_name).read_text().strip()


def _running(pier: PierDaemon, **host_config: object) -> tuple[str, int]:
    cid = create(pier.client, SLEEPER, host_config=host_config or None)
    pier.client.post(f"/containers/{cid}/start")
    return cid, int(inspect(pier.client, cid)["State"]["Pid"])


def _update(pier: PierDaemon, cid: str, **body: object) -> list[str]:
    return list(pier.client.post_json(f"/containers/{cid}/update", body)["Warnings"] or [])


def test_limits_of_a_running_container_change_in_the_cgroup(pier: PierDaemon) -> None:
    cid, pid = _running(pier)
    warnings = _update(
        pier,
        cid,
        Memory=64 * MB,
        MemorySwap=128 * MB,
        MemoryReservation=32 * MB,
        CpuShares=512,
        NanoCpus=500_000_000,
        PidsLimit=50,
        CpusetCpus="0",
    )
    assert warnings == []
    assert _cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max") == str(64 * MB)
    assert _cgroup_file(pid, "memory", "memory.soft_limit_in_bytes", "memory.low") == str(32 * MB)
    assert _cgroup_file(pid, "pids", "pids.max", "pids.max") == "50"
    assert _cgroup_file(pid, "cpuset", "cpuset.cpus", "cpuset.cpus") == "0"
    if read_mounts().mode is CgroupMode.V2:
        # the runtimes' translation (crun's and runc's alike, cgroup-v2.rst formats):
        # a weight from the shares, quota and period on one line, swap without memory
        assert _cgroup_file(pid, "cpu", "", "cpu.weight") == "20"
        assert _cgroup_file(pid, "cpu", "", "cpu.max") == "50000 100000"
        assert _cgroup_file(pid, "memory", "", "memory.swap.max") == str(64 * MB)
    else:
        assert _cgroup_file(pid, "cpu", "cpu.shares", "") == "512"
        assert _cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "") == "50000"
        assert _cgroup_file(pid, "memory", "memory.memsw.limit_in_bytes", "") == str(128 * MB)
    hc = inspect(pier.client, cid)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (64 * MB, 128 * MB, 32 * MB)
    assert (hc["CpuShares"], hc["NanoCpus"], hc["PidsLimit"], hc["CpusetCpus"]) == (
        512,
        500_000_000,
        50,
        "0",
    )
    # A pids limit of 0 lifts the limit (moby's router turns <= 0 into "unlimited").
    _update(pier, cid, PidsLimit=0)
    assert _cgroup_file(pid, "pids", "pids.max", "pids.max") == "max"
    assert inspect(pier.client, cid)["HostConfig"]["PidsLimit"] is None


def test_stopped_container_takes_its_new_limits_at_start(pier: PierDaemon) -> None:
    cid = create(pier.client, SLEEPER)
    _update(pier, cid, Memory=48 * MB, MemorySwap=-1, PidsLimit=20)
    hc = inspect(pier.client, cid)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["PidsLimit"]) == (48 * MB, -1, 20)
    pier.client.post(f"/containers/{cid}/start")
    pid = int(inspect(pier.client, cid)["State"]["Pid"])
    assert _cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max") == str(48 * MB)
    assert _cgroup_file(pid, "pids", "pids.max", "pids.max") == "20"


@pytest.mark.parametrize(
    ("created", "body", "message"),
    [
        (
            {},
            {"Memory": 64 * MB},
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time",
        ),
        ({}, {"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        (
            {"CpuPeriod": 100000},
            {"NanoCpus": 1_000_000_000},
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ),
        ({}, {"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({}, {"CpusetCpus": "0-999"}, "Requested CPUs are not available - requested 0-999"),
        (
            {"AutoRemove": True},
            {"RestartPolicy": {"Name": "always"}},
            "Restart policy cannot be updated because AutoRemove is enabled for the container",
        ),
    ],
    ids=["memory-above-swap", "tiny-memory", "nano-vs-period", "tiny-quota", "cpuset", "rm"],
)
def test_refusals_leave_the_record_as_it_was(
    pier: PierDaemon, created: dict[str, object], body: dict[str, object], message: str
) -> None:
    cid = create(pier.client, SLEEPER, host_config=created or None)
    before = inspect(pier.client, cid)["HostConfig"]
    with pytest.raises(APIError) as err:
        _update(pier, cid, **body)
    assert err.value.status == 400
    assert message in err.value.message
    assert inspect(pier.client, cid)["HostConfig"] == before


def test_unknown_container_is_404(pier: PierDaemon) -> None:
    with pytest.raises(APIError) as err:
        _update(pier, "nope", Memory=64 * MB)
    assert err.value.status == 404


def test_restart_policy_update_applies_to_the_next_exit(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "sleep 0.3; exit 3"])
    _update(pier, cid, RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 2})
    assert inspect(pier.client, cid)["HostConfig"]["RestartPolicy"] == {
        "Name": "on-failure",
        "MaximumRetryCount": 2,
    }
    pier.client.post(f"/containers/{cid}/start")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = inspect(pier.client, cid)
        if state["RestartCount"] == 2 and not state["State"]["Running"]:
            break
        time.sleep(0.1)
    assert inspect(pier.client, cid)["RestartCount"] == 2


def test_blkio_weight_warns_where_the_host_cannot(pier: PierDaemon) -> None:
    cid = create(pier.client, SLEEPER)
    mounts = read_mounts()
    capable = mounts.mode is CgroupMode.V2 or (
        "blkio" in mounts.v1 and (mounts.v1["blkio"] / "blkio.weight").exists()
    )
    warnings = _update(pier, cid, BlkioWeight=300)
    if capable:
        assert warnings == []
        assert inspect(pier.client, cid)["HostConfig"]["BlkioWeight"] == 300
    else:
        assert warnings == [
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
            "Weight discarded."
        ]
        assert inspect(pier.client, cid)["HostConfig"]["BlkioWeight"] == 0


def test_update_event(pier: PierDaemon) -> None:
    since = time.time()
    cid = create(pier.client, SLEEPER, name="updated", Labels={"team": "a"})
    _update(pier, cid, CpuShares=256)
    resp = pier.client.request(
        "GET",
        "/events",
        params={
            # Whole milliseconds, outward: rounding must not cut the event off.
            "since": f"{math.floor(since * 1000) / 1000:.3f}",
            "until": f"{math.ceil(time.time() * 1000) / 1000:.3f}",
            "filters": json.dumps({"event": ["update"]}),
        },
    )
    events = [json.loads(line) for line in resp.read().decode().splitlines()]
    assert [(e["Action"], e["Actor"]["ID"]) for e in events] == [("update", cid)]
    assert events[0]["Actor"]["Attributes"] == {"image": "busybox", "name": "updated", "team": "a"}


def _block_device() -> str | None:
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "zram", "ram")) and os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}"
    return None


def test_create_time_limits_reach_the_cgroup(pier: PierDaemon) -> None:
    mounts = read_mounts()
    device = _block_device()
    if device is None:
        pytest.skip("no block device on this host to throttle")
    rdev = os.stat(device).st_rdev
    cid, pid = _running(
        pier,
        Memory=64 * MB,
        MemorySwappiness=10,
        OomKillDisable=False,
        OomScoreAdj=300,
        CpusetMems="0",
        BlkioDeviceReadBps=[{"Path": device, "Rate": 1048576}],
        DeviceCgroupRules=["c 1:3 rwm"],
        CgroupnsMode="private",
    )
    hc = inspect(pier.client, cid)["HostConfig"]
    assert hc["MemorySwap"] == 128 * MB  # dockerd's default: twice the memory
    assert (hc["MemorySwappiness"], hc["OomKillDisable"], hc["CpusetMems"]) == (10, False, "0")
    assert hc["BlkioDeviceReadBps"] == [{"Path": device, "Rate": 1048576}]
    assert hc["DeviceCgroupRules"] == ["c 1:3 rwm"] and hc["CgroupnsMode"] == "private"
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "300"
    # A cgroup namespace of its own: the container sees its cgroup as the root.
    assert os.readlink(f"/proc/{pid}/ns/cgroup") != os.readlink("/proc/self/ns/cgroup")
    if mounts.mode is not CgroupMode.V2:
        assert _cgroup_file(pid, "memory", "memory.swappiness", "") == "10"
        throttle = _cgroup_file(pid, "blkio", "blkio.throttle.read_bps_device", "")
        assert f"{os.major(rdev)}:{os.minor(rdev)} 1048576" in throttle


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
        ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        ({"CgroupnsMode": "shared"}, "invalid cgroup namespace mode: shared"),
        (
            {"BlkioDeviceReadBps": [{"Path": "/dev/nope", "Rate": 1}]},
            "stat /dev/nope: no such file or directory",
        ),
        (
            {"MemorySwap": 64 * MB},
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
    ],
    ids=["swappiness", "oom-score", "cgroupns", "throttle-path", "swap-without-memory"],
)
def test_create_refusals(pier: PierDaemon, host_config: dict[str, object], message: str) -> None:
    with pytest.raises(APIError) as err:
        create(pier.client, SLEEPER, host_config=host_config)
    assert (err.value.status, err.value.message) == (400, message)
    assert pier.client.get_json("/containers/json", all=1) == []


def test_kernel_memory_is_ignored_as_api_1_42_does(pier: PierDaemon) -> None:
    cid = create(pier.client, SLEEPER, host_config={"KernelMemory": 64 * MB})
    assert inspect(pier.client, cid)["HostConfig"].get("KernelMemory", 0) == 0
