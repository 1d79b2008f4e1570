"""A `POST /containers/{id}/wait` whose client leaves ends there (as dockerd's request
context does), so nothing stays per idle container after `docker run -d`: the route
on aiohttp's server with the real LifecycleRegistry behind it, on asyncio's loop and
on uvloop's (pierd's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import cast

import pytest
import uvloop
from aiohttp import web

from pier.api.routers.containers import Containers, routes
from pier.containers.lifecycle import LifecycleRegistry, WaitCondition, WaitResult

CID = "c" * 64


class _Backend:
    """Only what the wait route asks of the service."""

    def __init__(self, lifecycle: LifecycleRegistry) -> None:
        self.lifecycle = lifecycle

    def wait(self, ref: str, condition: str | None) -> Awaitable[WaitResult]:
        return self.lifecycle.waiter(ref, WaitCondition.parse(condition))


LOOPS = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def _run(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], scenario: Callable[..., Awaitable[None]]
) -> None:
    async def main() -> None:
        lifecycle = LifecycleRegistry()
        app = web.Application()
        for route in routes(cast(Containers, _Backend(lifecycle)), None, None):  # type: ignore[arg-type]
            app.router.add_route(route.method, route.path, route.handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            await scenario(lifecycle, port)
        finally:
            await runner.cleanup()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


async def _until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.01)


_REQUEST = (
    f"POST /containers/{CID}/wait?condition=next-exit HTTP/1.1\r\n"
    "Host: x\r\nContent-Length: 0\r\n\r\n"
).encode()


async def _headers(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return head


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_wait_ends_when_the_client_leaves(loop: str) -> None:
    async def scenario(lifecycle: LifecycleRegistry, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_REQUEST)
        await _headers(reader)
        assert lifecycle.waiting(CID) == 1
        writer.close()
        await writer.wait_closed()
        await _until(lambda: lifecycle.waiting(CID) == 0)
        # The exit that comes later finds nobody to answer, and nothing fails.
        lifecycle.exited(CID, WaitResult(status_code=3))

    _run(LOOPS[loop], scenario)


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_wait_answers_and_the_connection_serves_on(loop: str) -> None:
    async def scenario(lifecycle: LifecycleRegistry, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for code in (3, 4):  # twice on one kept-alive connection: aiohttp's protocol is back
            writer.write(_REQUEST)
            await _headers(reader)
            await _until(lambda: lifecycle.waiting(CID) == 1)
            lifecycle.exited(CID, WaitResult(status_code=code))
            size = int(await reader.readuntil(b"\r\n"), 16)
            body = json.loads(await reader.readexactly(size))
            assert body == {"StatusCode": code, "Error": None}
            assert await reader.readexactly(7) == b"\r\n0\r\n\r\n"
            assert lifecycle.waiting(CID) == 0
        writer.close()
        await writer.wait_closed()

    _run(LOOPS[loop], scenario)
