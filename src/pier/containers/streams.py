"""The stream interfaces of containers: what a client sends, where output goes.

Attach sessions, execs, health checks and build steps all move a process's stdio;
none of them knows the wire. A client's connection is a `ClientInput` (stdin bytes,
and whether the client is still there); output goes to an `OutputSink`, which encodes
it as its transport needs (raw for a TTY, Docker's multiplexed frames, websocket
messages, a health check's bounded buffer). The API supplies the encoders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

STDIN, STDOUT, STDERR = 0, 1, 2

# (stream, data): stream is STDOUT or STDERR.
Chunk = tuple[int, bytes]


class ClientInput(Protocol):
    async def read(self) -> bytes:
        """The client's next bytes; b"" once it has closed its input (half-close)."""
        ...

    async def wait_closed(self) -> None:
        """Return once the client is gone altogether."""
        ...


class OutputSink(Protocol):
    async def send(self, chunks: Sequence[Chunk]) -> None:
        """Deliver output in order, with back-pressure; ConnectionError when the
        receiver has gone."""
        ...


class ClientStream(ClientInput, OutputSink, Protocol):
    """A client attached both ways (a hijacked connection, a websocket)."""
