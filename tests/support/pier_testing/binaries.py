"""The binaries the tests run: the project's own `pier` from its venv (never one found
on PATH, which may belong to another checkout) and the real docker CLI."""

from __future__ import annotations

from pathlib import Path

PIER = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "pier"
DOCKER = Path("/usr/local/bin/docker")
