"""What can go wrong talking to the daemon, as the CLI and tests see it."""

from __future__ import annotations


class ClientError(Exception):
    """Base class of the client's errors."""


class APIError(ClientError):
    """The daemon answered with a non-2xx status; `message` is its own wording."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


class DaemonUnreachable(ClientError):
    """Nothing listens on the socket (missing file, refused connection)."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Cannot connect to the Pier daemon at {host}. Is the pier daemon running?"
        )
        self.host = host


class ProtocolError(ClientError):
    """The daemon's bytes are not the HTTP we expect (or the hijack was refused)."""
