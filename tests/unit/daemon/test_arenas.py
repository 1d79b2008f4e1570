from __future__ import annotations

import subprocess
import sys

from pier.daemon import arenas

CHECK = "from pier.daemon import arenas; print(arenas.limit())"


def run(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_glibc_takes_the_limit() -> None:
    # In a child: mallopt changes the process that calls it.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    assert run(env) == "True"


def test_the_users_choice_wins() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path), "MALLOC_ARENA_MAX": "8"}
    assert run(env) == "False"
    assert arenas.ARENAS == 2
