"""Attached sessions, as docker/cli's hijackedIOStreamer, and the `attach` command.

A session copies a hijacked stream both ways: the daemon's output to fds 1/2
(demultiplexed unless the container has a TTY), and stdin to the daemon until EOF,
then a half-close. With a TTY, stdin that is a terminal goes raw and the detach
sequence (ctrl-p ctrl-q, or --detach-keys) ends the session on the client side,
as docker does. `SignalGuard` forwards signals to the container (--sig-proxy),
keeps the container's console at the terminal's size (SIGWINCH) and forces the
exit on the third SIGINT/SIGTERM, as docker's main does.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # `signal` costs 4 ms (enum)
import _thread
import os
import sys

from pier.cli.common import container_path
from pier.cli.flags import STRING, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.cli.streams import OutputCopier
from pier.client.api import Client
from pier.client.errors import APIError, ClientError, ProtocolError
from pier.client.http import Hijacked, Response

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
NOT_A_TTY = "the input device is not a TTY"
_STDIN_READ = 32768
# moby/term's ASCII table: "ctrl-@" is 0, "ctrl-a" 1, ... "ctrl-_" 31.
_CTRL_KEYS = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def detach_key_bytes(spec: str | None) -> bytes:
    """moby/term ToBytes of a `--detach-keys` value; docker falls back to the default
    when the value does not parse (the daemon has refused such a value by then)."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        raw = key.encode()
        if len(raw) == 1:
            out += raw
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL_KEYS:
            out.append(_CTRL_KEYS.index(key[5]))
        elif key == "DEL":
            out.append(127)
        else:
            return DEFAULT_DETACH_KEYS
    return bytes(out)


class EscapeFilter:
    """moby/term's escape proxy: bytes that may start the detach sequence are held
    back; on a mismatch they are released and matching starts again at the NEXT
    byte (so ctrl-p ctrl-p ctrl-q does not detach, as with docker)."""

    __slots__ = ("keys", "pos")

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.pos = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to send, and whether the sequence is complete (the rest is dropped)."""
        keys = self.keys
        if not keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == keys[self.pos]:
                self.pos += 1
                if self.pos == len(keys):
                    return bytes(out), True
                continue
            if self.pos:
                out += keys[: self.pos]
                self.pos = 0
            out.append(byte)
        return bytes(out), False


class RawTerminal:
    """stdin in raw mode for a TTY session, restored once, from whichever thread ends first."""

    def __init__(self) -> None:
        self._saved: Any = None

    def enter(self) -> None:
        # docker's In.SetRawTerminal: only a terminal, and NORAW turns it off.
        if not os.isatty(0) or os.environ.get("NORAW"):
            return
        import termios
        import tty

        self._saved = termios.tcgetattr(0)
        # TCSANOW, not setraw's default TCSAFLUSH: what was typed before the switch
        # (ahead of the prompt) must reach the container, as with docker.
        tty.setraw(0, termios.TCSANOW)

    def restore(self) -> None:
        saved, self._saved = self._saved, None
        if saved is not None:
            import termios

            try:  # noqa: SIM105 - contextlib would cost an import on the start-up path
                termios.tcsetattr(0, termios.TCSADRAIN, saved)
            except termios.error:
                pass


class Resizer:
    """Keeps a container's (or an exec's) console at the size of our stdout terminal."""

    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path  # "/containers/{id}/resize" or "/exec/{id}/resize"

    @staticmethod
    def size() -> tuple[int, int]:
        """docker's Out.GetTtySize: (0, 0) when stdout is not a terminal."""
        try:
            size = os.get_terminal_size(1)
        except OSError:
            return 0, 0
        return size.lines, size.columns

    def resize_to(self, height: int, width: int) -> bool:
        if height == 0 and width == 0:
            return True
        try:
            self.client.post(self.path, h=height, w=width)
        except (ClientError, OSError):
            return False
        return True

    def resize(self) -> bool:
        return self.resize_to(*self.size())

    def start(self) -> None:
        """docker's initTtySize: resize now; if that fails, retry in the background
        (the process may not have its console yet), 10 times with a growing pause."""
        if self.resize():
            return
        _thread.start_new_thread(self._retry, ())

    def _retry(self) -> None:
        import time

        for attempt in range(10):
            time.sleep((attempt + 1) * 0.01)
            if self.resize():
                return
        sys.stderr.write("failed to resize tty, using default size\n")


class Interrupted(Exception):
    """A SIGINT/SIGTERM that ends the command (docker exec stops at the first one)."""


_TERMINATION = ("SIGINT", "SIGTERM")
# Never forwarded: uncatchable, or docker's ForwardAllSignals skips them (CHLD, PIPE,
# the Go runtime's URG), or they are faults of our own process rather than requests.
_NOT_FORWARDED = frozenset(
    ("SIGKILL", "SIGSTOP", "SIGCHLD", "SIGPIPE", "SIGURG", "SIGSEGV", "SIGBUS", "SIGFPE",
     "SIGILL")
)  # fmt: skip


_ALIASES = frozenset(("SIGCLD", "SIGIOT", "SIGPOLL"))
_NAMES: dict[int, str] = {}


def signal_names() -> dict[int, str]:
    """Number -> name ("SIGTERM") of the platform's signals, aliases left out."""
    if not _NAMES:
        for name in dir(_signal):
            if name.startswith("SIG") and not name.startswith("SIG_") and name not in _ALIASES:
                _NAMES[int(getattr(_signal, name))] = name
    return _NAMES


class SignalGuard:
    """Signal handling for the life of an attached command, restored by `restore()`.

    proxy: forward every catchable signal to container `cid` (POST kill, the name
        without "SIG" as docker sends it); the process itself keeps running.
    resizer: SIGWINCH resizes the console (too).
    interrupt: the first SIGINT/SIGTERM raises `Interrupted` (docker exec's way).
    Otherwise SIGINT/SIGTERM do not end the command, but the third one exits 1 with
    docker's message, the terminal restored first.
    """

    def __init__(
        self,
        client: Client,
        cid: str,
        *,
        proxy: bool,
        resizer: Resizer | None = None,
        interrupt: bool = False,
        terminal: RawTerminal | None = None,
    ) -> None:
        self.client = client
        self.cid = cid
        self.proxy = proxy
        self.resizer = resizer
        self.interrupt = interrupt
        self.terminal = terminal
        self._terminations = 0
        self._saved: list[tuple[int, Any]] = []

    def install(self) -> SignalGuard:
        wanted: set[int] = {_signal.SIGINT, _signal.SIGTERM}
        if self.proxy:
            wanted |= {n for n, name in signal_names().items() if name not in _NOT_FORWARDED}
        if self.resizer is not None:
            wanted.add(_signal.SIGWINCH)
        for sig in sorted(wanted):
            try:
                self._saved.append((sig, _signal.signal(sig, self._handle)))
            except (OSError, ValueError):
                continue
        return self

    def restore(self) -> None:
        for sig, handler in reversed(self._saved):
            _signal.signal(sig, handler)
        self._saved = []

    def _handle(self, signum: int, _frame: Any) -> None:
        name = signal_names().get(signum, "")
        if name == "SIGWINCH" and self.resizer is not None:
            self.resizer.resize()
        if self.proxy:
            self._forward(name)
        if name in _TERMINATION:
            if self.interrupt:
                raise Interrupted
            self._terminations += 1
            if self._terminations >= 3:
                self._force_exit()

    def _forward(self, name: str) -> None:
        # The container may be gone already; docker only logs this.
        try:  # noqa: SIM105 - contextlib would cost an import on the start-up path
            self.client.post(f"/containers/{self.cid}/kill", signal=name.removeprefix("SIG"))
        except (ClientError, OSError):
            pass

    def _force_exit(self) -> None:
        if self.terminal is not None:
            self.terminal.restore()
        try:  # noqa: SIM105 - contextlib would cost an import on the start-up path
            sys.stdout.flush()
        except OSError:
            pass
        sys.stderr.write("\ngot 3 SIGTERM/SIGINTs, forcefully exiting\n")
        sys.stderr.flush()
        os._exit(1)


class Streamer:
    """Copies one hijacked connection both ways until the output ends.

    `run()` returns True when the user typed the detach sequence (TTY only).
    """

    def __init__(
        self,
        conn: Hijacked,
        *,
        stdin: bool,
        tty: bool,
        detach_keys: str | None = None,
        terminal: RawTerminal | None = None,
    ) -> None:
        self.conn = conn
        self.stdin = stdin
        self.tty = tty
        self.terminal = terminal or RawTerminal()
        # Docker looks for the detach sequence only when a TTY session reads stdin.
        self.escape = EscapeFilter(detach_key_bytes(detach_keys) if stdin and tty else b"")
        self.detached = False

    def run(self) -> bool:
        if self.stdin and self.tty:
            self.terminal.enter()
        try:
            if self.stdin:
                _thread.start_new_thread(self._pump_stdin, ())
            self._copy_output()
        finally:
            self.terminal.restore()
        return self.detached

    def _copy_output(self) -> None:
        copier = OutputCopier(tty=self.tty)
        while True:
            try:
                data = self.conn.recv()
            except OSError:
                break
            if not data:
                break
            copier.feed(data)

    def _pump_stdin(self) -> None:
        conn = self.conn
        try:
            while True:
                try:
                    data = os.read(0, _STDIN_READ)
                except OSError:
                    break
                if not data:
                    break
                data, detach = self.escape.feed(data)
                if data:
                    conn.sendall(data)
                if detach:
                    self._detach()
                    return
        except OSError:
            pass  # the daemon closed the stream; the output side sees it too
        self.terminal.restore()
        # EOF on our stdin closes the container's (StdinOnce).
        conn.close_write()

    def _detach(self) -> None:
        self.detached = True
        self.terminal.restore()
        import _socket

        # Wakes the output loop in the main thread: its recv() returns b"".
        try:  # noqa: SIM105 - contextlib would cost an import on the start-up path
            self.conn.sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass


def hijack(client: Client, path: str, **kw: Any) -> Hijacked:
    """client.hijack with the docker CLI's wording when the daemon does not upgrade."""
    try:
        return client.hijack("POST", path, **kw)
    except APIError as exc:
        raise StatusError(1, f"unable to upgrade to tcp, received {exc.status}") from None
    except ProtocolError as exc:
        raise StatusError(1, str(exc)) from None


def attach_params(*, stdin: bool, detach_keys: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"stream": 1, "stdin": 1 if stdin else None, "stdout": 1,
                              "stderr": 1}  # fmt: skip
    if detach_keys:
        params["detachKeys"] = detach_keys
    return params


def wait_result(waiter: Response) -> dict[str, Any]:
    """The JSON of a /wait response opened earlier; StatusError on a daemon error."""
    from pier.client import jsonlite
    from pier.client.api import error_message

    try:
        data = waiter.read()
    except (ClientError, OSError) as exc:
        raise StatusError(1, f"error waiting for container: {exc}") from None
    if not 200 <= waiter.status < 300:
        raise StatusError(1, f"Error response from daemon: {error_message(waiter.status, data)}")
    result = jsonlite.loads(data) if data.strip() else {}
    return result if isinstance(result, dict) else {}


ATTACH = Spec(
    min_args=1,
    max_args=1,
    flags=(
        Flag(name="detach-keys", kind=STRING,
             help="Override the key sequence for detaching a container"),
        Flag(name="no-stdin", help="Do not attach STDIN"),
        Flag(name="sig-proxy", default=True, help="Proxy all received signals to the process"),
    ),
)  # fmt: skip


def _check_state(info: dict[str, Any]) -> None:
    state = info.get("State") or {}
    if not state.get("Running"):
        raise StatusError(1, "You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise StatusError(1, "You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise StatusError(
            1, "You cannot attach to a restarting container, wait until it is running"
        )


def attach(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(ATTACH, argv)
    client = ctx.client
    name = opts.args[0]
    # As docker: the wait goes out first, so an exit during the attach is not missed.
    waiter = client.open("POST", container_path(name, "wait"))
    try:
        return _attach(client, name, opts, waiter)
    finally:
        waiter.close()


def _attach(client: Client, name: str, opts: Any, waiter: Response) -> int:
    info = client.get_json(container_path(name, "json"))
    _check_state(info)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    if tty and not opts["no-stdin"] and not os.isatty(0):
        raise StatusError(1, NOT_A_TTY)
    cid = str(info["Id"])
    stdin = not opts["no-stdin"] and bool(config.get("OpenStdin"))
    keys = opts["detach-keys"]
    terminal = RawTerminal()
    resizer = Resizer(client, f"/containers/{cid}/resize") if tty and os.isatty(1) else None
    guard = SignalGuard(
        client, cid, proxy=bool(opts["sig-proxy"]) and not tty, resizer=resizer,
        terminal=terminal,
    ).install()  # fmt: skip
    try:
        conn = hijack(client, f"/containers/{cid}/attach",
                      params=attach_params(stdin=stdin, detach_keys=keys))  # fmt: skip
        try:
            # It may have stopped since the first look; the stream would then never end.
            _check_state(client.get_json(container_path(name, "json")))
            if resizer is not None:
                # One size off first, so that a shell redraws its prompt on re-attach.
                height, width = resizer.size()
                resizer.resize_to(height + 1, width + 1)
                resizer.start()
            streamer = Streamer(conn, stdin=stdin, tty=tty, detach_keys=keys, terminal=terminal)
            if streamer.run():
                raise StatusError(1, "read escape sequence")
        finally:
            conn.close()
        result = wait_result(waiter)
    finally:
        terminal.restore()
        guard.restore()
    error = (result.get("Error") or {}).get("Message")
    if error:
        raise StatusError(1, str(error))
    return int(result.get("StatusCode") or 0)
