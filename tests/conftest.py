"""Suite-wide fixtures: a real pierd per test module, the busybox test image, a
registry on loopback, and the leak check every test passes through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pier_testing.daemon import PierDaemon
from pier_testing.images import write_busybox_tar
from pier_testing.leaks import Scope
from pier_testing.registry import DistributionRegistry

_SCOPE = Scope()


@pytest.fixture(scope="session")
def leak_scope() -> Scope:
    return _SCOPE


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_busybox_tar(tmp_path_factory.mktemp("images") / "busybox.tar")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """Debian's docker-registry (distribution 2.8) on loopback, no auth, per module."""
    reg = DistributionRegistry(tmp_path_factory.mktemp("registry")).start()
    try:
        yield reg
    finally:
        reg.stop()


def _import_busybox(daemon: PierDaemon, tar: Path) -> str:
    with open(tar, "rb") as fh:
        resp = daemon.client.request(
            "POST",
            "/images/create",
            params={"fromSrc": "-", "repo": "busybox", "tag": "latest"},
            body=fh.read(),
            headers={"Content-Type": "application/x-tar"},
        )
    lines = [line for line in resp.read().decode().splitlines() if line.strip()]
    assert '"status":"sha256:' in lines[-1].replace(" ", ""), lines
    return str(daemon.client.get_json("/images/busybox/json")["Id"])


@pytest.fixture(scope="module")
def pierd(busybox_tar: Path) -> Iterator[PierDaemon]:
    """A running pierd with busybox:latest imported, shared by one module's tests.
    At the end every container is removed and nothing may be left on the host."""
    daemon = PierDaemon(_SCOPE)
    try:
        daemon.start()
        _import_busybox(daemon, busybox_tar)
        yield daemon
        daemon.remove_all_containers()
        daemon.stop()
        left = {r for r in _SCOPE.snapshot() if str(daemon.base) in r}
        assert not left, f"pierd left behind: {sorted(left)}"
    finally:
        daemon.destroy()


@pytest.fixture
def pier(pierd: PierDaemon) -> Iterator[PierDaemon]:
    """The module's pierd, emptied of containers after the test."""
    if pierd.proc is None:
        pierd.start()
    yield pierd
    if pierd.proc is None:
        pierd.start()
    pierd.remove_all_containers()


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test that leaves mounts, monitor processes or cgroups of any daemon this
    process started (only resources under those daemons' roots are looked at)."""
    before = _SCOPE.snapshot()
    yield
    if "pier" not in request.fixturenames:
        return
    leaked = sorted(_SCOPE.settled(before))
    assert not leaked, f"leaked: {leaked}"
