"""A small async etcd v3 client over the JSON gateway (aiohttp).

Endpoints are `unix:///abs/path` (a member's client socket) or `http://host:port`.
A request that cannot reach a member, or reaches one without a leader, is retried on
the next endpoint; the endpoint that answered last is tried first next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from pier.cluster import etcdwire as wire
from pier.cluster.etcdwire import KeyValue, Member, RangeResult, WatchMessage
from pier.errors import SystemFailure, Unavailable

log = logging.getLogger(__name__)

# Errors of a member that another member may not have (grpc codes Unavailable and
# DeadlineExceeded: no leader, leader changed, stopping).
_RETRY_CODES = {4, 14}


class EtcdError(SystemFailure):
    """etcd refused a request (not a transport failure)."""


class Compacted(EtcdError):
    """A revision asked for is older than etcd's compaction kept."""


class WatchCompacted(Compacted):
    """The revision a watch asked to start from is compacted away: read again."""


# etcd's ErrCompacted (mvcc), grpc code OutOfRange, as the gateway words it.
_COMPACTED = "required revision has been compacted"


class Etcd:
    def __init__(self, *, endpoints: Sequence[str], timeout: float = 5.0) -> None:
        if not endpoints:
            raise Unavailable("no etcd endpoint configured")
        self._endpoints = list(endpoints)
        self._timeout = timeout
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._current = 0

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    def set_endpoints(self, endpoints: Sequence[str]) -> None:
        """Learn the cluster's members anew (a manager joined or left)."""
        if endpoints and list(endpoints) != self._endpoints:
            current = self._endpoints[self._current % len(self._endpoints)]
            self._endpoints = list(endpoints)
            self._current = self._endpoints.index(current) if current in endpoints else 0

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()

    def _session(self, endpoint: str) -> tuple[aiohttp.ClientSession, str]:
        base = "http://etcd" if endpoint.startswith("unix://") else endpoint.rstrip("/")
        session = self._sessions.get(endpoint)
        if session is None or session.closed:
            connector = (
                aiohttp.UnixConnector(path=endpoint[len("unix://") :])
                if endpoint.startswith("unix://")
                else aiohttp.TCPConnector()
            )
            session = aiohttp.ClientSession(connector=connector)
            self._sessions[endpoint] = session
        return session, base

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one gateway request, failing over across endpoints."""
        last: Exception | None = None
        n = len(self._endpoints)
        for attempt in range(n):
            index = (self._current + attempt) % n
            endpoint = self._endpoints[index]
            session, base = self._session(endpoint)
            try:
                async with session.post(
                    base + path,
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as resp:
                    answer = await resp.json(content_type=None)
            except (aiohttp.ClientError, OSError, TimeoutError, json.JSONDecodeError) as exc:
                last = exc
                continue
            if not isinstance(answer, dict):
                last = EtcdError(f"etcd answered {answer!r}")
                continue
            if resp.status != 200:
                code = int(answer.get("code", 0))
                message = str(answer.get("message") or answer.get("error") or resp.status)
                if code in _RETRY_CODES:
                    last = Unavailable(f"etcd: {message}")
                    continue
                if _COMPACTED in message:
                    raise Compacted(f"etcd: {message} (a read older than etcd keeps)")
                raise EtcdError(f"etcd: {message}")
            self._current = index
            return answer
        raise Unavailable(f"the cluster store is unreachable: {last!r}")

    # -- key-value -----------------------------------------------------------

    async def get(self, key: bytes) -> KeyValue | None:
        found = wire.decode_range(await self.call("/v3/kv/range", wire.key_range(key)))
        return found.kvs[0] if found.kvs else None

    async def range(self, prefix: bytes) -> RangeResult:
        return wire.decode_range(
            await self.call("/v3/kv/range", wire.key_range(prefix, prefix=True))
        )

    async def put(self, key: bytes, value: bytes, *, lease: int = 0) -> int:
        body = wire.put_op(key, value, lease)["request_put"]
        return wire.header_revision(await self.call("/v3/kv/put", body))

    async def delete(self, key: bytes, *, prefix: bool = False) -> int:
        answer = await self.call("/v3/kv/deleterange", wire.key_range(key, prefix=prefix))
        return wire.num(answer.get("deleted"))

    async def txn(
        self,
        compare: list[dict[str, Any]],
        success: list[dict[str, Any]],
        failure: list[dict[str, Any]] | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"compare": compare, "success": success}
        if failure:
            body["failure"] = failure
        answer = await self.call("/v3/kv/txn", body)
        return bool(answer.get("succeeded")), answer

    async def create(self, key: bytes, value: bytes, *, lease: int = 0) -> bool:
        """Put `key` only if it does not exist."""
        ok, _ = await self.txn([wire.compare_absent(key)], [wire.put_op(key, value, lease)])
        return ok

    async def replace(self, key: bytes, value: bytes, *, mod_revision: int) -> int | None:
        """Put `key` only if its last change is `mod_revision`; the new revision, or
        None when someone changed it first."""
        ok, answer = await self.txn(
            [wire.compare_mod_revision(key, mod_revision)], [wire.put_op(key, value)]
        )
        return wire.header_revision(answer) if ok else None

    # -- leases ----------------------------------------------------------------

    async def grant(self, ttl: int) -> int:
        answer = await self.call("/v3/lease/grant", {"TTL": str(ttl)})
        return wire.num(answer.get("ID"))

    async def keepalive(self, lease: int) -> int | None:
        """Renew once; the remaining TTL, or None when the lease has expired."""
        return wire.decode_keepalive(await self.call("/v3/lease/keepalive", {"ID": str(lease)}))

    async def revoke(self, lease: int) -> None:
        with contextlib.suppress(EtcdError):  # already gone
            await self.call("/v3/lease/revoke", {"ID": str(lease)})

    # -- members ---------------------------------------------------------------

    async def members(self) -> tuple[Member, ...]:
        return wire.decode_members(await self.call("/v3/cluster/member/list", {}))

    async def member_add(self, peer_urls: Sequence[str]) -> tuple[Member, tuple[Member, ...]]:
        answer = await self.call("/v3/cluster/member/add", {"peerURLs": list(peer_urls)})
        return wire.decode_member(answer.get("member") or {}), wire.decode_members(answer)

    async def member_remove(self, member_id: int) -> None:
        await self.call("/v3/cluster/member/remove", {"ID": str(member_id)})

    async def status(self) -> dict[str, Any]:
        return await self.call("/v3/maintenance/status", {})

    # -- watch -----------------------------------------------------------------

    async def watch(self, prefix: bytes, *, start_revision: int) -> AsyncIterator[WatchMessage]:
        """Changes under `prefix` from `start_revision` on, for ever: a broken stream is
        opened again (on another member if need be) from the revision after the last
        one seen. Raises WatchCompacted when that revision is no longer kept."""
        next_revision = start_revision
        request = {
            "create_request": {
                **wire.key_range(prefix, prefix=True),
                "start_revision": "0",
                "progress_notify": True,
            }
        }
        failures = 0
        while True:
            endpoint = self._endpoints[self._current % len(self._endpoints)]
            session, base = self._session(endpoint)
            request["create_request"]["start_revision"] = str(next_revision)
            try:
                async with session.post(
                    base + "/v3/watch",
                    json=request,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout),
                ) as resp:
                    async for line in resp.content:
                        if not line.strip():
                            continue
                        message = wire.decode_watch(json.loads(line))
                        if message.compact_revision:
                            raise WatchCompacted(
                                f"revision {next_revision} compacted "
                                f"(oldest {message.compact_revision})"
                            )
                        if message.canceled:
                            raise Unavailable(f"etcd watch canceled: {message.reason}")
                        failures = 0
                        if message.events:
                            next_revision = message.events[-1].kv.mod_revision + 1
                            yield message
                        elif not message.created and message.revision >= next_revision:
                            # A progress notification: nothing under the prefix up to
                            # there, so a stream opened again starts after it, not at a
                            # revision that compaction may have taken since.
                            next_revision = message.revision + 1
            except (aiohttp.ClientError, OSError, TimeoutError, Unavailable) as exc:
                log.debug("etcd watch on %s broke: %s", endpoint, exc)
            failures += 1
            self._current += 1
            # Every member was tried in a row: give the cluster a moment (an election).
            await asyncio.sleep(0.05 if failures < len(self._endpoints) else 0.3)
