"""etcd's v3 JSON gateway, decoded: pure functions over the JSON it sends.

The gateway is grpc-gateway over protobuf's JSON mapping, which shapes everything
here: bytes are base64, 64-bit integers are strings, and a field holding its default
value (0, "", false, an empty list) is left out altogether.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def num(value: Any) -> int:
    """A 64-bit integer as the gateway sends it: a string, or absent for 0."""
    return int(value) if value not in (None, "") else 0


def prefix_end(prefix: bytes) -> bytes:
    """The range end covering every key starting with `prefix` (etcd's GetPrefixRangeEnd):
    the prefix with its last byte below 0xff incremented and the rest dropped."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"  # all 0xff: to the end of the key space


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RangeResult:
    kvs: tuple[KeyValue, ...]
    revision: int  # the store's revision the range was read at


class EventType(StrEnum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchEvent:
    type: EventType
    kv: KeyValue  # for a DELETE only key and mod_revision are meaningful


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchMessage:
    revision: int
    events: tuple[WatchEvent, ...]
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0  # set when the asked start revision was compacted away
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    id: int
    name: str  # empty while an added member has not started yet
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    learner: bool = False


def decode_kv(raw: Mapping[str, Any]) -> KeyValue:
    return KeyValue(
        key=unb64(raw.get("key")),
        value=unb64(raw.get("value")),
        create_revision=num(raw.get("create_revision")),
        mod_revision=num(raw.get("mod_revision")),
        version=num(raw.get("version")),
        lease=num(raw.get("lease")),
    )


def header_revision(raw: Mapping[str, Any]) -> int:
    return num((raw.get("header") or {}).get("revision"))


def decode_range(raw: Mapping[str, Any]) -> RangeResult:
    return RangeResult(
        kvs=tuple(decode_kv(kv) for kv in raw.get("kvs") or ()),
        revision=header_revision(raw),
    )


def decode_keepalive(raw: Mapping[str, Any]) -> int | None:
    """The lease's remaining TTL, or None when the lease is gone: etcd then answers
    200 with a result that has no TTL (0 is a default value, hence omitted)."""
    result = raw.get("result") or {}
    ttl = num(result.get("TTL"))
    return ttl if ttl > 0 else None


def decode_watch(raw: Mapping[str, Any]) -> WatchMessage:
    """One line of the /v3/watch stream: {"result": WatchResponse} or {"error": ...}."""
    if "error" in raw:
        error = raw["error"] or {}
        return WatchMessage(
            revision=0, events=(), canceled=True, reason=str(error.get("message", error))
        )
    result = raw.get("result") or {}
    events = tuple(
        WatchEvent(type=EventType(e.get("type", "PUT")), kv=decode_kv(e.get("kv") or {}))
        for e in result.get("events") or ()
    )
    return WatchMessage(
        revision=header_revision(result),
        events=events,
        created=bool(result.get("created")),
        canceled=bool(result.get("canceled")),
        compact_revision=num(result.get("compact_revision")),
        reason=str(result.get("cancel_reason", "")),
    )


def decode_member(raw: Mapping[str, Any]) -> Member:
    return Member(
        id=num(raw.get("ID")),
        name=str(raw.get("name", "")),
        peer_urls=tuple(raw.get("peerURLs") or ()),
        client_urls=tuple(raw.get("clientURLs") or ()),
        learner=bool(raw.get("isLearner")),
    )


def decode_members(raw: Mapping[str, Any]) -> tuple[Member, ...]:
    return tuple(decode_member(m) for m in raw.get("members") or ())


# -- requests ------------------------------------------------------------------


def key_range(key: bytes, *, prefix: bool = False) -> dict[str, str]:
    out = {"key": b64(key)}
    if prefix:
        out["range_end"] = b64(prefix_end(key))
    return out


def put_op(key: bytes, value: bytes, lease: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        body["lease"] = str(lease)
    return {"request_put": body}


def delete_op(key: bytes) -> dict[str, Any]:
    return {"request_delete_range": {"key": b64(key)}}


def range_op(key: bytes) -> dict[str, Any]:
    return {"request_range": {"key": b64(key)}}


def compare_mod_revision(key: bytes, revision: int) -> dict[str, Any]:
    """True when `key`'s last modification is `revision` (0: the key does not exist)."""
    return {
        "key": b64(key),
        "target": "MOD",
        "result": "EQUAL",
        "mod_revision": str(revision),
    }


def compare_absent(key: bytes) -> dict[str, Any]:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
