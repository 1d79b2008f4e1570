"""docker-py's `attach_socket(ws=True)` (websocket-client) against pierd, unchanged.

docker-py builds the websocket URL by swapping its base URL's `http://` for `ws://`,
so it can only reach a daemon over TCP (with `unix://` it hands websocket-client an
`http+docker://` URL, which fails against Docker just the same). Pierd serves UNIX
sockets only, so the SDK reaches it here through a loopback TCP relay that copies
bytes both ways and nothing else.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import websocket

from pier_testing.api import inspect
from pier_testing.daemon import PierDaemon

LOOP = ["sh", "-c", 'while read l; do echo "got $l"; echo "err $l" >&2; done']


def _copy(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class _Relay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, unix_path: str) -> None:
        self.unix_path = unix_path
        super().__init__(("127.0.0.1", 0), _RelayHandler)


class _RelayHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Any = self.server
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(server.unix_path)
            back = threading.Thread(target=_copy, args=(upstream, self.request), daemon=True)
            back.start()
            _copy(self.request, upstream)
            back.join(60)
        finally:
            upstream.close()


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    relay = _Relay(str(pier.socket))
    thread = threading.Thread(target=relay.serve_forever, daemon=True)
    thread.start()
    host, port = relay.server_address[:2]
    c = docker.DockerClient(base_url=f"tcp://{host}:{port}", timeout=60)
    try:
        yield c
    finally:
        c.close()
        relay.shutdown()
        relay.server_close()
        thread.join(10)


def _close(ws: Any) -> None:
    ws.close()
    # After the server's close frame websocket-client only answers it; the socket is
    # closed by shutdown().
    ws.shutdown()


def _recv_until(ws: Any, wanted: bytes) -> bytes:
    """Data up to `wanted`; every message must be binary (API >= 1.28)."""
    seen = b""
    while wanted not in seen:
        opcode, data = ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY, (opcode, data, seen)
        seen += data
    return seen


def test_attach_socket_ws_exchanges_raw_lines(
    client: docker.DockerClient, pier: PierDaemon
) -> None:
    container = client.containers.run("busybox", LOOP, stdin_open=True, detach=True)
    ws = container.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1}, ws=True)
    try:
        ws.send("one\n")  # websocket-client sends a str as a text message
        ws.send_binary(b"two\n")
        # Raw bytes without the 8-byte stream headers; stderr was not asked for.
        assert _recv_until(ws, b"got two\n") == b"got one\ngot two\n"
    finally:
        _close(ws)
    assert inspect(pier.client, container.id or "")["State"]["Running"] is True
    container.kill()


def test_attach_socket_ws_ends_with_the_container(client: docker.DockerClient) -> None:
    container = client.containers.create(
        "busybox", ["sh", "-c", 'echo hello; read l; echo "bye $l"'], stdin_open=True
    )
    ws = container.attach_socket(
        params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}, ws=True
    )
    try:
        container.start()
        assert _recv_until(ws, b"hello\n") == b"hello\n"
        ws.send_binary(b"x\n")
        assert _recv_until(ws, b"bye x\n") == b"bye x\n"
        # The container's output has ended: the daemon closes with status 1000.
        assert ws.recv_data() == (websocket.ABNF.OPCODE_CLOSE, struct.pack("!H", 1000))
    finally:
        _close(ws)
    assert container.wait(timeout=30)["StatusCode"] == 0
