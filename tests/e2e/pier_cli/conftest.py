"""The real `pier` binary pointed at the module's pierd."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pier_testing.daemon import PierDaemon

PIER = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "pier"


class PierCLI:
    """Runs `pier -H <sock> ...`; each test asserts exit code, stdout and stderr."""

    def __init__(self, daemon: PierDaemon) -> None:
        self.host = daemon.host
        self._env = daemon.env()

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PIER), "-H", self.host, *args],
            env=self._env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str, timeout: float = 30) -> str:
        out = self(*args, timeout=timeout)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout


@pytest.fixture
def cli(pier: PierDaemon) -> PierCLI:
    return PierCLI(pier)
