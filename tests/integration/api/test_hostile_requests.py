"""Hostile request bodies and parameters: 400s and 413s, never 500s, and no
unbounded daemon memory."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from pier_testing.daemon import PierDaemon


def _raw(pier: PierDaemon, head: bytes, body_chunks: int = 0, chunk: bytes = b"") -> bytes:
    """Send a request by hand (the body as it streams) and return the response head."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(pier.socket))
        sock.sendall(head)
        try:
            for _ in range(body_chunks):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered and stopped reading: what we want
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
        return reply


def _post(pier: PierDaemon, path: str, body: bytes) -> tuple[int, bytes]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(pier.socket))
        sock.sendall(head + body)
        reply = b""
        while data := sock.recv(65536):
            reply += data
    status = int(reply.split(b" ", 2)[1])
    return status, reply.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"Image": "busybox", "Labels": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        b'{"Image": "busy\xff\xfebox"}',
        b'{"Image": "busybox"',
    ],
    ids=["deep-array", "deep-in-object", "bad-utf8", "truncated"],
)
def test_bad_json_is_a_400(pier: PierDaemon, body: bytes) -> None:
    status, text = _post(pier, "/containers/create", body)
    assert status == 400, text
    assert b"invalid JSON" in text


def test_deep_filters_are_a_400(pier: PierDaemon) -> None:
    deep = quote("[" * 1200 + "]" * 1200)  # deeper than the parser recurses; fits 8 KiB
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(pier.socket))
        sock.sendall(
            f"GET /containers/json?filters={deep} HTTP/1.1\r\nHost: x\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        reply = b""
        while data := sock.recv(65536):
            reply += data
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert b"invalid filter" in reply


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_huge_body_is_a_413_without_the_memory(pier: PierDaemon) -> None:
    assert pier.proc is not None
    before = _rss_kib(pier.proc.pid)
    size = 100 * 1024 * 1024
    head = (
        f"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    reply = _raw(pier, head, body_chunks=size // 65536, chunk=b" " * 65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert _rss_kib(pier.proc.pid) - before < 32 * 1024
