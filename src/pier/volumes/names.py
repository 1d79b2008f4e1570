"""Volume names: checked as moby's local driver checks them."""

from __future__ import annotations

import re
import secrets

from pier.errors import InvalidParameter

_VALID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def check_name(name: str) -> str:
    if len(name) == 1:
        raise InvalidParameter(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not _VALID.match(name):
        raise InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )
    return name


def generate() -> str:
    """dockerd names anonymous volumes with 64 hex digits, like IDs."""
    return secrets.token_hex(32)
