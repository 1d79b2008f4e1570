"""HostConfig.CpuRealtimePeriod/Runtime and BlkioWeightDevice as dockerd 28 takes them:
real-time CPU needs the kernel's cpu.rt_* files (runconfig's validateResources) and,
to start, a share given to the parent cgroups by daemon.json's cpu-rt-period /
cpu-rt-runtime (moby's initCPURtController); a weight per device is discarded with a
warning where the blkio hierarchy has no blkio.weight_device."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.client.errors import APIError
from pier.runtime.cgroupcaps import detect
from pier_testing.api import create, inspect
from pier_testing.daemon import PierDaemon

CPU = Path("/sys/fs/cgroup/cpu")
CAPS = detect()
needs_rt = pytest.mark.skipif(
    not CAPS.cpu_realtime, reason="the kernel has no real-time group scheduling"
)


@pytest.fixture
def rt_daemon(pier: PierDaemon) -> Iterator[PierDaemon]:
    """The module's pierd restarted with cpu-rt-period/runtime in daemon.json."""
    original = pier.config_file.read_text()
    pier.stop()
    config = {**json.loads(original), "cpu-rt-period": 1000000, "cpu-rt-runtime": 20000}
    pier.config_file.write_text(json.dumps(config))
    pier.start()
    try:
        yield pier
    finally:
        pier.remove_all_containers()
        pier.stop()
        pier.config_file.write_text(original)
        pier.start()


def _refused(pier: PierDaemon, **hc: object) -> tuple[int, str]:
    with pytest.raises(APIError) as err:
        create(pier.client, ["true"], host_config=hc)
    return err.value.status, err.value.message


@needs_rt
def test_runtime_above_period_is_refused(pier: PierDaemon) -> None:
    assert _refused(pier, CpuRealtimePeriod=5000, CpuRealtimeRuntime=10000) == (
        400,
        "cpu real-time runtime cannot be higher than cpu real-time period",
    )


@pytest.mark.skipif(CAPS.cpu_realtime, reason="the kernel has real-time group scheduling")
def test_without_kernel_support_is_refused(pier: PierDaemon) -> None:
    assert _refused(pier, CpuRealtimeRuntime=5000) == (
        400,
        "kernel does not support CPU real-time scheduler",
    )


@needs_rt
def test_without_a_daemon_share_the_start_fails(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sleep", "30"], host_config={"CpuRealtimeRuntime": 10000})
    assert inspect(pier.client, cid)["HostConfig"]["CpuRealtimeRuntime"] == 10000
    with pytest.raises(APIError) as err:
        pier.client.post(f"/containers/{cid}/start")
    assert err.value.status == 500
    assert "cpu.rt_runtime_us" in err.value.message
    assert not inspect(pier.client, cid)["State"]["Running"]


@needs_rt
def test_with_the_daemon_share_the_container_gets_its_runtime(rt_daemon: PierDaemon) -> None:
    pier = rt_daemon
    cid = create(
        pier.client,
        ["sleep", "30"],
        host_config={"CpuRealtimePeriod": 1000000, "CpuRealtimeRuntime": 10000},
    )
    pier.client.post(f"/containers/{cid}/start")
    parent = CPU / pier.cgroup_parent.strip("/")
    assert (parent / "cpu.rt_runtime_us").read_text().strip() == "20000"
    assert (parent / "cpu.rt_period_us").read_text().strip() == "1000000"
    assert (parent / cid / "cpu.rt_runtime_us").read_text().strip() == "10000"
    hc = inspect(pier.client, cid)["HostConfig"]
    assert (hc["CpuRealtimePeriod"], hc["CpuRealtimeRuntime"]) == (1000000, 10000)


def test_weight_device(pier: PierDaemon) -> None:
    body = {
        "Image": "busybox",
        "Cmd": ["true"],
        "HostConfig": {"BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 300}]},
    }
    answer = pier.client.post_json("/containers/create", body)
    shown = inspect(pier.client, answer["Id"])["HostConfig"]["BlkioWeightDevice"]
    if CAPS.blkio_weight_device:
        assert answer["Warnings"] == []
        assert shown == [{"Path": "/dev/null", "Weight": 300}]
    else:
        assert answer["Warnings"] == [
            "Your kernel does not support Block I/O weight_device or the cgroup is not "
            "mounted. Weight-device discarded."
        ]
        assert shown == []


@pytest.mark.parametrize("binary", ["docker", "pier"])
def test_the_clis_send_them(pier: PierDaemon, binary: str) -> None:
    from pier_testing.binaries import PIER

    exe = "/usr/local/bin/docker" if binary == "docker" else str(PIER)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *args], env=pier.env(), capture_output=True, text=True, timeout=60
        )

    bad = cli("create", "--blkio-weight-device", "/dev/null:5", "busybox")
    assert bad.returncode == 125
    # the docker CLI's ValidateWeightDevice (each CLI words the usage part its own way)
    assert (
        'invalid argument "/dev/null:5" for "--blkio-weight-device" flag: '
        "invalid weight for device: /dev/null:5\n"
    ) in bad.stderr
    made = cli("create", "--blkio-weight-device", "/dev/null:300", "busybox", "true")
    assert made.returncode == 0, made.stderr
    shown = inspect(pier.client, made.stdout.strip())["HostConfig"]["BlkioWeightDevice"]
    assert shown == ([{"Path": "/dev/null", "Weight": 300}] if CAPS.blkio_weight_device else [])
    if CAPS.cpu_realtime:
        rt = cli("create", "--cpu-rt-period", "1000", "--cpu-rt-runtime", "2000", "busybox", "true")
        assert rt.returncode == 1
        assert rt.stderr == (
            "Error response from daemon: cpu real-time runtime cannot be higher than "
            "cpu real-time period\n"
        )
        ok = cli(
            "create", "--cpu-rt-period", "100000", "--cpu-rt-runtime", "2000", "busybox", "true"
        )
        hc = inspect(pier.client, ok.stdout.strip())["HostConfig"]
        assert (hc["CpuRealtimePeriod"], hc["CpuRealtimeRuntime"]) == (100000, 2000)
