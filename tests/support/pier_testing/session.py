"""A CLI process (pier or docker) on pipes, its output read as it comes: the attach
and signal tests need to see output before they act."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Session:
    def __init__(self, argv: list[str], env: dict[str, str], *, stdin: bool) -> None:
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out = b""

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_until(self, marker: bytes, timeout: float = 30) -> bytes:
        """Everything read so far once it contains `marker`."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while marker not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in {self.out!r}"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                data = os.read(fd, 65536)
                assert data, f"output ended without {marker!r}: {self.out!r}"
                self.out += data
        return self.out

    def finish(self, timeout: float = 30) -> tuple[int, bytes, bytes]:
        """Close stdin, wait; (exit code, all stdout, stderr)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        rest = self.proc.stdout.read()
        err = self.proc.stderr.read()
        code = self.proc.wait(timeout)
        return code, self.out + rest, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@contextmanager
def session(argv: list[str], env: dict[str, str], *, stdin: bool) -> Iterator[Session]:
    """A Session that is killed (if still running) and closed on leaving."""
    s = Session(argv, env, stdin=stdin)
    try:
        yield s
    finally:
        s.kill()
