"""Attach sessions: a client's hijacked connection joined to a container's stdio.

Output comes from the monitor's log file (followed with inotify), not from conmon's
attach socket: conmon forwards output only to sockets it has already accepted, which
races with the container's start, while the log has every byte. Stdin goes through
the attach socket; a client's half-close becomes shutdown(SHUT_WR) there, which makes
conmon close the container's stdin (StdinOnce).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pier.containers.announce import event_attrs
from pier.containers.logs import LogFile, LogOptions, LogRecord, follow, read_logs
from pier.containers.model import Container, Status
from pier.containers.streams import Chunk, ClientInput, ClientStream
from pier.errors import Conflict, InvalidParameter
from pier.events import EventBus
from pier.runtime.base import Tasks

log = logging.getLogger(__name__)

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
STDIN_PACKET = 8192
_DRAIN_TIMEOUT = 10.0  # for the stdin a departed client left, if the process reads it


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachOptions:
    stream: bool = False
    logs: bool = False
    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    detach_keys: str | None = None


def parse_detach_keys(spec: str | None) -> bytes:
    """Docker's `--detach-keys`: "ctrl-p,ctrl-q", "a,b", "ctrl-@"...; unset or empty
    means the default. ValueError for a key Docker does not know."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            ch = key[5]
            code = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}.get(ch)
            if code is None and ch.isalpha():
                code = ord(ch.lower()) - ord("a") + 1
            if code is None:
                raise ValueError(key)
            out.append(code)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise ValueError(key)
    return bytes(out)


class AttachHost(Protocol):
    """What attach sessions need of the container service."""

    def get(self, ref: str) -> Container: ...
    def log_path(self, cid: str) -> Path: ...
    def stopped_event(self, cid: str) -> asyncio.Event: ...
    def on_created(
        self, cid: str, hook: Callable[[Container], Awaitable[None]]
    ) -> AbstractContextManager[None]: ...


class Attacher:
    def __init__(self, *, containers: AttachHost, runtime: Tasks, events: EventBus) -> None:
        self._containers = containers
        self._runtime = runtime
        self._events = events

    def prepare(self, container: Container, options: AttachOptions, ref: str) -> AttachSession:
        """Check the request (`ref` is the container as the client named it) before
        the connection is hijacked, with dockerd's wording."""
        try:
            keys = parse_detach_keys(options.detach_keys)
        except ValueError:
            raise InvalidParameter(
                f"Invalid detach keys ({options.detach_keys}) provided"
            ) from None
        if container.state.status == Status.PAUSED:
            raise Conflict(f"container {ref} is paused, unpause the container before attach")
        if container.state.status == Status.RESTARTING:
            raise Conflict(f"container {ref} is restarting, wait until the container is running")
        if not container.config.tty:
            # Docker watches for the detach sequence only on a TTY: piped binary stdin
            # may contain ctrl-p ctrl-q and must reach the container whole.
            keys = b""
        return AttachSession(
            self._containers, self._runtime, container, options, keys, self._announce
        )

    def _announce(self, action: str, container: Container) -> None:
        self._events.publish("container", action, container.id, event_attrs(container))

    async def log_batches(
        self, container: Container, options: LogOptions
    ) -> AsyncIterator[list[LogRecord]]:
        stopped = self._containers.stopped_event(container.id)
        async for batch in read_logs(
            self._containers.log_path(container.id),
            options,
            running=lambda: not stopped.is_set(),
            ended_event=stopped,
        ):
            yield batch


class AttachSession:
    def __init__(
        self,
        containers: AttachHost,
        runtime: Tasks,
        container: Container,
        options: AttachOptions,
        detach_keys: bytes,
        announce: Callable[[str, Container], None],
    ) -> None:
        self._announce = announce
        self._containers = containers
        self._runtime = runtime
        self._c = container
        self._opts = options
        self._detach_keys = detach_keys
        self._tty = container.config.tty
        self._created = asyncio.Event()
        self._offset = 0
        self._stdin_sock: socket.socket | None = None

    async def _write(self, client: ClientStream, batch: list[LogRecord]) -> None:
        out, err = self._opts.stdout, self._opts.stderr
        chunks: list[Chunk] = [(r.stream, r.data) for r in batch if (out if r.stream == 1 else err)]
        if chunks:
            await client.send(chunks)

    async def run(self, client: ClientStream) -> None:
        cid = self._c.id
        log_path = self._containers.log_path(cid)
        if self._opts.logs:
            async for batch in read_logs(
                log_path, LogOptions(), running=lambda: False, ended_event=asyncio.Event()
            ):
                await self._write(client, batch)
        # dockerd announces an attach once the logs asked for were sent, stream or not.
        self._announce("attach", self._c)
        if not self._opts.stream:
            return
        stopped = self._containers.stopped_event(cid)
        current = self._containers.get(cid)
        if current.state.has_process:
            self._offset = _size(log_path)
            if self._wants_stdin(current):
                self._stdin_sock = await self._connect_stdin()
        elif current.state.status in (Status.CREATED, Status.EXITED):
            # Wait for the next start: the hook runs between the monitor's create and the
            # process's start, so no output is missed.
            with self._containers.on_created(cid, self._on_created):
                started = asyncio.ensure_future(self._created.wait())
                gone = asyncio.ensure_future(client.wait_closed())
                await asyncio.wait({started, gone}, return_when=asyncio.FIRST_COMPLETED)
                started.cancel()
                gone.cancel()
            if not self._created.is_set():
                return
        else:
            return
        try:
            escaped = await self._pump(client, stopped)
        finally:
            if self._stdin_sock is not None:
                self._stdin_sock.close()
        if escaped:  # the detach keys, as moby's EscapeError
            self._announce("detach", self._c)

    def _wants_stdin(self, c: Container) -> bool:
        return self._opts.stdin and c.config.open_stdin

    async def _on_created(self, c: Container) -> None:
        self._offset = _size(self._containers.log_path(c.id))
        if self._wants_stdin(c):
            self._stdin_sock = await self._connect_stdin()
        self._created.set()

    async def _connect_stdin(self) -> socket.socket:
        sock = await asyncio.to_thread(self._runtime.open_attach, self._c.id)
        sock.setblocking(False)
        return sock

    async def _pump(self, client: ClientStream, exited: asyncio.Event) -> bool:
        """Whether the client left with the detach keys."""
        cid = self._c.id
        log_file = LogFile(self._containers.log_path(cid), self._offset, raw=True)
        detached = asyncio.Event()
        stdin_task = None
        if self._stdin_sock is not None:
            stdin_task = asyncio.create_task(
                pump_stdin(
                    client,
                    self._stdin_sock,
                    self._detach_keys,
                    detached,
                    close_stdin=self._c.config.stdin_once and not self._tty,
                )
            )
        else:
            stdin_task = asyncio.create_task(watch_detach(client, self._detach_keys, detached))

        async def output() -> None:
            # Only the exit event ends the stream: the record says "running" a moment
            # after the process has started.
            async for batch in follow(log_file, ended=lambda: False, ended_event=exited):
                await self._write(client, batch)

        out_task = asyncio.create_task(output())
        helpers: list[asyncio.Task[bool] | asyncio.Task[None]] = [stdin_task]
        if self._stdin_sock is not None:
            helpers.append(asyncio.create_task(_discard(self._stdin_sock)))
        closed = asyncio.ensure_future(client.wait_closed())
        detach_wait = asyncio.ensure_future(detached.wait())
        try:
            await asyncio.wait({out_task, closed, detach_wait}, return_when=asyncio.FIRST_COMPLETED)
            await drain_stdin(closed, stdin_task)
        finally:
            for task in (out_task, *helpers, closed, detach_wait):
                task.cancel()
            for task in (out_task, *helpers):
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                    await task
        return stdin_task.done() and not stdin_task.cancelled() and stdin_task.result() is True


async def drain_stdin(closed: asyncio.Future[None], stdin: asyncio.Task[bool]) -> None:
    """A client that sent stdin and then went away (no half-close) still gets what it
    sent to the process: the stdin pump reads what is queued, up to the EOF."""
    if closed.done() and not stdin.done():
        await asyncio.wait({stdin}, timeout=_DRAIN_TIMEOUT)


async def _discard(sock: socket.socket) -> None:
    """conmon copies the container's output to every attach connection and blocks
    when one is not read: ours exists for stdin (output comes from the log), so its
    output is read and dropped."""
    loop = asyncio.get_running_loop()
    while await loop.sock_recv(sock, 65536):
        pass


async def pump_stdin(
    client: ClientInput,
    sock: socket.socket,
    keys: bytes,
    stop: asyncio.Event,
    *,
    close_stdin: bool,
) -> bool:
    """Copy the client's bytes to a conmon attach socket until the detach sequence
    (then set `stop` and return True) or EOF. At EOF, as moby's CopyStreams: with `close_stdin`
    (StdinOnce without a TTY) the process's stdin is closed and output goes on;
    otherwise the process keeps its stdin and the session ends (`stop`)."""
    loop = asyncio.get_running_loop()
    matcher = DetachMatcher(keys)
    while True:
        data = await client.read()
        if not data:
            if close_stdin:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
            else:
                stop.set()
            return False
        data, hit = matcher.feed(data)
        # Each send on the SEQPACKET socket is one message, and conmon reads a
        # message into a 32 KiB buffer, dropping the rest: send in small pieces.
        for start in range(0, len(data), STDIN_PACKET):
            await loop.sock_sendall(sock, data[start : start + STDIN_PACKET])
        if hit:
            stop.set()
            return True


async def watch_detach(client: ClientInput, keys: bytes, detached: asyncio.Event) -> bool:
    """Read (and drop) the client's bytes, watching for the detach sequence only
    (True when it came)."""
    matcher = DetachMatcher(keys)
    while True:
        data = await client.read()
        if not data:
            return False
        _, hit = matcher.feed(data)
        if hit:
            detached.set()
            return True


class DetachMatcher:
    """Finds the detach sequence in stdin; bytes that may start it are held back."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self._keys:
            return data, False
        buf = self._held + data
        self._held = b""
        idx = buf.find(self._keys)
        if idx >= 0:
            return buf[:idx], True
        for n in range(min(len(self._keys) - 1, len(buf)), 0, -1):
            if self._keys.startswith(buf[-n:]):
                self._held = buf[-n:]
                return buf[:-n], False
        return buf, False


def _size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
