"""The netlink sockets pierd uses, all owned by one thread.

pyroute2's synchronous `IPRoute` keeps an event loop, a socket and a message queue
per thread, and a fresh `IPRoute` per operation left about a kilobyte behind each
time (its own event loop, its selector); a long-lived one accumulates every
acknowledgement the kernel sends after a `get` request's answer (its queue for
unclaimed messages is never read). So one thread makes every netlink call: it holds
one socket in the host's namespace for the daemon's life, one event loop shared by
every socket it makes, and drains the unclaimed messages after each call. A socket
in a container's namespace is made there (the thread enters it; a socket keeps the
namespace it was made in) and closed when the caller is done with it.

`call` runs a function on that thread and waits (from any thread: the drivers are
blocking and called through asyncio.to_thread). The functions take the `IPRoute` to
use from `host` or `inside`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pier.errors import SystemFailure
from pier.networking import netns

T = TypeVar("T")


class Netlink:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pier-netlink")
        self._thread: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host: IPRoute | None = None
        self._closed = False

    # -- from any thread ---------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the netlink thread (at once when already on it)."""
        if threading.get_ident() == self._thread:
            return fn(*args)
        if self._closed:
            raise SystemFailure("netlink: the networking service is closed")
        return self._pool.submit(self._guarded, fn, *args).result()

    def close(self) -> None:
        """Blocking: closes the sockets and the loop on their thread, then ends it."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):
            self._pool.submit(self._close_here).result()
        self._pool.shutdown(wait=True)

    def backlog(self) -> int:
        """Messages the kernel sent that no request claimed, still queued on the host
        socket (0 after every call: see `_drain`)."""
        return self._pool.submit(lambda: _queued(self._host)).result()

    # -- on the netlink thread ---------------------------------------------------------

    def host(self) -> IPRoute:
        """The socket in the host's namespace (this thread's only)."""
        self._check_thread()
        if self._host is None:
            self._host = IPRoute(groups=0, use_event_loop=self._event_loop())
        return self._host

    @contextlib.contextmanager
    def inside(self, ns: Path | str) -> Iterator[IPRoute]:
        """A socket in the namespace at `ns`, closed at the end of the block. The
        thread stays in the namespace meanwhile, so sysctls and interface names the
        block reads are the namespace's."""
        self._check_thread()
        with netns.inside(ns):
            ipr = IPRoute(groups=0, use_event_loop=self._event_loop())
            try:
                yield ipr
            finally:
                ipr.close()
                self._settle()

    def _settle(self) -> None:
        """Run the callbacks a socket's close scheduled (the transport lets go of its
        socket in one): the shared loop runs only while a call waits on it."""
        if self._loop is not None:
            self._loop.run_until_complete(asyncio.sleep(0))

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def _check_thread(self) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError("netlink sockets are used on the netlink thread only")

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        self._thread = threading.get_ident()
        try:
            return fn(*args)
        except NetlinkError as exc:
            raise SystemFailure(f"netlink: {exc}") from exc
        finally:
            _drain(self._host)

    def _close_here(self) -> None:
        self._thread = threading.get_ident()
        if self._host is not None:
            self._host.close()
            self._host = None
            self._settle()
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def _root_queue(ipr: IPRoute | None) -> Any:
    if ipr is None:
        return None
    local = getattr(ipr.asyncore, "local", None)
    queue = getattr(local, "msg_queue", None)
    return getattr(queue, "root", None)


def _queued(ipr: IPRoute | None) -> int:
    root = _root_queue(ipr)
    return int(root.qsize()) if root is not None else 0


def _drain(ipr: IPRoute | None) -> None:
    """pyroute2 puts every message no pending request claims (the acknowledgement a
    `get` request's answer is followed by) in a queue nothing reads: empty it."""
    root = _root_queue(ipr)
    while root is not None and not root.empty():
        root.get_nowait()
        root.task_done()
