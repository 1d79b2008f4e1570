"""The swarm's records in etcd: one JSON document per object under /pier/swarm/.

Documents are Docker's JSON (api/types/swarm) as stored, minus what is derived when
read: `Version.Index` is the key's etcd mod_revision, so an update naming a stale
version fails the compare of its transaction. Liveness and leadership are keys bound
to leases (`alive/<node>`, `leader`), gone when their holder stops renewing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pier.cluster.etcd import Etcd
from pier.cluster.etcdwire import WatchMessage
from pier.errors import Unavailable

PREFIX = b"/pier/swarm/"


@dataclass(frozen=True, slots=True, kw_only=True)
class Doc:
    id: str
    body: Mapping[str, Any]
    revision: int  # etcd mod_revision: Docker's Version.Index

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)


def _key(kind: str, oid: str = "") -> bytes:
    return PREFIX + f"{kind}/{oid}".encode()


def _doc(key: bytes, value: bytes, revision: int) -> Doc:
    return Doc(id=key.rsplit(b"/", 1)[1].decode(), body=json.loads(value), revision=revision)


def _dump(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class SwarmStore:
    def __init__(self, *, etcd: Etcd) -> None:
        self.etcd = etcd

    async def get(self, kind: str, oid: str) -> Doc | None:
        kv = await self.etcd.get(_key(kind, oid))
        return _doc(kv.key, kv.value, kv.mod_revision) if kv else None

    async def list(self, kind: str) -> list[Doc]:
        found = await self.etcd.range(_key(kind))
        return [_doc(kv.key, kv.value, kv.mod_revision) for kv in found.kvs]

    async def create(self, kind: str, oid: str, body: Mapping[str, Any]) -> bool:
        return await self.etcd.create(_key(kind, oid), _dump(body))

    async def put(self, kind: str, oid: str, body: Mapping[str, Any], *, lease: int = 0) -> int:
        return await self.etcd.put(_key(kind, oid), _dump(body), lease=lease)

    async def replace(
        self, kind: str, oid: str, body: Mapping[str, Any], *, revision: int
    ) -> int | None:
        """Write only if the document is still at `revision`; None otherwise."""
        return await self.etcd.replace(_key(kind, oid), _dump(body), mod_revision=revision)

    async def delete(self, kind: str, oid: str) -> None:
        await self.etcd.delete(_key(kind, oid))

    async def claim(self, kind: str, oid: str, body: Mapping[str, Any], *, lease: int) -> bool:
        """Create a lease-bound key unless someone holds it (leader election)."""
        return await self.etcd.create(_key(kind, oid), _dump(body), lease=lease)

    async def revision(self) -> int:
        return (await self.etcd.range(_key("cluster"))).revision

    def watch(self, *, start_revision: int) -> AsyncIterator[WatchMessage]:
        return self.etcd.watch(PREFIX, start_revision=start_revision)


async def mutate(
    store: SwarmStore,
    kind: str,
    oid: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> Doc | None:
    """Read-modify-write a document, again while someone else wrote it first.
    `change` returns the new body, or None to leave it as it is."""
    for _ in range(20):
        doc = await store.get(kind, oid)
        if doc is None:
            return None
        body = change(json.loads(json.dumps(doc.body)))
        if body is None:
            return doc
        revision = await store.replace(kind, oid, body, revision=doc.revision)
        if revision is not None:
            return Doc(id=oid, body=body, revision=revision)
    raise Unavailable(f"{kind} {oid} keeps changing; try again")
