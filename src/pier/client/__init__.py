"""A lean Engine API client over the daemon's UNIX socket (used by `pier` and the tests)."""

from pier.client.api import Client
from pier.client.errors import APIError, ClientError, DaemonUnreachable, ProtocolError

__all__ = ["APIError", "Client", "ClientError", "DaemonUnreachable", "ProtocolError"]
