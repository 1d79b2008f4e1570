"""An attached container session: hijacked stream, stdin pump, TTY and signals."""

from __future__ import annotations

import contextlib
import os

from pier.cli.streams import OutputCopier
from pier.client.api import Client
from pier.client.errors import ClientError
from pier.client.http import Hijacked

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class AttachSession:
    """Attach before start, then `run()` copies both ways until the output ends.

    With a TTY the local terminal goes raw for the session (restored on every
    exit path) and the container's console follows the terminal's size.
    """

    def __init__(
        self,
        client: Client,
        cid: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> None:
        self.client = client
        self.cid = cid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.conn: Hijacked | None = None
        self._saved_term: Any = None

    def attach(self) -> None:
        params = {"stream": 1, "stdin": self.stdin or None, "stdout": self.stdout or None,
                  "stderr": self.stderr or None}  # fmt: skip
        self.conn = self.client.hijack("POST", f"/containers/{self.cid}/attach", params=params)

    def resize(self) -> None:
        try:
            size = os.get_terminal_size(1 if os.isatty(1) else 0)
        except OSError:
            return
        # The container may already be gone; docker ignores this too.
        with contextlib.suppress(ClientError, OSError):
            self.client.post(f"/containers/{self.cid}/resize", h=size.lines, w=size.columns)

    def _raw_terminal(self) -> None:
        if not (self.tty and self.stdin and os.isatty(0)):
            return
        import termios
        import tty

        self._saved_term = termios.tcgetattr(0)
        tty.setraw(0)

    def _restore_terminal(self) -> None:
        if self._saved_term is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self._saved_term)
            self._saved_term = None

    def _pump_stdin(self) -> None:
        conn = self.conn
        assert conn is not None
        try:
            while True:
                data = os.read(0, 32768)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        finally:
            # EOF on our stdin closes the container's (StdinOnce).
            conn.close_write()

    def _install_signals(self) -> list[tuple[int, Any]]:
        import signal

        saved: list[tuple[int, Any]] = []

        def forward(signum: int, _frame: Any) -> None:
            name = signal.Signals(signum).name
            with contextlib.suppress(ClientError, OSError):
                self.client.post(f"/containers/{self.cid}/kill", signal=name)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            saved.append((sig, signal.signal(sig, forward)))
        return saved

    def run(self, *, proxy_signals: bool) -> int:
        conn = self.conn
        assert conn is not None
        saved_signals: list[tuple[int, Any]] = []
        if proxy_signals:
            saved_signals = self._install_signals()
        try:
            self._raw_terminal()
            if self.tty:
                self.resize()
                if os.isatty(1):
                    import signal

                    signal.signal(signal.SIGWINCH, lambda *_: self.resize())
            if self.stdin:
                import threading

                threading.Thread(target=self._pump_stdin, daemon=True).start()
            copier = OutputCopier(tty=self.tty)
            while True:
                try:
                    data = conn.recv()
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                copier.feed(data)
        finally:
            self._restore_terminal()
            if saved_signals:
                import signal

                for sig, handler in saved_signals:
                    signal.signal(sig, handler)
        return 0

    def close(self) -> None:
        self._restore_terminal()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
