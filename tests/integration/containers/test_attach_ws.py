"""GET /containers/{id}/attach/ws: attach over a websocket, spoken to with aiohttp's
client over pierd's UNIX socket. As Docker: raw output (never the 8-byte frames),
binary messages from API 1.28 on, stdin from every data message, a close frame (1000)
when the output ends, no Origin check, errors before the upgrade."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from pier_testing.api import create, inspect, logs, wait, wait_for
from pier_testing.daemon import PierDaemon

LOOP = ["sh", "-c", 'while read l; do echo "got $l"; done']
# conmon reads stdout and stderr from two pipes: their order in the log is not the
# order of the writes, so tests of stream selection read until the container ends.
BOTH = ["sh", "-c", 'read l; echo "err $l" >&2; echo "got $l"']
ALL = {"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1}
Ws = aiohttp.ClientWebSocketResponse


def _run(pier: PierDaemon, body: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        connector = aiohttp.UnixConnector(path=str(pier.socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.wait_for(body(session), 60)

    asyncio.run(main())


def _url(cid: str, params: dict[str, Any], version: str = "v1.47") -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"http://pier/{version}/containers/{cid}/attach/ws?{query}"


@asynccontextmanager
async def _attach(
    session: aiohttp.ClientSession,
    cid: str,
    params: dict[str, Any],
    version: str = "v1.47",
    **kw: Any,
) -> AsyncIterator[Ws]:
    async with session.ws_connect(_url(cid, params, version), **kw) as ws:
        yield ws


async def _until(
    ws: Ws, wanted: bytes, kind: aiohttp.WSMsgType = aiohttp.WSMsgType.BINARY
) -> bytes:
    """Output up to `wanted`; each message must be of `kind`."""
    seen = b""
    while wanted not in seen:
        msg = await ws.receive()
        assert msg.type == kind, (msg, seen)
        seen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
    return seen


async def _rest(ws: Ws) -> tuple[bytes, aiohttp.WSMessage]:
    """Output until the server ends the websocket, and the message that ended it."""
    seen = b""
    while True:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.BINARY:
            return seen, msg
        seen += msg.data


def _start_loop(pier: PierDaemon, **config: Any) -> str:
    cid = create(pier.client, LOOP, OpenStdin=True, **config)
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: inspect(pier.client, cid)["State"]["Running"])
    return cid


def test_lines_go_both_ways_raw_and_binary(pier: PierDaemon) -> None:
    cid = _start_loop(pier)

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, ALL) as ws:
            await ws.send_bytes(b"one\n")
            assert await _until(ws, b"got one\n") == b"got one\n"  # no 8-byte header
            await ws.send_str("two\n")  # text messages are stdin too
            assert await _until(ws, b"got two\n") == b"got two\n"

    _run(pier, body)


def test_logs_replays_earlier_output(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "echo before; " + LOOP[2]], OpenStdin=True)
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: logs(pier.client, cid)[0] == b"before\n")

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, {**ALL, "logs": 1}) as ws:
            assert await _until(ws, b"before\n") == b"before\n"
            await ws.send_bytes(b"x\n")
            assert await _until(ws, b"got x\n") == b"got x\n"

    _run(pier, body)


def test_logs_without_stream_replays_and_closes(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "echo one; echo two >&2"])
    pier.client.post(f"/containers/{cid}/start")
    assert wait(pier.client, cid) == 0

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, {"logs": 1, "stdout": 1}) as ws:
            out, end = await _rest(ws)
            assert (out, end.type, end.data) == (b"one\n", aiohttp.WSMsgType.CLOSE, 1000)

    _run(pier, body)


def _both_streams(pier: PierDaemon, params: dict[str, Any], version: str) -> bytes:
    cid = create(pier.client, BOTH, OpenStdin=True)
    pier.client.post(f"/containers/{cid}/start")
    out = b""

    async def body(session: aiohttp.ClientSession) -> None:
        nonlocal out
        async with _attach(session, cid, params, version=version) as ws:
            await ws.send_bytes(b"a\n")
            out, end = await _rest(ws)
            assert (end.type, end.data) == (aiohttp.WSMsgType.CLOSE, 1000)

    _run(pier, body)
    return out


def test_stdout_only(pier: PierDaemon) -> None:
    out = _both_streams(pier, {"stream": 1, "stdin": 1, "stdout": 1}, "v1.47")
    assert out == b"got a\n"


def test_stderr_only(pier: PierDaemon) -> None:
    out = _both_streams(pier, {"stream": 1, "stdin": 1, "stderr": 1}, "v1.47")
    assert out == b"err a\n"


def test_streams_are_all_on_below_api_1_42(pier: PierDaemon) -> None:
    # moby reads stdin/stdout/stderr for websockets only from API 1.42 on.
    out = _both_streams(pier, {"stream": 1, "stdout": 1}, "v1.41")
    assert sorted(out.splitlines()) == [b"err a", b"got a"]


def test_text_messages_below_api_1_28(pier: PierDaemon) -> None:
    cid = _start_loop(pier)

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, ALL, version="v1.27") as ws:
            await ws.send_str("a\n")
            assert await _until(ws, b"got a\n", aiohttp.WSMsgType.TEXT) == b"got a\n"

    _run(pier, body)


def test_closing_the_websocket_leaves_the_container_running(pier: PierDaemon) -> None:
    cid = _start_loop(pier)

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, ALL) as ws:
            await ws.send_bytes(b"first\n")
            await _until(ws, b"got first\n")
            await ws.close()
            assert ws.close_code == 1000  # the server answered the close
        assert inspect(pier.client, cid)["State"]["Running"] is True
        # Without StdinOnce the container's stdin stays open for the next client.
        async with _attach(session, cid, ALL) as ws:
            await ws.send_bytes(b"second\n")
            assert await _until(ws, b"got second\n") == b"got second\n"

    _run(pier, body)
    assert inspect(pier.client, cid)["State"]["Running"] is True


def test_the_end_of_the_output_closes_the_websocket(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", 'read l; echo "bye $l"; exit 3'], OpenStdin=True)
    pier.client.post(f"/containers/{cid}/start")

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, ALL) as ws:
            await ws.send_bytes(b"x\n")
            out, end = await _rest(ws)
            assert (out, end.type, end.data) == (b"bye x\n", aiohttp.WSMsgType.CLOSE, 1000)

    _run(pier, body)
    assert wait(pier.client, cid) == 3


def test_attach_before_start_sees_all_output(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", 'echo started; read l; echo "got $l"'], OpenStdin=True)

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, ALL) as ws:
            await asyncio.to_thread(pier.client.post, f"/containers/{cid}/start")
            await ws.send_bytes(b"z\n")
            out, end = await _rest(ws)
            assert (out, end.data) == (b"started\ngot z\n", 1000)

    _run(pier, body)


def test_close_after_stdin_ends_a_stdin_once_container(pier: PierDaemon) -> None:
    # Binary stdin, ctrl-p ctrl-q included (data without a TTY), sent in many messages;
    # the client's close is the end of stdin: md5sum sees all of it, then EOF.
    data = os.urandom(1_000_000) + b"\x10\x11" + os.urandom(1000)
    cid = create(pier.client, ["md5sum"], OpenStdin=True, StdinOnce=True)
    pier.client.post(f"/containers/{cid}/start")

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, ALL) as ws:
            for start in range(0, len(data), 65536):
                await ws.send_bytes(data[start : start + 65536])
            await ws.close()

    _run(pier, body)
    assert wait(pier.client, cid) == 0
    assert logs(pier.client, cid) == (f"{hashlib.md5(data).hexdigest()}  -\n".encode(), b"")


def test_tty_output_and_detach_keys(pier: PierDaemon) -> None:
    cid = _start_loop(pier, Tty=True)

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, {**ALL, "detachKeys": "ctrl-x,x"}) as ws:
            await ws.send_bytes(b"t\n")
            assert await _until(ws, b"got t\r\n") == b"t\r\ngot t\r\n"
            await ws.send_bytes(b"\x18x")
            out, end = await _rest(ws)
            assert (out, end.type, end.data) == (b"", aiohttp.WSMsgType.CLOSE, 1000)

    _run(pier, body)
    assert inspect(pier.client, cid)["State"]["Running"] is True


def test_origin_is_not_checked_and_one_subprotocol_is_echoed(pier: PierDaemon) -> None:
    cid = _start_loop(pier)

    async def body(session: aiohttp.ClientSession) -> None:
        headers = {"Origin": "http://elsewhere.example"}
        async with _attach(session, cid, ALL, headers=headers, protocols=("chat",)) as ws:
            assert ws.protocol == "chat"
            await ws.send_bytes(b"o\n")
            assert await _until(ws, b"got o\n") == b"got o\n"

    _run(pier, body)


def test_unknown_container_is_a_404_before_the_upgrade(pier: PierDaemon) -> None:
    async def body(session: aiohttp.ClientSession) -> None:
        with pytest.raises(aiohttp.WSServerHandshakeError) as failed:
            async with _attach(session, "nosuch", ALL):
                pass
        assert failed.value.status == 404
        async with session.get(_url("nosuch", ALL)) as resp:
            assert (resp.status, await resp.json()) == (
                404,
                {"message": "No such container: nosuch"},
            )

    _run(pier, body)


def test_a_request_without_upgrade_is_a_400(pier: PierDaemon) -> None:
    cid = _start_loop(pier)

    async def body(session: aiohttp.ClientSession) -> None:
        async with session.get(_url(cid, ALL)) as resp:
            assert (resp.status, await resp.text()) == (400, "not websocket protocol")

    _run(pier, body)
    assert inspect(pier.client, cid)["State"]["Running"] is True


def test_stdin_sent_before_the_close_all_arrives_while_output_flows(pier: PierDaemon) -> None:
    # The container reads stdin slowly and reports each read: output that meets the
    # closed websocket must not cut off the stdin still on its way in. (Its output
    # stays small: conmon also copies the output into the attach socket that carries
    # stdin, which the attach session does not read.)
    script = 'while n=$(dd bs=65536 count=1 2>/dev/null | wc -c); [ "$n" -gt 0 ]; do echo $n; done'
    data = os.urandom(2_000_000)
    cid = create(pier.client, ["sh", "-c", script], OpenStdin=True, StdinOnce=True)
    pier.client.post(f"/containers/{cid}/start")

    async def body(session: aiohttp.ClientSession) -> None:
        async with _attach(session, cid, ALL) as ws:
            for start in range(0, len(data), 65536):
                await ws.send_bytes(data[start : start + 65536])
            await ws.close()

    _run(pier, body)
    assert wait(pier.client, cid) == 0
    out, err = logs(pier.client, cid)
    assert (sum(int(n) for n in out.split()), err) == (len(data), b"")
