"""Decoding etcd's v3 JSON gateway: strings for 64-bit numbers, omitted defaults,
base64 keys, a keepalive answer without TTL."""

from __future__ import annotations

import pytest

from pier.cluster import etcdwire as wire


def test_numbers_are_strings_and_defaults_are_omitted() -> None:
    found = wire.decode_range(
        {
            "header": {"cluster_id": "370065199252857652", "revision": "12"},
            "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "9", "version": "3"}],
            "count": "1",
        }
    )
    assert found.revision == 12
    (kv,) = found.kvs
    assert kv.key == b"foo"
    assert kv.value == b""  # an empty value is left out
    assert (kv.create_revision, kv.mod_revision, kv.version, kv.lease) == (2, 9, 3, 0)


def test_an_empty_range_has_no_kvs_field() -> None:
    assert wire.decode_range({"header": {"revision": "3"}}).kvs == ()


def test_keepalive_without_ttl_means_the_lease_is_lost() -> None:
    assert wire.decode_keepalive({"result": {"ID": "7", "TTL": "3"}}) == 3
    assert wire.decode_keepalive({"result": {"ID": "7"}}) is None
    assert wire.decode_keepalive({}) is None


def test_watch_events_default_to_put() -> None:
    message = wire.decode_watch(
        {
            "result": {
                "header": {"revision": "5"},
                "events": [
                    {"kv": {"key": "YQ==", "value": "MQ==", "mod_revision": "4"}},
                    {"type": "DELETE", "kv": {"key": "Yg==", "mod_revision": "5"}},
                ],
            }
        }
    )
    assert [(e.type, e.kv.key, e.kv.value) for e in message.events] == [
        (wire.EventType.PUT, b"a", b"1"),
        (wire.EventType.DELETE, b"b", b""),
    ]
    assert message.revision == 5 and not message.created


def test_watch_created_compacted_and_errors() -> None:
    assert wire.decode_watch({"result": {"header": {}, "created": True}}).created
    compacted = wire.decode_watch({"result": {"compact_revision": "40", "canceled": True}})
    assert compacted.compact_revision == 40
    assert wire.decode_watch({"error": {"grpc_code": 14, "message": "no leader"}}).canceled


@pytest.mark.parametrize(
    ("prefix", "end"),
    [(b"/a/", b"/a0"), (b"a\xff", b"b"), (b"\xff\xff", b"\0"), (b"x", b"y")],
    ids=["slash", "carry", "all-ff", "plain"],
)
def test_prefix_end(prefix: bytes, end: bytes) -> None:
    assert wire.prefix_end(prefix) == end


def test_members() -> None:
    (m,) = wire.decode_members(
        {"members": [{"ID": "18446744073709551615", "peerURLs": ["unix://p-a:1"]}]}
    )
    assert m.id == 2**64 - 1  # beyond a double's precision: must stay exact
    assert m.name == "" and m.client_urls == () and m.peer_urls == ("unix://p-a:1",)


def test_requests_encode_keys_and_numbers() -> None:
    assert wire.put_op(b"k", b"v", 9) == {
        "request_put": {"key": "aw==", "value": "dg==", "lease": "9"}
    }
    assert wire.compare_mod_revision(b"k", 3)["mod_revision"] == "3"
    assert wire.key_range(b"/a/", prefix=True) == {"key": "L2Ev", "range_end": "L2Ew"}
