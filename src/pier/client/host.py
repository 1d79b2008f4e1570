"""Which daemon to talk to: `-H`, then PIER_HOST, then a unix:// DOCKER_HOST."""

from __future__ import annotations

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


DEFAULT_HOST = "unix:///run/pier/pier.sock"


class InvalidHost(ValueError):
    pass


def resolve_host(flag: str | None, environ: Mapping[str, str]) -> str:
    """The daemon address as a `unix://` URL."""
    if flag:
        host = flag
    elif environ.get("PIER_HOST"):
        host = environ["PIER_HOST"]
    elif environ.get("DOCKER_HOST", "").startswith("unix://"):
        # Other DOCKER_HOST schemes (tcp, ssh) point at a Docker, not at us.
        host = environ["DOCKER_HOST"]
    else:
        host = DEFAULT_HOST
    if host.startswith("/"):
        host = "unix://" + host
    if not host.startswith("unix://") or len(host) == len("unix://"):
        raise InvalidHost(f"unsupported host {host!r}: only unix:// sockets are supported")
    return host


def socket_path(host: str) -> str:
    return host[len("unix://") :] if host.startswith("unix://") else host
