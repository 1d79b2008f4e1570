"""`import --change` and `commit --change`: the Dockerfile parser of `pier.build` applies
them (one parser for builds and changes)."""

from __future__ import annotations

from pier.build.changes import VALID_COMMANDS, apply_changes

__all__ = ["VALID_COMMANDS", "apply_changes"]
