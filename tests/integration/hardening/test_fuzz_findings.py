"""What the API fuzz test (tests/fuzz) found, pinned with the clients that send it."""

from __future__ import annotations

import json
import subprocess

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, demux
from pier_testing.binaries import DOCKER
from pier_testing.daemon import PierDaemon


def test_gpus_are_dockerds_400_on_a_host_without_device_drivers(pier: PierDaemon) -> None:
    """Was a 501; dockerd on a host without nvidia's hook refuses with a 400."""
    out = subprocess.run(
        [str(DOCKER), "run", "--rm", "--gpus", "all", "busybox", "true"],
        capture_output=True,
        text=True,
        env=pier.env(),
        timeout=60,
    )
    assert out.returncode == 125
    assert (
        'Error response from daemon: could not select device driver "" with capabilities: '
        "[[gpu]]" in out.stderr
    ), out.stderr
    assert pier.client.get_json("/containers/json", all=1) == []  # nothing half-made


@pytest.mark.parametrize(
    ("host_config", "said"),
    [
        ({"Isolation": "hyperv"}, "invalid isolation 'hyperv' on linux"),
        (
            {"IOMaximumIOps": 10},
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps",
        ),
        ({"IOMaximumBandwidth": 1 << 20}, "Invalid QoS settings: linux does not support"),
    ],
    ids=["isolation", "io-maxiops", "io-maxbandwidth"],
)
def test_windows_options_are_dockerds_400s(
    pier: PierDaemon, host_config: dict[str, object], said: str
) -> None:
    """Were 501s; dockerd on Linux refuses them as bad parameters."""
    with pytest.raises(APIError) as caught:
        create(pier.client, ["true"], host_config=host_config)
    assert caught.value.status == 400
    assert said in str(caught.value)
    assert pier.client.get_json("/containers/json", all=1) == []


def test_windows_cpu_options_are_ignored_as_dockerd_does(pier: PierDaemon) -> None:
    """Were 501s; dockerd on Linux never looks at CpuCount and drops CpuPercent."""
    cid = create(pier.client, ["true"], host_config={"CpuCount": 2, "CpuPercent": 50})
    pier.client.post(f"/containers/{cid}/start")
    assert pier.client.post_json(f"/containers/{cid}/wait")["StatusCode"] == 0


def test_annotations_reach_the_oci_spec_and_inspect(pier: PierDaemon) -> None:
    """--annotation was a 501 (the fuzz test's longer runs found it)."""
    out = subprocess.run(
        [str(DOCKER), "create", "--annotation", "org.example.hardening=yes", "busybox", "true"],
        capture_output=True,
        text=True,
        env=pier.env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    cid = out.stdout.strip()
    pier.client.post(f"/containers/{cid}/start")
    spec = json.loads((pier.data_root / "containers" / cid / "config.json").read_text())
    assert spec["annotations"]["org.example.hardening"] == "yes"
    pier.restart()  # kept on the record
    hc = pier.client.get_json(f"/containers/{cid}/json")["HostConfig"]
    assert hc["Annotations"] == {"org.example.hardening": "yes"}
    with pytest.raises(APIError) as caught:
        create(pier.client, ["true"], host_config={"Annotations": {"": "x"}})
    assert caught.value.status == 400
    assert "the empty string is not permitted as an annotation key" in str(caught.value)


def test_custom_masked_and_read_only_paths(pier: PierDaemon) -> None:
    """Were 501s; dockerd takes the client's lists in place of its defaults."""
    probe = (
        "wc -c < /proc/cpuinfo; [ -c /proc/timer_list ] && echo timer_list masked; "
        "touch /tmp/x 2>&1 || echo tmp read-only"
    )
    hc = {"MaskedPaths": ["/proc/cpuinfo"], "ReadonlyPaths": ["/tmp"]}
    cid = create(pier.client, ["sh", "-c", probe], host_config=hc)
    pier.client.post(f"/containers/{cid}/start")
    pier.client.post_json(f"/containers/{cid}/wait")
    logs = pier.client.request("GET", f"/containers/{cid}/logs", params={"stdout": 1, "stderr": 1})
    out = b"".join(demux(logs.read())).decode()
    assert out.splitlines()[0].strip() == "0", out  # masked: /dev/null
    assert "timer_list masked" not in out  # the defaults were replaced, not added to
    assert "tmp read-only" in out
    shown = pier.client.get_json(f"/containers/{cid}/json")["HostConfig"]
    assert (shown["MaskedPaths"], shown["ReadonlyPaths"]) == (["/proc/cpuinfo"], ["/tmp"])
    default = create(pier.client, ["sh", "-c", probe])
    pier.client.post(f"/containers/{default}/start")
    pier.client.post_json(f"/containers/{default}/wait")
    logs = pier.client.request(
        "GET", f"/containers/{default}/logs", params={"stdout": 1, "stderr": 1}
    )
    assert "timer_list masked" in b"".join(demux(logs.read())).decode()  # the control


def test_volume_driver_as_dockerd_without_plugins(pier: PierDaemon) -> None:
    """Was a 501: kept and shown; the volumes it would make need its plugin."""
    docker = [str(DOCKER)]
    made = subprocess.run(
        [*docker, "create", "--volume-driver", "nosuch", "busybox", "true"],
        capture_output=True, text=True, env=pier.env(), timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    hc = pier.client.get_json(f"/containers/{made.stdout.strip()}/json")["HostConfig"]
    assert hc["VolumeDriver"] == "nosuch"
    refused = subprocess.run(
        [*docker, "create", "--volume-driver", "nosuch", "-v", "vd-data:/data", "busybox", "true"],
        capture_output=True, text=True, env=pier.env(), timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1  # docker create: 1 (run: 125)
    assert 'error looking up volume plugin nosuch: plugin "nosuch" not found' in refused.stderr
    assert "vd-data" not in {v["Name"] for v in pier.client.get_json("/volumes")["Volumes"] or []}
