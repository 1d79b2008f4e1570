"""The embedded DNS server: one resolver in pierd answering at 127.0.0.11:53 inside
every container on a user-defined network.

A socket keeps the namespace it was made in, so for each such container a worker
thread enters its namespace, binds a UDP and a TCP socket there and comes back; the
event loop then serves them like any other socket. Names of containers on the
networks the asker shares (name, aliases, short ID, hostname: moby's DNSNames) are
answered from memory; other names are forwarded to the upstream resolvers from
pierd's own namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, cast

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSRecord

from pier.networking import netns

log = logging.getLogger(__name__)

DNS_ADDRESS = "127.0.0.11"
TTL = 600
FORWARD_TIMEOUT = 2.0

# (asker's container id, lowercased name) -> its addresses, or None when unknown
Lookup = Callable[[str, str], list[str] | None]
# (asker, IP) -> the name to answer a PTR query with
ReverseLookup = Callable[[str, str], str | None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer, cid: str) -> None:
        self._server = server
        self._cid = cid
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # Names Pier knows are answered at once, without a task or a full parse: the
        # common case, and the one a container waits on most.
        reply = self._server.quick(self._cid, data)
        if reply is not None:
            if self.transport is not None:
                self.transport.sendto(reply, addr)
            return
        self._server.spawn(self._answer(data, addr))

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self._server.answer(self._cid, data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    def __init__(
        self,
        *,
        lookup: Lookup,
        reverse: ReverseLookup,
        upstreams: Callable[[str], Sequence[str]],
        no_forward: Callable[[str], bool],
    ) -> None:
        self._lookup = lookup
        self._reverse = reverse
        self._upstreams = upstreams
        self._serving: dict[str, tuple[asyncio.DatagramTransport, asyncio.Server]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._no_forward = no_forward

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- per container ---------------------------------------------------------------

    async def serve(self, cid: str, ns: Path) -> None:
        if cid in self._serving:
            return
        udp, tcp = await asyncio.to_thread(_sockets_in, ns)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self, cid), sock=udp)
        server = await asyncio.start_server(lambda r, w: self._tcp_client(cid, r, w), sock=tcp)
        self._serving[cid] = (transport, server)

    async def stop(self, cid: str) -> None:
        entry = self._serving.pop(cid, None)
        if entry is None:
            return
        transport, server = entry
        transport.close()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()

    def serving(self, cid: str) -> bool:
        return cid in self._serving

    async def close(self) -> None:
        for cid in list(self._serving):
            await self.stop(cid)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _tcp_client(
        self, cid: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = await self.answer(cid, await reader.readexactly(size), tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    # -- answering ---------------------------------------------------------------------

    def quick(self, cid: str, data: bytes) -> bytes | None:
        """The answer to a plain A or AAAA question about a known name, built by hand;
        None for anything else (the full path answers it)."""
        question = _question(data)
        if question is None:
            return None
        name, qtype, end = question
        if qtype not in (_A, _AAAA):
            return None
        addresses = self._lookup(cid, name)
        if addresses is None:
            return None
        want_v6 = qtype == _AAAA
        records = [
            socket.inet_pton(socket.AF_INET6 if want_v6 else socket.AF_INET, a)
            for a in addresses
            if (":" in a) == want_v6
        ]
        flags = 0x8180 | (data[2] & 0x01) << 8  # response, recursion available, RD as asked
        header = struct.pack("!HHHHHH", struct.unpack("!H", data[:2])[0], flags, 1,
                             len(records), 0, 0)  # fmt: skip
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, qtype, 1, TTL, len(rdata)) + rdata for rdata in records
        )
        return header + data[12:end] + answers

    async def answer(self, cid: str, data: bytes, *, tcp: bool = False) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        if not request.questions:
            return None
        q = request.questions[0]
        name = str(q.qname).rstrip(".").lower()
        qtype = q.qtype
        if qtype == QTYPE.PTR:
            ip = _ptr_address(name)
            found_name = self._reverse(cid, ip) if ip else None
            if found_name is not None:
                reply = request.reply()
                reply.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(found_name + "."), ttl=TTL))
                return bytes(reply.pack())
        elif qtype in (QTYPE.A, QTYPE.AAAA, QTYPE.ANY):
            addresses = self._lookup(cid, name)
            if addresses is not None:
                reply = request.reply()
                for addr in addresses:
                    v6 = ":" in addr
                    if qtype == QTYPE.A and not v6:
                        reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(addr), ttl=TTL))
                    elif qtype == QTYPE.AAAA and v6:
                        reply.add_answer(RR(q.qname, QTYPE.AAAA, rdata=AAAA(addr), ttl=TTL))
                return bytes(reply.pack())
        if self._no_forward(cid):
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return bytes(reply.pack())
        return await self._forward(cid, request, data, tcp=tcp)

    async def _forward(self, cid: str, request: DNSRecord, data: bytes, *, tcp: bool) -> bytes:
        for server in self._upstreams(cid):
            try:
                if tcp:
                    return await asyncio.wait_for(_ask_tcp(server, data), FORWARD_TIMEOUT)
                return await asyncio.wait_for(_ask_udp(server, data), FORWARD_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                continue
        reply = request.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return bytes(reply.pack())


class _Once(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def _ask_udp(server: str, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        _Once, remote_addr=(server, 53), family=socket.AF_INET6 if ":" in server else 0
    )
    try:
        transport.sendto(data)
        return await proto.done
    finally:
        transport.close()


async def _ask_tcp(server: str, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server, 53)
    try:
        writer.write(struct.pack("!H", len(data)) + data)
        await writer.drain()
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        return await reader.readexactly(size)
    finally:
        writer.close()


def _ptr_address(name: str) -> str | None:
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(parts))))
    except ValueError:
        return None


def _sockets_in(ns: Path) -> tuple[socket.socket, socket.socket]:
    def make() -> tuple[socket.socket, socket.socket]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((DNS_ADDRESS, 53))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((DNS_ADDRESS, 53))
            tcp.listen(64)
        except BaseException:
            udp.close()
            tcp.close()
            raise
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp

    return netns.run_inside(ns, make)


def host_resolvers(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The host's nameservers, loopback ones included: pierd forwards from the host's
    namespace, where they answer."""
    try:
        text = path.read_text()
    except OSError:
        return []
    return [
        parts[1]
        for parts in (line.split() for line in text.splitlines())
        if len(parts) >= 2 and parts[0] == "nameserver"
    ]


_A, _AAAA = 1, 28


def _question(data: bytes) -> tuple[str, int, int] | None:
    """(lowercased name, qtype, end of the question) of a standard query with one
    question of class IN; None for anything else."""
    if len(data) < 17 or data[2] & 0xF8 or data[4:6] != b"\x00\x01":
        return None  # a response, another opcode, or not exactly one question
    labels = []
    at = 12
    while True:
        if at >= len(data):
            return None
        size = data[at]
        if size == 0:
            at += 1
            break
        if size & 0xC0:
            return None  # no compression in a question
        labels.append(data[at + 1 : at + 1 + size])
        at += 1 + size
    if at + 4 > len(data):
        return None
    qtype, qclass = struct.unpack("!HH", data[at : at + 4])
    if qclass != 1:
        return None
    try:
        name = b".".join(labels).decode("ascii").lower()
    except UnicodeDecodeError:
        return None
    return name, qtype, at + 4
