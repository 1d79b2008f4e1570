"""Moving bytes between a pipe and the event loop without a thread hop per chunk.

A copy streams 100 MB or more through the daemon: handing each chunk to a worker
thread and back costs two wake-ups, which on a loaded machine cost more than the copy.
Here the pipe is non-blocking and the loop reads or writes it when epoll says it can.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

CHUNK = 1 << 20
PIPE_SIZE = 1 << 20  # /proc/sys/fs/pipe-max-size's default


async def _ready(fd: int, *, write: bool) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    add: Callable[..., Any] = loop.add_writer if write else loop.add_reader
    add(fd, wake)
    try:
        await done
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def relay(fd: int, write: Callable[[bytes], Awaitable[None]]) -> None:
    """Everything read from the pipe `fd` until its end, passed on to `write`."""
    os.set_blocking(fd, False)
    while True:
        try:
            block = os.read(fd, CHUNK)
        except BlockingIOError:
            await _ready(fd, write=False)
            continue
        if not block:
            return
        await write(block)


async def feed(fd: int, chunks: AsyncIterator[bytes]) -> None:
    """`chunks` written to the pipe `fd`; stops early, quietly, once its reader closed
    it (the reader's own error is the answer then)."""
    os.set_blocking(fd, False)
    async for chunk in chunks:
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                await _ready(fd, write=True)
            except BrokenPipeError:
                return
