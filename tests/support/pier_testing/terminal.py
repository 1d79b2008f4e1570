"""A command run under a real pseudo-terminal, as a person at a terminal would run it.

The child gets a new session whose controlling terminal is the pty's slave, so the
kernel's line discipline, job control and SIGWINCH behave as in a terminal emulator.
`expect` reads what the child wrote to the screen; `resize` changes the window size
as a terminal emulator does; `close` kills the child's whole process group.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from types import TracebackType

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-byte escapes such as ESC 7:
# what a terminal would interpret rather than show.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[@-Z\\-_78=>]"
)


def visible(raw: str) -> str:
    """The text a reader sees: escape sequences and carriage returns removed."""
    return _ESCAPES.sub("", raw).replace("\r", "")


class Terminal:
    """One child process on a fresh pty of a given size.

    Reading happens only inside `expect`, `wait` and `drain`: the tests' children
    write little, far less than the pty's buffer, so no reader thread is needed.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        rows: int = 24,
        cols: int = 80,
    ) -> None:
        self.argv = list(argv)
        self._raw = bytearray()
        self._cursor = 0
        master, slave = os.openpty()
        self._master = master
        try:
            _set_size(master, rows, cols)
            self.proc = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                # After setsid the child has no controlling terminal; make it the pty.
                preexec_fn=_take_controlling_terminal,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            # Only the child may hold the slave: when it exits, reads get EIO (EOF).
            os.close(slave)
        self._eof = False

    # -- input ---------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Type `data` (raw bytes: b"\\r" is Enter, b"\\x03" is ctrl-C)."""
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]

    def sendline(self, line: str) -> None:
        self.send(line.encode() + b"\r")

    def resize(self, rows: int, cols: int) -> None:
        """Set the window size on the master and tell the child with SIGWINCH, as a
        terminal emulator does (the kernel signals the foreground group too)."""
        _set_size(self._master, rows, cols)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGWINCH)

    @property
    def size(self) -> tuple[int, int]:
        return _get_size(self._master)

    def foreground_group(self) -> int:
        """The terminal's foreground process group: a job control shell hands it to the
        job it runs, and ctrl-C signals that group."""
        return os.tcgetpgrp(self._master)

    # -- output --------------------------------------------------------------------

    @property
    def raw(self) -> bytes:
        """Every byte the child wrote so far."""
        return bytes(self._raw)

    @property
    def screen(self) -> str:
        """Everything the child wrote so far, as `visible` text."""
        return visible(self._raw.decode(errors="replace"))

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Wait until `pattern` appears in the visible output after the previous match.

        Returns the match; the next `expect` looks only after its end. Fails with the
        unread screen text when the pattern does not show within `timeout` seconds or
        the child closes the terminal first.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen
            match = regex.search(text, self._cursor)
            if match is not None:
                self._cursor = match.end()
                return match
            remaining = deadline - time.monotonic()
            if self._eof or remaining <= 0:
                why = "the terminal closed" if self._eof else f"{timeout} s passed"
                raise AssertionError(
                    f"{regex.pattern!r} not seen ({why}); unread screen:\n"
                    f"{text[self._cursor :]!r}\nwhole screen:\n{text!r}"
                )
            self._read(remaining)

    def drain(self, timeout: float = 0.0) -> None:
        """Read whatever the child has written, waiting at most `timeout` seconds."""
        self._read(timeout)

    def _read(self, timeout: float) -> None:
        if self._eof:
            return
        ready, _, _ = select.select([self._master], [], [], max(timeout, 0.0))
        if not ready:
            return
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every slave fd is closed
            data = b""
        if data:
            self._raw += data
        else:
            self._eof = True

    # -- the process ---------------------------------------------------------------

    def wait(self, timeout: float = 20.0) -> int:
        """The child's exit status once it exits, reading its output meanwhile so it
        never blocks on a full pty. Fails if it is still running after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.argv[:3]} still running after {timeout} s; screen:\n{self.screen!r}"
                )
            if self._eof:
                time.sleep(min(0.05, remaining))
            else:
                self._read(min(0.05, remaining))
        # Output written just before the exit is still in the pty.
        while not self._eof:
            before = len(self._raw)
            self._read(0.05)
            if len(self._raw) == before:
                break
        return self.proc.returncode

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Kill the child's process group (it leads its own session) and release the
        pty. Safe to call twice."""
        if self._master < 0:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        os.close(self._master)
        self._master = -1

    def survivors(self, timeout: float = 10.0) -> list[int]:
        """Pids still in the child's process group after `close`, once `timeout` has
        passed (killed members vanish when their parent reaps them). [] is success."""
        deadline = time.monotonic() + timeout
        while True:
            left = _group_members(self.proc.pid)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.05)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        state, _, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        # A zombie has ended already: only its parent's wait is missing.
        if int(pgrp) == pgid and state != "Z":
            found.append(int(entry))
    return found


def _take_controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # An ignored signal stays ignored across exec, and a shell keeps what it found
    # ignored for its jobs: xdist's workers ignore SIGINT, so ^C would reach nothing.
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _get_size(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    return rows, cols


def stty_size(term: Terminal) -> str:
    """`stty size` ("ROWS COLS") of the shell at the prompt of `term`.

    The answer carries a marker that the echo of the typed line lacks: a line typed
    before the shell prompts again is echoed at once by a terminal in canonical mode,
    so echo, prompt and output may interleave.
    """
    term.sendline("echo size=$(stty size)")
    return term.expect(r"size=(\d+ \d+)\n").group(1)


def stty_size_when(term: Terminal, want: str, timeout: float = 15.0) -> str:
    """`stty size` once it reports `want`, or its last report after `timeout`: a CLI
    forwards a SIGWINCH's new size to the daemon asynchronously."""
    deadline = time.monotonic() + timeout
    seen = stty_size(term)
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = stty_size(term)
    return seen
