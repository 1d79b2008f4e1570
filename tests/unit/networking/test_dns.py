"""The embedded DNS server's answers: names of the asker's networks from memory (A,
AAAA empty, PTR), SERVFAIL for an internal-only container, other names forwarded to an
upstream (a fake one on loopback), UDP and TCP."""

from __future__ import annotations

import asyncio
import socket

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from pier.networking.dns import DnsServer


def _server(*, upstream: str = "", internal: bool = False) -> DnsServer:
    names = {"web": ["10.0.0.5"]}
    return DnsServer(
        lookup=lambda cid, name: names.get(name),
        reverse=lambda cid, ip: "web.net" if ip == "10.0.0.5" else None,
        upstreams=lambda cid: [upstream] if upstream else [],
        no_forward=lambda cid: internal,
    )


def _ask(server: DnsServer, name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    reply = asyncio.run(server.answer("c1", bytes(query.pack()), tcp=tcp))
    assert reply is not None
    return DNSRecord.parse(reply)


def test_local_names() -> None:
    server = _server()
    a = _ask(server, "WEB")
    assert [str(r.rdata) for r in a.rr] == ["10.0.0.5"] and a.header.rcode == RCODE.NOERROR
    assert _ask(server, "web", "AAAA").rr == []
    ptr = _ask(server, "5.0.0.10.in-addr.arpa", "PTR")
    assert str(ptr.rr[0].rdata) == "web.net."


def test_internal_only_containers_get_no_forwarding() -> None:
    assert _ask(_server(internal=True), "example.org").header.rcode == RCODE.SERVFAIL


def test_other_names_go_upstream() -> None:
    # The server asks upstreams on port 53: a loopback address of the test's own.
    fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for last in range(2, 250):
        try:
            fake.bind((f"127.54.0.{last}", 53))
            break
        except OSError:
            continue
    address = fake.getsockname()[0]

    async def scenario() -> DNSRecord:
        loop = asyncio.get_running_loop()
        fake.setblocking(False)

        async def serve_one() -> None:
            data, peer = await loop.sock_recvfrom(fake, 4096)
            q = DNSRecord.parse(data)
            r = q.reply()
            r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("198.51.100.1"), ttl=5))
            await loop.sock_sendto(fake, bytes(r.pack()), peer)

        serving = asyncio.create_task(serve_one())
        query = DNSRecord.question("far.example", "A")
        reply = await _server(upstream=address).answer("c1", bytes(query.pack()))
        await serving
        assert reply is not None
        return DNSRecord.parse(reply)

    try:
        answer = asyncio.run(scenario())
    finally:
        fake.close()
    assert [str(r.rdata) for r in answer.rr] == ["198.51.100.1"]


def test_the_quick_path_answers_as_the_full_one() -> None:
    server = _server()
    for name, qtype in (("web", "A"), ("Web", "AAAA")):
        query = DNSRecord.question(name, qtype)
        query.header.id = 4242
        quick = server.quick("c1", bytes(query.pack()))
        assert quick is not None
        parsed = DNSRecord.parse(quick)
        assert parsed.header.id == 4242 and parsed.header.rcode == RCODE.NOERROR
        assert parsed.header.qr == 1 and parsed.header.rd == 1
        assert [str(r.rdata) for r in parsed.rr] == [
            str(r.rdata) for r in _ask(server, name, qtype).rr
        ]
    assert server.quick("c1", bytes(DNSRecord.question("nope", "A").pack())) is None
    assert server.quick("c1", bytes(DNSRecord.question("web", "MX").pack())) is None
