"""A hijacked connection hands its end back to aiohttp's bookkeeping: after any number
of attach-like sessions, the server tracks no connection and no request (each one
used to stay for the daemon's life, about 9 KB per attached `docker run`). Runs the
real server module and the real hijack on a temporary socket."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import web

from pier.api.hijack import Hijacked, HijackedClient, hijack
from pier.api.routing import Route
from pier.api.server import ApiServer, build_app

SESSIONS = 50


async def _echo(request: web.Request) -> web.StreamResponse:
    stream = hijack(request)
    client = HijackedClient(stream, raw=True)
    try:
        while data := await client.read():
            await client.send([(1, data)])
        await client.send([(1, b"bye")])
    finally:
        stream.close()
    return Hijacked()


def _session(path: Path, *, half_close: bool) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        got = b""
        while b"\r\n\r\n" not in got:  # the 101's head, then stdin (as the docker CLI)
            got += sock.recv(4096)
        sock.sendall(b"ping")
        while b"ping" not in got:
            got += sock.recv(4096)
        if not half_close:
            return got  # the client just leaves
        sock.shutdown(socket.SHUT_WR)  # stdin EOF: output still flows
        while chunk := sock.recv(4096):
            got += chunk
        return got


async def _until(predicate: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met within the timeout"
        await asyncio.sleep(0.01)


def test_hijacked_connections_are_released(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"

    async def main() -> None:
        server = ApiServer(app=build_app([Route("POST", "/echo", _echo)]), hosts=[f"unix://{path}"])
        await server.start()
        try:
            for i in range(SESSIONS):
                got = await asyncio.to_thread(_session, path, half_close=i % 2 == 0)
                assert got.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
                if i % 2 == 0:
                    assert got.endswith(b"pingbye")
            await _until(lambda: server.connections == 0 and server.requests == 0)
        finally:
            await server.close()

    asyncio.run(main())


def test_shutdown_closes_hijacked_connections(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"

    async def main() -> None:
        server = ApiServer(app=build_app([Route("POST", "/echo", _echo)]), hosts=[f"unix://{path}"])
        await server.start()
        sock = socket.socket(socket.AF_UNIX)
        try:
            await asyncio.to_thread(sock.connect, str(path))
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            )
            await _until(lambda: server.requests == 1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await server.close()
            assert loop.time() - started < 1.0
            sock.settimeout(5)
            rest = b""
            while chunk := await asyncio.to_thread(sock.recv, 4096):
                rest += chunk
            assert rest.startswith(b"HTTP/1.1 101")  # then the end: the server closed it
        finally:
            sock.close()

    asyncio.run(main())
