"""The real docker CLI pointed at the module's pierd."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pier_testing.daemon import PierDaemon

DOCKER = Path("/usr/local/bin/docker")


class DockerCLI:
    """Runs `/usr/local/bin/docker` against one pierd; nothing is checked, so each
    test asserts the exit code, stdout and stderr it cares about."""

    def __init__(self, daemon: PierDaemon) -> None:
        self._env = daemon.env()

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DOCKER), *args],
            env=self._env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def raw(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        """As calling it, but stdout and stderr stay bytes (no newline translation)."""
        return subprocess.run(
            [str(DOCKER), *args], env=self._env, capture_output=True, timeout=timeout
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(DOCKER), *args],
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ok(self, *args: str, timeout: float = 30) -> str:
        """Runs a command that must succeed; returns its stdout."""
        out = self(*args, timeout=timeout)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def names(self) -> list[str]:
        """Every container's name, running or not."""
        return self.ok("ps", "-a", "--format", "{{.Names}}").split()


@pytest.fixture
def docker(pier: PierDaemon) -> DockerCLI:
    return DockerCLI(pier)
