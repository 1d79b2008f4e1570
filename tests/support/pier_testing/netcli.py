"""The real docker CLI for the networking tests, and cleaning networks up."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from pier.client.errors import ClientError
from pier_testing.daemon import PierDaemon

DOCKER = Path("/usr/local/bin/docker")


class Docker:
    def __init__(self, daemon: PierDaemon) -> None:
        self.daemon = daemon
        self._env = daemon.env()

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DOCKER), *args], env=self._env, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str, timeout: float = 60) -> str:
        out = self(*args, timeout=timeout)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def inspect(self, ref: str, template: str) -> str:
        return self.ok("inspect", "-f", template, ref).strip()


def remove_networks(daemon: PierDaemon) -> None:
    for net in daemon.client.get_json("/networks"):
        if net["Name"] not in ("bridge", "host", "none"):
            with contextlib.suppress(ClientError):
                daemon.client.delete(f"/networks/{net['Id']}")
