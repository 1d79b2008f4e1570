"""A pierd started with `--userns-remap <user>`, for a user this session makes with
its own /etc/subuid and /etc/subgid ranges (removed at the end)."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pier.containers.userns_setting import next_free_range
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

RANGE = 65536


@dataclass(frozen=True)
class RemapUser:
    name: str
    uid_start: int
    gid_start: int


class RemappedDaemon(PierDaemon):
    """A pierd started with `--userns-remap <remap>`, or with `userns-remap` in its
    daemon.json when `in_config`."""

    def __init__(self, scope: Scope, *, remap: str, in_config: bool = False) -> None:
        super().__init__(scope)
        self.flags = [] if in_config else ["--userns-remap", remap]
        if in_config:
            config = json.loads(self.config_file.read_text())
            config["userns-remap"] = remap
            self.config_file.write_text(json.dumps(config))

    def command(self) -> list[str]:
        return [*super().command(), *self.flags]


@pytest.fixture(scope="session")
def remap_user() -> Iterator[RemapUser]:
    name = f"pt-userns-{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "-s", "/bin/false", name],
        check=True,
        capture_output=True,
    )
    try:
        uid = next_free_range(Path("/etc/subuid"))
        gid = next_free_range(Path("/etc/subgid"))
        subprocess.run(
            ["usermod", "-v", f"{uid}-{uid + RANGE - 1}", "-w", f"{gid}-{gid + RANGE - 1}", name],
            check=True,
            capture_output=True,
        )
        yield RemapUser(name=name, uid_start=uid, gid_start=gid)
    finally:
        # userdel drops the user's subordinate ranges too.
        subprocess.run(["userdel", name], check=False, capture_output=True)


def import_busybox(daemon: PierDaemon, tar: Path) -> None:
    with open(tar, "rb") as fh:
        resp = daemon.client.request(
            "POST",
            "/images/create",
            params={"fromSrc": "-", "repo": "busybox", "tag": "latest"},
            body=fh.read(),
            headers={"Content-Type": "application/x-tar"},
        )
    assert b"sha256:" in resp.read()


@pytest.fixture(scope="module")
def remapped(
    remap_user: RemapUser, busybox_tar: Path, leak_scope: Scope
) -> Iterator[RemappedDaemon]:
    daemon = RemappedDaemon(leak_scope, remap=remap_user.name)
    try:
        daemon.start()
        import_busybox(daemon, busybox_tar)
        yield daemon
        daemon.remove_all_containers()
        daemon.stop()
        left = {r for r in leak_scope.snapshot() if str(daemon.base) in r}
        assert not left, f"pierd left behind: {sorted(left)}"
    finally:
        daemon.destroy()


@pytest.fixture
def pier(remapped: RemappedDaemon) -> Iterator[RemappedDaemon]:
    """The module's remapped pierd (named `pier` so the suite's leak check runs),
    emptied of containers after the test."""
    if remapped.proc is None:
        remapped.start()
    yield remapped
    if remapped.proc is None:
        remapped.start()
    with contextlib.suppress(Exception):
        remapped.remove_all_containers()
