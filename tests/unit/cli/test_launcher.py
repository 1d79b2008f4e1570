"""The installed `pier` script starts its environment's interpreter with -I -S: the
user's PYTHON* variables (PYTHONPATH, PYTHONDONTWRITEBYTECODE) do not reach it, and it
still finds Pier (site-packages and the .pth paths of an editable install)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pier_testing.binaries import PIER


def test_pythonpath_does_not_reach_the_cli(tmp_path: Path) -> None:
    shadow = tmp_path / "pier"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise SystemExit(99)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [str(PIER), "--help"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage:  pier [OPTIONS] COMMAND" in done.stdout


def test_started_from_another_directory_through_a_relative_path(tmp_path: Path) -> None:
    relative = os.path.relpath(PIER, tmp_path)
    done = subprocess.run(
        [relative, "--version"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Pier version ")
