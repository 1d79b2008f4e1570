"""Escape attempts from inside containers (default, --read-only, --cap-drop ALL,
no-new-privileges): every one is denied; --privileged is allowed the harmless ones,
which shows the probes can tell."""

from __future__ import annotations

import pytest

from pier_testing.escapes import parse, script

from .conftest import DockerCLI

# What --privileged may do (harmless inside the container's own namespaces).
PRIVILEGED_CAN = {"mount-tmpfs", "bind-proc", "net-admin", "hostname", "unshare-mount"}


def _probe(docker: DockerCLI, opts: list[str]) -> dict[str, bool]:
    out = docker.ok("run", "--rm", *opts, "busybox", "sh", "-c", script(), timeout=60)
    return parse(out)


@pytest.mark.parametrize(
    "opts",
    [
        [],
        ["--read-only"],
        ["--cap-drop", "ALL"],
        ["--security-opt", "no-new-privileges"],
        ["--user", "65534"],
    ],
    ids=["default", "read-only", "cap-drop-all", "no-new-privileges", "nobody"],
)
def test_every_escape_is_denied(docker: DockerCLI, opts: list[str]) -> None:
    worked = [name for name, ok in _probe(docker, opts).items() if ok]
    assert worked == []


def test_privileged_is_told_apart(docker: DockerCLI) -> None:
    worked = {name for name, ok in _probe(docker, ["--privileged"]).items() if ok}
    assert worked >= PRIVILEGED_CAN
