"""GNU tar's output on its way to the client of `docker cp` (out) and `docker export`.

Best, tar writes the archive straight into the client's connection: nothing of it
passes through the daemon, and the copy is a pipeline of two processes (tar, the
client), as dockerd's own goroutines are, instead of three. The HTTP side hands over
a blocking descriptor of its socket for that (`TarBody.direct`); when it cannot (TLS,
bytes still queued) tar writes to a 1 MiB pipe the event loop relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from pier.containers import pipes


class TarBody(Protocol):
    """Where an archive goes: `write` for bytes the daemon has; `direct()` a blocking
    descriptor another process may write the whole body to, or None."""

    async def write(self, data: bytes) -> None: ...
    def direct(self) -> contextlib.AbstractContextManager[int | None]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TarJob:
    proc: subprocess.Popen[bytes]
    pipe: int | None  # the read end when tar writes to a pipe


@contextlib.contextmanager
def run_tar(args: list[str], out: int | None) -> Iterator[TarJob]:
    """GNU tar writing an archive to `out`, or (None) to a pipe the job holds."""
    rfd = wfd = -1
    if out is None:
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        # As large as the kernel allows: the reader wakes once per megabyte instead of
        # once per 64 KiB (each wake costs most on a loaded machine).
        with contextlib.suppress(OSError):
            fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, pipes.PIPE_SIZE)
    try:
        try:
            proc = subprocess.Popen(
                ["tar", "--numeric-owner", "-cf", "-", *args],
                stdout=out if out is not None else wfd,
                stderr=subprocess.DEVNULL,
            )
        finally:
            if wfd >= 0:
                os.close(wfd)
        try:
            yield TarJob(proc=proc, pipe=rfd if rfd >= 0 else None)
        finally:
            proc.kill()
            proc.wait()
    finally:
        if rfd >= 0:
            os.close(rfd)


async def send(args: list[str], body: TarBody) -> bool:
    """Run tar with `args` and deliver its archive to `body`; returns when tar is done
    (a client that goes away ends tar with SIGPIPE), whether the whole archive went."""
    with body.direct() as out:
        stack = contextlib.ExitStack()
        job = await asyncio.to_thread(stack.enter_context, run_tar(args, out))
        try:
            if job.pipe is not None:
                await pipes.relay(job.pipe, body.write)
            return await asyncio.to_thread(job.proc.wait) == 0
        finally:
            await asyncio.to_thread(stack.close)
