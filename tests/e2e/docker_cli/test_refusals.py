"""What Pier does not implement yet is refused through the docker CLI, naming the
option, and nothing is left behind (no container, no name taken)."""

from __future__ import annotations

import pytest

from .conftest import DockerCLI


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--storage-opt", "size=1G"], "--storage-opt"),
    ],
    ids=["storage-opt"],
)
def test_run_refuses_what_pier_lacks(docker: DockerCLI, args: list[str], option: str) -> None:
    out = docker("run", "--rm", "--name", "refused", *args, "busybox", "true")
    assert out.returncode == 125, out
    assert out.stderr.startswith("docker: Error response from daemon: " + option), out.stderr
    assert "not implemented in Pier yet" in out.stderr
    assert docker.names() == []


def test_malformed_volume_is_refused_at_create(docker: DockerCLI) -> None:
    out = docker("create", "-v", "/src:/dst:bogus", "busybox", "true")
    assert (out.returncode, out.stderr) == (1, "Error response from daemon: invalid mode: bogus\n")
    assert docker.names() == []
