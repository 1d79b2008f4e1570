"""Identifiers and join tokens.

IDs look like swarmkit's (25 characters of base 36). Join tokens keep Docker's
`SWMTKN-1-<cluster part>-<secret>` shape so the CLI and people recognise them, but the
parts are Pier's: the cluster part names the cluster, the secret is random per role.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.digits + string.ascii_lowercase


def new_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(25))


def new_token(cluster_id: str) -> str:
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(25))
    return f"SWMTKN-1-{cluster_id}{new_id()}-{secret}"


def token_cluster(token: str) -> str | None:
    """The cluster a token is for, or None when it is not a token of Pier's format."""
    parts = token.split("-")
    if len(parts) != 4 or parts[:2] != ["SWMTKN", "1"] or len(parts[2]) != 50:
        return None
    return parts[2][:25]
