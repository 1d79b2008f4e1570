"""A small HTTP/1.1 client over AF_UNIX, built on `_socket`.

`http.client` costs 46 ms to import and `socket` 10 ms (enum, selectors); the
builtin `_socket` costs nothing, and an Engine API client needs little: one
request per connection, bodies by Content-Length, chunked or until close, and
the hijack that turns a `101` answer into a raw bidirectional stream.
"""

from __future__ import annotations

import _socket

from pier.client.errors import DaemonUnreachable, ProtocolError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


_RECV = 65536
_MAX_HEAD = 1 << 20


class ChunkedDecoder:
    """Incremental decoder of a chunked body; feed bytes, get payload bytes."""

    __slots__ = ("_buf", "_remaining", "_state", "done")

    def __init__(self) -> None:
        self._buf = b""
        # "size": expecting a size line; "data": inside a chunk; "crlf": after a chunk;
        # "trailer": after the last chunk, until the empty line.
        self._state = "size"
        self._remaining = 0
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out: list[bytes] = []
        while not self.done:
            if self._state == "size":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    break
                line = self._buf[:end].split(b";", 1)[0].strip()
                self._buf = self._buf[end + 2 :]
                try:
                    self._remaining = int(line, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {line!r}") from None
                self._state = "data" if self._remaining else "trailer"
            elif self._state == "data":
                if not self._buf:
                    break
                piece = self._buf[: self._remaining]
                self._buf = self._buf[len(piece) :]
                self._remaining -= len(piece)
                out.append(piece)
                if not self._remaining:
                    self._state = "crlf"
            elif self._state == "crlf":
                if len(self._buf) < 2:
                    break
                self._buf = self._buf[2:]
                self._state = "size"
            else:
                end = self._buf.find(b"\r\n")
                if end < 0:
                    break
                line = self._buf[:end]
                self._buf = self._buf[end + 2 :]
                if not line:
                    self.done = True
        return b"".join(out)


def connect(path: str, host: str, timeout: float | None = None) -> _socket.socket:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    if timeout is not None:
        sock.settimeout(timeout)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
        sock.close()
        raise DaemonUnreachable(host) from exc
    except OSError:
        sock.close()
        raise
    return sock


class Response:
    """A response whose body is read lazily from the socket."""

    def __init__(
        self,
        sock: _socket.socket,
        status: int,
        reason: str,
        headers: dict[str, str],
        rest: bytes,
        *,
        no_body: bool = False,
    ) -> None:
        self.sock: _socket.socket | None = sock
        self.status = status
        self.reason = reason
        self.headers = headers
        self._rest = rest
        self._chunked: ChunkedDecoder | None = None
        self._length: int | None = None
        if no_body or status in (204, 304) or 100 <= status < 200:
            self._length = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = ChunkedDecoder()
        elif "content-length" in headers:
            self._length = int(headers["content-length"])

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raw(self) -> Iterator[bytes]:
        if self._rest:
            data, self._rest = self._rest, b""
            yield data
        while self.sock is not None:
            data = self.sock.recv(_RECV)
            if not data:
                return
            yield data

    def iter_chunks(self) -> Iterator[bytes]:
        """The body as it arrives."""
        try:
            if self._length is not None:
                left = self._length
                if left == 0:
                    return
                for data in self._raw():
                    piece = data[:left]
                    left -= len(piece)
                    yield piece
                    if left <= 0:
                        return
                raise ProtocolError("connection closed before the end of the body")
            if self._chunked is not None:
                for data in self._raw():
                    out = self._chunked.feed(data)
                    if out:
                        yield out
                    if self._chunked.done:
                        return
                raise ProtocolError("connection closed inside a chunked body")
            yield from self._raw()
        finally:
            self.close()

    def read(self) -> bytes:
        return b"".join(self.iter_chunks())

    def iter_lines(self) -> Iterator[bytes]:
        """Newline-delimited records (JSON progress and event streams)."""
        buf = b""
        for data in self.iter_chunks():
            buf += data
            while True:
                end = buf.find(b"\n")
                if end < 0:
                    break
                line, buf = buf[:end], buf[end + 1 :]
                if line.strip():
                    yield line
        if buf.strip():
            yield buf

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def read_head(sock: _socket.socket) -> tuple[int, str, dict[str, str], bytes]:
    """Status, reason, lower-cased headers and whatever arrived after them."""
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > _MAX_HEAD:
            raise ProtocolError("response head too large")
        data = sock.recv(_RECV)
        if not data:
            raise ProtocolError("connection closed before a response")
        buf += data
    head, rest = buf[:end].decode("latin-1"), buf[end + 4 :]
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ProtocolError(f"bad status line {lines[0]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"bad status line {lines[0]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return status, parts[2] if len(parts) > 2 else "", headers, rest


def send_request(
    sock: _socket.socket,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | Iterable[bytes] | None,
) -> None:
    lines = [f"{method} {target} HTTP/1.1", "Host: api.moby.localhost"]
    chunked = body is not None and not isinstance(body, bytes | bytearray)
    if isinstance(body, bytes | bytearray):
        headers = {**headers, "Content-Length": str(len(body))}
    elif chunked:
        headers = {**headers, "Transfer-Encoding": "chunked"}
    elif method in ("POST", "PUT"):
        headers = {**headers, "Content-Length": "0"}
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, bytes | bytearray):
        sock.sendall(head + body)
        return
    sock.sendall(head)
    if chunked:
        assert body is not None
        for piece in body:
            if piece:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")


class Hijacked:
    """The raw stream of an upgraded connection (attach, exec start)."""

    def __init__(self, sock: _socket.socket, initial: bytes) -> None:
        self.sock = sock
        self._initial = initial
        self._write_closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, size: int = _RECV) -> bytes:
        """Next bytes from the daemon; b"" at the end of the stream."""
        if self._initial:
            data, self._initial = self._initial, b""
            return data
        return self.sock.recv(size)

    def has_buffered(self) -> bool:
        return bool(self._initial)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: tells the daemon stdin is done while output keeps flowing."""
        if not self._write_closed:
            self._write_closed = True
            # contextlib would cost an import on the start-up path.
            try:  # noqa: SIM105
                self.sock.shutdown(_socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Hijacked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
