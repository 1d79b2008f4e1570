"""What the API fuzz test (tests/fuzz) found, pinned with the clients that send it."""

from __future__ import annotations

import subprocess

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
