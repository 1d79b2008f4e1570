"""CpuRealtimePeriod/Runtime and BlkioWeightDevice through moby's checks
(runconfig.validateResources, verifyPlatformContainerResources) into the OCI
resources, and the daemon's real-time share written down the parent cgroups
(initCPURtController) on a file tree laid out as the v1 cpu hierarchy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pier.containers import limits
from pier.containers.model import HostConfig, WeightDevice
from pier.errors import InvalidParameter
from pier.runtime.cgroupcaps import CgroupCaps
from pier.runtime.cgroups import CgroupMounts, init_realtime
from pier.runtime.resources import render_resources

RT = CgroupCaps(cpu_realtime=True, blkio_weight_device=True)


def test_real_time_needs_the_kernel() -> None:
    for hc in (HostConfig(cpu_realtime_period=1000), HostConfig(cpu_realtime_runtime=1000)):
        with pytest.raises(InvalidParameter, match=r"^kernel does not support CPU real-time"):
            limits.verify(hc, CgroupCaps())


def test_real_time_runtime_above_period() -> None:
    hc = HostConfig(cpu_realtime_period=5000, cpu_realtime_runtime=10000)
    with pytest.raises(InvalidParameter) as err:
        limits.verify(hc, RT)
    assert str(err.value) == "cpu real-time runtime cannot be higher than cpu real-time period"
    # one of them alone is not compared
    assert limits.verify(HostConfig(cpu_realtime_runtime=10000), RT)[1] == ()


def test_weight_device_discarded_without_the_file() -> None:
    hc = HostConfig(blkio_weight_device=(WeightDevice(path="/dev/x", major=8, minor=0, weight=5),))
    kept, warnings = limits.verify(hc, RT)
    assert kept.blkio_weight_device == hc.blkio_weight_device and warnings == ()
    dropped, warnings = limits.verify(hc, replace(RT, blkio_weight_device=False))
    assert dropped.blkio_weight_device == ()
    assert warnings == (
        "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. "
        "Weight-device discarded.",
    )


def test_weight_device_numbers_resolved_at_create() -> None:
    hc = HostConfig(
        blkio_weight_device=(WeightDevice(path="/dev/null", major=-1, minor=-1, weight=300),)
    )
    (device,) = limits.resolve_devices(hc).blkio_weight_device
    assert (device.major, device.minor, device.weight) == (1, 3, 300)
    with pytest.raises(InvalidParameter, match=r"^stat /dev/nope: no such file or directory$"):
        limits.resolve_devices(
            HostConfig(
                blkio_weight_device=(WeightDevice(path="/dev/nope", major=-1, minor=-1, weight=1),)
            )
        )


def test_oci_resources() -> None:
    hc = HostConfig(
        cpu_realtime_period=1000000,
        cpu_realtime_runtime=950000,
        blkio_weight_device=(WeightDevice(path="/dev/sda", major=8, minor=0, weight=200),),
    )
    out = render_resources(limits.resources(hc))
    assert out["cpu"] == {"realtimePeriod": 1000000, "realtimeRuntime": 950000}
    assert out["blockIO"] == {"weightDevice": [{"major": 8, "minor": 0, "weight": 200}]}
    assert render_resources(limits.resources(HostConfig())) == {}


def test_daemon_share_written_from_the_top(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    mounts = CgroupMounts(v1={"cpu": cpu})
    init_realtime("/outer/inner/", period=1000000, runtime=20000, mounts=mounts)
    for d in (cpu / "outer", cpu / "outer" / "inner"):
        assert (d / "cpu.rt_period_us").read_text() == "1000000"
        assert (d / "cpu.rt_runtime_us").read_text() == "20000"
    assert not (cpu / "cpu.rt_runtime_us").exists()  # the root is the kernel's
    # only what is set is written; ".." cannot climb out
    init_realtime("/../x", period=0, runtime=5000, mounts=mounts)
    assert (cpu / "x" / "cpu.rt_runtime_us").read_text() == "5000"
    assert not (cpu / "x" / "cpu.rt_period_us").exists()
    # v2 has no real-time groups: nothing to do
    init_realtime("/y", period=1, runtime=1, mounts=CgroupMounts(unified=tmp_path))
    assert not (tmp_path / "y").exists()
